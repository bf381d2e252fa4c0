"""One self-contained HTML report: system facts, tables and inline SVG plots; no network needed."""

from __future__ import annotations

import datetime
import html

from .. import __version__, stats
from ..checks import system_warnings
from ..compare import compare
from ..result import FIGURES, config_label, group_by_config
from ..resultfile import ResultFile
from . import plot
from .compare_table import spread, verdict
from .facts import fact_rows
from ..profile import Profile
from . import flamegraph
from .summary import (LATENCY_HEADERS, PROFILE_HEADERS, faults_per_page_text, folio_rows, format_cv,
                      format_interval, latency_rows, profile_rows, scaling_text)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 2em; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.warning { color: #8a4b00; } .note { color: #444; } figure { margin: 1em 0; } svg { max-width: 100%; height: auto; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _e(value) -> str:
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    head = "".join(f'<th class="{"text" if i < text_columns else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"text" if i < text_columns else ""}">{_e(cell)}</td>'
                         for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _statistics_rows(result_file: ResultFile) -> list[list[str]]:
    rows = []
    for runs in group_by_config(list(result_file.results)).values():
        spec = runs[0].spec
        wall, cpu = (stats.summarize([figure.value(run) for run in runs]) for figure in FIGURES)
        faults = stats.summarize([run.faults_per_page for run in runs])
        rows.append([config_label(spec, with_threads=False), str(spec.threads), str(len(runs)),
                     f"{wall.median:,.0f}", format_interval(wall), format_cv(wall),
                     f"{cpu.median:,.0f}", format_interval(cpu), format_cv(cpu),
                     faults_per_page_text(faults.median)])
    return rows


def _facts_section(files: list[ResultFile]) -> str:
    """Returns the system facts once: those every file shares, then a column per file for
    those that differ."""
    columns = [fact_rows(result_file.system) for result_file in files]
    facts = [[label, *(value for _, value in row)] for label, *row in
             zip([label for label, _ in columns[0]], *columns)]
    shared = [fact[:2] for fact in facts if len(set(fact[1:])) == 1]
    differing = [fact for fact in facts if len(set(fact[1:])) > 1]
    parts = ["<h2>System</h2>", _table(["fact", "value"], shared, text_columns=2)]
    if differing:
        parts += ["<p>Facts that differ between the files:</p>",
                  _table(["fact", *[f.path for f in files]], differing, text_columns=1 + len(files))]
    warnings = dict.fromkeys(w for f in files for w in system_warnings(f.system))
    parts += [f'<p class="warning">warning: {_e(w)}</p>' for w in warnings]
    return "\n".join(parts)


def _plot(files: list[ResultFile]) -> str:
    if not plot.available():
        return ('<p class="note">No plot: plots need matplotlib '
                "(<code>pip install 'faultput[plot]'</code>).</p>")
    return f"<figure>{plot.svg(files)}<figcaption>{_e(plot.caption(plot.series(files)))}</figcaption></figure>"


def _file_section(result_file: ResultFile) -> str:
    document = result_file.document
    parts = [f"<h2>{_e(result_file.path)}</h2>",
             f"<p>Command: <code>{_e(' '.join(document.get('command_line') or []))}</code><br>"
             f"From {_e(document.get('started_at'))} to {_e(document.get('ended_at'))}</p>"]
    parts.append(_table(["configuration", "threads", "runs", "pages/wall-s median", "CI of the median", "CV",
                         "pages/CPU-s median", "CI of the median", "CV", "faults/page"],
                        _statistics_rows(result_file)))
    timed = latency_rows(list(result_file.results))
    if timed:
        parts += ["<p>Latency of one touch (--latency): each configuration's runs' histograms merged; raw times, "
                  "the timer floor beside them; cross-check: sampled mean x pages over the touch loop's CPU time.</p>",
                  _table(LATENCY_HEADERS, timed)]
    notes: dict[str, list[str]] = {}
    for result in result_file.results:
        for finding in result.findings:
            rows = notes.setdefault(finding, [])
            label = config_label(result.spec)
            if label not in rows:
                rows.append(label)
    parts += [f'<p class="note">note ({_e(", ".join(rows))}): {_e(finding)}</p>' for finding, rows in notes.items()]
    fitted = scaling_text(list(result_file.results))
    if fitted:
        parts.append(f"<pre>{_e(fitted)}</pre>")
    for title, threads, rows in folio_rows(list(result_file.results)):
        headers = ["folio size"] + [f"{label} x{t}" for t in threads for label in ("pages/wall-s", "faults/page", "change")]
        parts += [f"<p>{_e(title)}: by folio size and threads, change against {_e(rows[0][0])}</p>",
                  _table(headers, rows)]
    parts.append(_plot([result_file]))
    parts += _profile_sections(result_file)
    return "\n".join(parts)


def _profile_sections(result_file: ResultFile) -> list[str]:
    """Returns, per profiled configuration, its top functions and its flame graph, the stacks
    of its runs added together."""
    parts = []
    for runs in group_by_config(list(result_file.results)).values():
        profile = Profile.merge(run.profile for run in runs)
        if profile is None or not profile.samples:
            continue
        label = config_label(runs[0].spec)
        faults = sum(run.minor_faults + run.major_faults for run in runs)
        per_fault = sum(run.workers_cpu_ns for run in runs) / faults if faults else None
        parts += [f"<h3>Where the time goes: {_e(label)}</h3>",
                  f"<p>{profile.samples:,} {_e(profile.event)} samples at {profile.frequency_hz:,} Hz of the workers, "
                  f"in the measured rounds only, over {len(runs)} run{'s' if len(runs) != 1 else ''}; ns/fault is "
                  "the self share times the touch loop's CPU time per fault.</p>",
                  _table(PROFILE_HEADERS, profile_rows(profile, per_fault), text_columns=2),
                  f"<figure>{flamegraph.svg(profile.stacks, f'{label}: flame graph')}<figcaption>Flame graph: the "
                  "root at the bottom, each frame as wide as its share of the samples; kernel frames orange, user "
                  "frames yellow. Hover over a frame for its samples.</figcaption></figure>"]
        if profile.symbols_note:
            parts.append(f'<p class="warning">{_e(profile.symbols_note)}</p>')
    return parts


def _comparison_section(base: ResultFile, new: ResultFile) -> str:
    comparison = compare(base, new)
    parts = [f"<h2>{_e(new.path)} against {_e(base.path)}</h2>"]
    parts += [f"<p>differs: {_e(field)} {_e(a)} &rarr; {_e(b)}</p>" for field, a, b in comparison.differences]
    rows = [[row.label, str(row.threads), row.metric, f"{row.base.median:,.0f} {spread(row.base)}",
             f"{row.new.median:,.0f} {spread(row.new)}", verdict(row).strip()] for row in comparison.rows]
    parts.append(_table(["configuration", "threads", "clock", "base", "new", "change"], rows) if rows
                 else "<p>No configuration appears in both files.</p>")
    return "\n".join(parts)


def render(files: list[ResultFile]) -> str:
    """Returns the report for one or more result files (the first is the base of any comparison)."""
    generated = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    sections = [_facts_section(files)] + [_file_section(result_file) for result_file in files]
    if len(files) > 1:
        sections += [_comparison_section(files[0], other) for other in files[1:]]
        sections.append("<h2>All files</h2>" + _plot(files))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>faultput report</title><style>{STYLE}</style></head><body>"
            f"<h1>faultput report</h1><p>faultput {_e(__version__)}, generated {_e(generated)}</p>"
            + "\n".join(sections) + "</body></html>\n")


def plots_available() -> bool:
    """Returns whether the report can hold plots here (they need matplotlib)."""
    return plot.available()


