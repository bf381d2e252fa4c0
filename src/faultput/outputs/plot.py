"""Scaling and comparison plots (the optional extra faultput[plot]: matplotlib, imported only here).

Three panels: pages per wall second and per CPU second against threads, and the
parallel efficiency of each series; a fourth, where the runs timed single touches
(--latency), with the latency CDF of each series and thread count (log time axis, logit
share axis, so that both tails show; histograms of repeats merged, never averaged), and (wall throughput over N times its 1-thread
throughput). Points are medians over repeats; error bars are the median's
confidence interval (stated in the caption). Where a series has a 1-thread point,
a dashed line shows ideal scaling from it. Every series has its own colour and
marker, the legend sits beside the panels, the throughput axes turn logarithmic
where the figures span more than a factor of 20, and a single thread count is
drawn as bars. The title names the fault types, the kernel and the machine.
"""

from __future__ import annotations

import io

from .. import stats
from ..errors import UsageError
from ..latency import merged
from ..result import FIGURES, RunResult, config_label, group_by_config

FORMATS = {".png": "png", ".svg": "svg"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p")
# Beyond this ratio of largest to smallest figure a linear axis squashes the small ones flat.
LOG_AXIS_RATIO = 20


def require_matplotlib() -> None:
    """Raises UsageError naming the extra to install where matplotlib is missing."""
    _pyplot()


def available() -> bool:
    """Returns whether plots can be drawn here (matplotlib is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'faultput[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def series(files) -> dict[str, dict[int, list[RunResult]]]:
    """Returns {series label: {threads: runs}}: one series per file and configuration (threads aside)."""
    found: dict[str, dict[int, list[RunResult]]] = {}
    for result_file in files:
        for runs in group_by_config(list(result_file.results)).values():
            spec = runs[0].spec
            label = config_label(spec, with_threads=False)
            if len(files) > 1:
                label = f"{result_file.path}: {label}"
            found.setdefault(label, {})[spec.threads] = runs
    return found


def _style(index: int, count: int) -> dict:
    """Returns a colour and marker for series index: no two series of a plot share both."""
    import matplotlib

    colours = matplotlib.colormaps["tab10" if count <= 10 else "tab20"].colors
    return {"color": colours[index % len(colours)], "marker": MARKERS[index % len(MARKERS)]}


def title(files) -> str:
    """Returns the plot's title: what was measured, on which kernel and machine."""
    faults = list(dict.fromkeys(result.spec.fault_type for f in files for result in f.results))
    systems = list(dict.fromkeys((f.system.get("kernel_release"), f.system.get("cpu_model"),
                                  f.system.get("online_cpus")) for f in files))
    kind = "scaling" if len(files) == 1 else "comparison"
    where = "; ".join(f"Linux {kernel or '?'}, {model or 'unknown CPU'}, {cpus or '?'} CPUs"
                      for kernel, model, cpus in systems[:2])
    if len(systems) > 2:
        where += f"; and {len(systems) - 2} more machines"
    return f"{', '.join(faults)} fault throughput: {kind}\n{where}"


def caption(series: dict[str, dict[int, list[RunResult]]]) -> str:
    """Returns what the error bars show."""
    counts = sorted({len(runs) for by_threads in series.values() for runs in by_threads.values()})
    if counts == [1]:
        return "One run per point: no error bars."
    runs = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    return (f"Points: medians of {runs} runs. Error bars: confidence interval of the median "
            f"({stats.CONFIDENCE:.0%}, or min to max where fewer runs cannot reach it).")


def figure(files):
    """Returns the matplotlib figure for the result files, one series per (file, configuration)."""
    pyplot = _pyplot()
    from matplotlib.ticker import FuncFormatter

    all_series = series(files)
    if not all_series:
        raise UsageError("nothing to plot: the results hold no complete run")
    thread_counts = sorted({t for by_threads in all_series.values() for t in by_threads})
    bars = len(thread_counts) == 1
    columns = min(4, len(all_series))
    legend_rows = -(-len(all_series) // columns)
    # The legend and the caption sit below the panels, in room of their own.
    below_in = 0.5 + 0.22 * legend_rows
    height_in = 5.0 + below_in
    timed = any(run.latency is not None for by_threads in all_series.values() for runs in by_threads.values()
                for run in runs)
    panels = (2 if bars else 3) + timed
    fig, axes = pyplot.subplots(1, panels, figsize=(5.5 * panels + 1.5, height_in))
    for axis, figure_of in zip(axes, FIGURES):
        metric, metric_title, value_of = figure_of.key, figure_of.title, figure_of.value
        values = []
        for index, (label, by_threads) in enumerate(all_series.items()):
            style = _style(index, len(all_series))
            threads = sorted(by_threads)
            summaries = [stats.summarize([value_of(run) for run in by_threads[t]]) for t in threads]
            medians = [s.median for s in summaries]
            values += [s.ci_low for s in summaries] + [s.ci_high for s in summaries]
            errors = [[s.median - s.ci_low for s in summaries], [s.ci_high - s.median for s in summaries]]
            if bars:
                axis.bar([index], medians, yerr=errors, capsize=3, color=style["color"], label=label)
                continue
            axis.errorbar(threads, medians, yerr=errors, capsize=3, label=label, markersize=5, **style)
            if metric == "wall":
                _draw_fit(axis, by_threads, value_of, style["color"])
            if 1 in by_threads and len(threads) > 1:
                one = summaries[0].median if threads[0] == 1 else summaries[threads.index(1)].median
                # Ideal: wall throughput grows with threads; throughput per CPU second stays flat.
                ideal = [one * t if metric == "wall" else one for t in threads]
                axis.plot(threads, ideal, linestyle="--", alpha=0.4, color=style["color"])
        positive = [v for v in values if v and v > 0]
        if positive and max(positive) / min(positive) > LOG_AXIS_RATIO:
            axis.set_yscale("log")
            axis.set_ylabel(f"{metric_title} (log scale)")
        else:
            axis.set_ylim(bottom=0)
            axis.set_ylabel(metric_title)
        axis.yaxis.set_major_formatter(FuncFormatter(_short))
        axis.set_title(metric_title)
        axis.grid(alpha=0.3)
        if bars:
            axis.set_xticks([])
            axis.set_xlabel(f"{thread_counts[0]} thread{'s' if thread_counts[0] != 1 else ''}")
        else:
            axis.set_xlabel("threads")
            axis.set_xticks(thread_counts)
    if not bars:
        _efficiency_panel(axes[2], all_series, thread_counts)
    if timed:
        _latency_panel(axes[-1], all_series)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(title(files), fontsize=11)
    fig.tight_layout(rect=(0, below_in / height_in, 1, 0.97))
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.3 / height_in), fontsize=8,
               ncol=columns, frameon=False)
    fig.text(0.01, 0.08 / height_in, caption(all_series) + ("" if bars else " Dashed: ideal scaling from 1 thread; "
                                                            "dotted: the USL fit (4 or more thread counts)."),
             fontsize=8, va="bottom")
    return fig


def _draw_fit(axis, by_threads, value_of, colour) -> None:
    """Draws the Universal Scalability Law fitted to a series, where it has enough points."""
    from .. import scaling

    if len(by_threads) < scaling.MIN_POINTS or not scaling.available():
        return
    fitted = scaling.fit({t: [value_of(run) for run in runs] for t, runs in by_threads.items()})
    low, high = min(by_threads), max(by_threads)
    xs = [low + (high - low) * k / 100 for k in range(101)]
    axis.plot(xs, [scaling.usl(x, fitted.lambda_, fitted.sigma.value, fitted.kappa.value) for x in xs],
              linestyle=":", color=colour, alpha=0.8)


def _efficiency_panel(axis, all_series, thread_counts: list[int]) -> None:
    """Draws each series' parallel efficiency: wall throughput at N over N x its 1-thread figure."""
    value_of = FIGURES[0].value
    drawn = False
    for index, (label, by_threads) in enumerate(all_series.items()):
        if 1 not in by_threads:
            continue
        one = stats.summarize([value_of(run) for run in by_threads[1]]).median
        threads = sorted(by_threads)
        efficiency = [stats.summarize([value_of(run) for run in by_threads[t]]).median / (t * one) * 100
                      for t in threads]
        axis.plot(threads, efficiency, label=label, **_style(index, len(all_series)))
        drawn = True
    axis.axhline(100, linestyle="--", alpha=0.4, color="grey")
    axis.set_ylim(bottom=0)
    axis.set_title("parallel efficiency (wall)")
    axis.set_ylabel("% of N x the 1-thread figure")
    axis.set_xlabel("threads")
    axis.set_xticks(thread_counts)
    axis.grid(alpha=0.3)
    if not drawn:
        axis.text(0.5, 0.5, "no 1-thread run to scale from", ha="center", transform=axis.transAxes)


def _latency_panel(axis, all_series) -> None:
    """Draws the latency CDF of each series at each thread count, its runs' histograms merged:
    each series in its colour of the other panels, each thread count in a line style of its own."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    thread_counts = sorted({t for by_threads in all_series.values() for t in by_threads})
    dashes = ("-", "--", ":", "-.")
    drawn = 0
    for index, (label, by_threads) in enumerate(all_series.items()):
        style = _style(index, len(all_series))
        for threads, runs in sorted(by_threads.items()):
            histogram = merged(run.latency for run in runs)
            if histogram is None or not histogram.samples:
                continue
            points = histogram.cdf()
            top = 1 - 0.5 / histogram.samples
            xs = [x for x, _ in points]
            ys = [min(share, top) for _, share in points]
            linestyle = dashes[thread_counts.index(threads) % len(dashes)]
            axis.step(xs, ys, where="post", color=style["color"], linestyle=linestyle,
                      label=f"{label} x{threads}")
            axis.plot(xs[-1:], ys[-1:], marker=style["marker"], color=style["color"])
            drawn += 1
    axis.set_xscale("log")
    axis.set_yscale("logit")
    shares = (0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)
    axis.yaxis.set_major_locator(FixedLocator(shares))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, position: f"p{value * 100:g}"))
    axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, position: ""))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, position: _time_label(value)))
    axis.set_xlabel("time of one touch (log scale)")
    axis.set_ylabel("percentile (logit scale)")
    axis.set_title("latency CDF (--latency; line style: threads)")
    axis.grid(alpha=0.3, which="major")
    if drawn:
        axis.legend(fontsize=7, loc="lower right")
    else:
        axis.text(0.5, 0.5, "no latency samples", ha="center", transform=axis.transAxes)


def _time_label(ns: float) -> str:
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= scale:
            return f"{ns / scale:g} {unit}"
    return f"{ns:g} ns"


def _short(value: float, position) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def render(files, file_format: str) -> bytes:
    """Returns the plot of the result files as a file of file_format ("png" or "svg")."""
    pyplot = _pyplot()
    fig = figure(files)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=file_format, dpi=120)
    finally:
        pyplot.close(fig)
    return buffer.getvalue()


def svg(files) -> str:
    """Returns the plot of the result files as an inline <svg> element."""
    text = render(files, "svg").decode("utf-8")
    return text[text.index("<svg"):]

