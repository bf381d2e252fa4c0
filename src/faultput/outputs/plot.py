"""Scaling and comparison plots (the optional extra faultput[plot]: matplotlib, imported only here).

Each plot has two panels, pages per wall second and per CPU second against
threads, y from zero; points are medians over repeats with their 95% CI as
error bars. Where a series has a 1-thread point, a dashed line shows ideal
scaling from it (linear for wall throughput, flat per CPU second) and each
point is labelled with its parallel efficiency against that line.
"""

from __future__ import annotations

import io
from pathlib import Path

from .. import stats
from ..compare import METRICS
from ..errors import UsageError
from ..result import RunResult, config_label, group_by_config
from . import write_atomically

FORMATS = {".png": "png", ".svg": "svg"}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'faultput[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def _series(named_results: list[tuple[str, list[RunResult]]]) -> dict[str, dict[int, list[RunResult]]]:
    """Returns {series label: {threads: runs}}: one series per file and configuration (threads aside)."""
    series: dict[str, dict[int, list[RunResult]]] = {}
    for name, results in named_results:
        for runs in group_by_config(results).values():
            spec = runs[0].spec
            label = config_label(spec, with_threads=False)
            if name:
                label = f"{name}: {label}"
            series.setdefault(label, {})[spec.threads] = runs
    return series


def figure(named_results: list[tuple[str, list[RunResult]]], title: str):
    """Returns the matplotlib figure for results, one series per (file name, configuration)."""
    pyplot = _pyplot()
    from matplotlib.ticker import FuncFormatter

    fig, axes = pyplot.subplots(1, 2, figsize=(12, 4.8))
    all_series = _series(named_results)
    if not all_series:
        raise UsageError("nothing to plot: the results hold no complete run")
    for axis, (metric, (metric_title, value_of)) in zip(axes, METRICS.items()):
        for label, by_threads in all_series.items():
            threads = sorted(by_threads)
            summaries = [stats.summarize([value_of(run) for run in by_threads[t]]) for t in threads]
            medians = [s.median for s in summaries]
            errors = [[s.median - s.ci_low for s in summaries], [s.ci_high - s.median for s in summaries]]
            line = axis.errorbar(threads, medians, yerr=errors, marker="o", capsize=3, label=label)
            if 1 in by_threads and len(threads) > 1:
                one = summaries[threads.index(1)].median
                # Ideal: wall throughput grows with threads; throughput per CPU second stays flat.
                ideal = [one * t if metric == "wall" else one for t in threads]
                axis.plot(threads, ideal, linestyle="--", alpha=0.5,
                          color=line[0].get_color(), label=f"{label}, ideal")
                for t, median, perfect in zip(threads, medians, ideal):
                    axis.annotate(f"{median / perfect:.0%}", (t, median), textcoords="offset points",
                                  xytext=(4, -12), fontsize=7, color=line[0].get_color())
        axis.set_ylim(bottom=0)
        axis.yaxis.set_major_formatter(FuncFormatter(_millions))
        axis.set_xlabel("threads")
        axis.set_ylabel(metric_title)
        axis.set_title(metric_title)
        axis.grid(alpha=0.3)
        axis.set_xticks(sorted({t for by_threads in all_series.values() for t in by_threads}))
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _millions(value: float, position) -> str:
    return f"{value / 1e6:g}M" if value else "0"


def _close(fig) -> None:
    _pyplot().close(fig)


def save(named_results: list[tuple[str, list[RunResult]]], title: str, path: str) -> None:
    """Writes the plot to path (.png or .svg), atomically."""
    file_format = FORMATS.get(Path(path).suffix.lower())
    if file_format is None:
        raise UsageError(f"plot file {path!r} must end in .png or .svg")
    fig = figure(named_results, title)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=file_format, dpi=120)
    finally:
        _close(fig)
    write_atomically(path, buffer.getvalue())


def svg(named_results: list[tuple[str, list[RunResult]]], title: str) -> str:
    """Returns the plot as an inline <svg> element."""
    fig = figure(named_results, title)
    buffer = io.StringIO()
    try:
        fig.savefig(buffer, format="svg")
    finally:
        _close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]
