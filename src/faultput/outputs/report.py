"""One self-contained HTML report: system facts, tables and inline SVG plots; no network needed."""

from __future__ import annotations

import datetime
import html

from .. import __version__, stats
from ..checks import system_warnings
from ..compare import compare
from ..result import config_label, group_by_config
from ..resultfile import ResultFile
from . import plot, write_atomically
from .compare_table import spread, verdict
from .facts import fact_rows
from .summary import format_cv, format_interval

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
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
        wall = stats.summarize([run.pages_per_wall_second for run in runs])
        cpu = stats.summarize([run.pages_per_cpu_second for run in runs])
        faults = stats.summarize([run.faults_per_page for run in runs])
        rows.append([config_label(spec, with_threads=False), str(spec.threads), str(len(runs)),
                     f"{wall.median:,.0f}", format_interval(wall), format_cv(wall),
                     f"{cpu.median:,.0f}", format_interval(cpu), format_cv(cpu), f"{faults.median:.4g}"])
    return rows


def _file_section(result_file: ResultFile) -> str:
    document = result_file.document
    parts = [f"<h2>{_e(result_file.path)}</h2>",
             f"<p>Command: <code>{_e(' '.join(document.get('command_line') or []))}</code><br>"
             f"From {_e(document.get('started_at'))} to {_e(document.get('ended_at'))}</p>",
             _table(["fact", "value"], [list(row) for row in fact_rows(result_file.system)], text_columns=2)]
    parts += [f'<p class="warning">warning: {_e(w)}</p>' for w in system_warnings(result_file.system)]
    parts.append(_table(["configuration", "threads", "runs", "pages/wall-s median", "95% CI", "CV",
                         "pages/CPU-s median", "95% CI", "CV", "faults/page"], _statistics_rows(result_file)))
    findings = dict.fromkeys(f for result in result_file.results for f in result.findings)
    parts += [f'<p class="note">note: {_e(finding)}</p>' for finding in findings]
    parts.append(f"<figure>{plot.svg([('', list(result_file.results))], result_file.path)}</figure>")
    return "\n".join(parts)


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
    sections = [_file_section(result_file) for result_file in files]
    if len(files) > 1:
        sections += [_comparison_section(files[0], other) for other in files[1:]]
        sections.append("<h2>All files</h2><figure>" + plot.svg(
            [(result_file.path, list(result_file.results)) for result_file in files], "comparison") + "</figure>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>faultput report</title><style>{STYLE}</style></head><body>"
            f"<h1>faultput report</h1><p>faultput {_e(__version__)}, generated {_e(generated)}</p>"
            + "\n".join(sections) + "</body></html>\n")


def write(path: str, files: list[ResultFile]) -> None:
    """Writes the report to path, atomically."""
    write_atomically(path, render(files))
