"""A comparison in the forms people paste it in, each fitting 80 columns without tabs
(markdown aside):

    text       faultput's own, in the manner of benchstat: '~' where not significant
    markdown   a table for a pull request or an issue
    lkp        the kernel test robot's mails: base mean and %stddev, %change, new mean
               and %stddev, under a header naming the machine
    mmtests    mmtests' compare-kernels rows: Hmean pages/sec-N and faults/sec-N, base and
               new with the change in brackets, or between asterisks where significant

Significance is faultput's everywhere: Mann-Whitney U at alpha 0.05 (compare.py).
"""

from __future__ import annotations

import statistics

from .. import stats
from ..compare import Comparison, Row
from ..latency import PERCENTILES
from ..result import FIGURES, LATENCY_FIGURES
from ..spec import format_bytes

FORMATS = ("text", "markdown", "lkp", "mmtests")


def spread(summary: stats.Summary) -> str:
    """Returns the half-width of the median's confidence interval, in percent of the median."""
    if summary.n < 2:
        return "(1 run)"
    if not summary.median:
        return ""
    half = max(summary.ci_high - summary.median, summary.median - summary.ci_low)
    return f"± {half / summary.median:.0%}"


def verdict(row: Row) -> str:
    """Returns the change column: a signed percentage, or '~' where not significant."""
    samples = f"p={row.p_value:.3f} n={row.base.n}+{row.new.n}"
    if row.too_few:
        return f"{'~':>8}  (n={row.base.n}+{row.new.n}: too few runs)"
    if not row.significant:
        return f"{'~':>8}  ({samples})"
    return f"{row.change_percent:>+7.2f}%  ({samples})"


def _header(comparison: Comparison) -> list[str]:
    lines = [f"base: {comparison.base_path}", f"new:  {comparison.new_path}"]
    lines += [f"differs: {field} {base} -> {new}" for field, base, new in comparison.differences]
    return lines


def _by_figure(comparison: Comparison):
    """Yields (figure, rows of that figure grouped by label) in FIGURES order, then the latency
    figures that have rows."""
    for figure in FIGURES + LATENCY_FIGURES:
        groups: dict[str, list[Row]] = {}
        for row in comparison.rows:
            if row.metric == figure.key:
                groups.setdefault(row.label, []).append(row)
        if groups or figure in FIGURES:
            yield figure, groups


def shift_lines(comparison: Comparison) -> list[str]:
    """Returns how each configuration's latency distribution moved, percentile by percentile,
    from the histograms merged over each file's runs."""
    if not comparison.shifts:
        return []
    lines = ["\nlatency distribution shift (each file's runs merged; ns, new against base)"]
    for shift in comparison.shifts:
        lines.append(f"  {shift.label} x{shift.threads}")
        for label, quantile in PERCENTILES[:4]:
            base, new = shift.base.percentile(quantile), shift.new.percentile(quantile)
            if base and new is not None:
                lines.append(f"    {label:>6}  {base:>12,} -> {new:>12,}  {new / base - 1:+7.1%}")
    return lines


def comparison_text(comparison: Comparison) -> str:
    """Returns the comparison as aligned text: per figure, per configuration, a line per
    thread count with medians, ± (the half-width of the median's confidence interval, in
    percent) and the verdict."""
    lines = _header(comparison)
    lines.append("(medians over the runs; ± the half-width of the median's confidence interval)")
    if not comparison.rows:
        lines.append("no configuration appears in both files")
        return "\n".join(lines) + "\n"
    for figure, groups in _by_figure(comparison):
        lines.append(f"\n{figure.title}")
        for label, rows in groups.items():
            lines.append(f"  {label}")
            lines.append(f"    {'threads':>7}  {'base':>15}  {'new':>15}  change")
            for row in rows:
                base = f"{row.base.median:,.0f} {spread(row.base)}"
                new = f"{row.new.median:,.0f} {spread(row.new)}"
                lines.append(f"    {row.threads:>7}  {base:>15}  {new:>15}  {verdict(row)}")
    lines += shift_lines(comparison)
    if any(row.too_few for row in comparison.rows):
        lines.append("\ntoo few runs: so few can never reach significance; --repeat 5 or more")
    return "\n".join(lines) + "\n"


def comparison_markdown(comparison: Comparison) -> str:
    """Returns the comparison as a markdown table, one row per configuration, threads and figure."""
    lines = [f"`{line}`  " for line in _header(comparison)] + [""]
    if not comparison.rows:
        return "\n".join(lines + ["No configuration appears in both files."]) + "\n"
    lines += ["| configuration | threads | figure | base | new | change | p |",
              "|---|--:|---|--:|--:|--:|--:|"]
    for figure, groups in _by_figure(comparison):
        for label, rows in groups.items():
            for row in rows:
                change = f"{row.change_percent:+.2f}%" if row.significant else "~"
                lines.append(f"| {label} | {row.threads} | {figure.title} | {row.base.median:,.0f} "
                             f"{spread(row.base)} | {row.new.median:,.0f} {spread(row.new)} | {change} | "
                             f"{row.p_value:.3f} |")
    return "\n".join(lines) + "\n"


def _mean_and_stddev_percent(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    stddev = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, (stddev / mean * 100 if mean else 0.0)


def _short_name(row: Row, figure_key: str) -> str:
    """Returns an LKP-style metric name that fits beside the numbers: zero-fill.sep.t.2.wall."""
    spec = row.new_runs[0].spec
    words = [spec.fault_type, {"separate-objects": "sep", "share-objects": "share"}[spec.variant],
             spec.mode[0], str(spec.threads), figure_key]
    return ".".join(words)


def machine_header(system: dict) -> list[str]:
    """Returns the lines naming the machine, as the test robot's mails do."""
    memory = system.get("memory_total_bytes")
    return [f"cpu: {system.get('cpu_model') or 'unknown'} ({system.get('online_cpus') or '?'} CPUs)",
            f"memory: {format_bytes(memory) if isinstance(memory, int) else 'unknown'}",
            f"kernel: {system.get('kernel_release') or 'unknown'}",
            f"thp: enabled={system.get('thp_enabled')} defrag={system.get('thp_defrag')}",
            f"governor: {', '.join(system.get('cpu_governors') or []) or 'none'}"]


def comparison_lkp(comparison: Comparison, system: dict) -> str:
    """Returns the comparison in the kernel test robot's layout: base mean and %stddev, %change,
    new mean and %stddev, and the metric."""
    lines = [*machine_header(system), *_header(comparison), "",
             "         base             new",
             "---------------- ---------------------------",
             "         %stddev     %change         %stddev",
             "             \\          |                \\"]
    for figure, groups in _by_figure(comparison):
        for rows in groups.values():
            for row in rows:
                base_mean, base_sd = _mean_and_stddev_percent([figure.value(run) for run in row.base_runs])
                new_mean, new_sd = _mean_and_stddev_percent([figure.value(run) for run in row.new_runs])
                change = (new_mean / base_mean - 1) * 100 if base_mean else 0.0
                lines.append(f"{base_mean:>12.0f} \u00b1{base_sd:3.0f}%  {change:>+8.1f}%  {new_mean:>12.0f} "
                             f"\u00b1{new_sd:3.0f}%  {_short_name(row, figure.key)}")
    return "\n".join(lines) + "\n"


def _hmean(values: list[float]) -> float:
    return statistics.harmonic_mean(values) if all(value > 0 for value in values) else 0.0


def comparison_mmtests(comparison: Comparison) -> str:
    """Returns mmtests' compare-kernels rows for pages and faults per wall second: base and new
    harmonic means, the change in brackets, or between asterisks where it is significant."""
    wall = FIGURES[0]
    lines = _header(comparison)
    groups = next(groups for figure, groups in _by_figure(comparison) if figure is wall)
    for label, rows in groups.items():
        lines += ["", label, f"{'':>27}{'base':>12}{'':>12}{'new':>12}"]
        for unit, value_of in (("pages/sec", wall.value),
                               ("faults/sec", lambda run: wall.value(run) * run.faults_per_page)):
            for row in rows:
                base = _hmean([value_of(run) for run in row.base_runs])
                new = _hmean([value_of(run) for run in row.new_runs])
                change = (new / base - 1) * 100 if base else 0.0
                mark = f"*{change:7.2f}%*" if row.significant else f"({change:7.2f}%)"
                lines.append(f"Hmean     {unit + '-' + row.threads:<16}{base:12.2f} (   0.00%) {new:12.2f} {mark}")
    return "\n".join(lines) + "\n"
