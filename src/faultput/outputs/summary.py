"""The human summary of a result, the table of a sweep, and the statistics of repeats."""

from __future__ import annotations

from .. import platform, stats
from ..checks import latency_cross_check
from ..latency import PERCENTILES, Histogram, Latency, every_nth, merged
from ..result import FIGURES, NS_PER_S, RunResult, config_key, config_label, folio_label, group_by_config
from ..spec import format_bytes


HUGE_PAGE_POLICIES = {
    "off": "THP off (MADV_NOHUGEPAGE)",
    "allow": "THP allowed",
    "request": "THP requested (MADV_HUGEPAGE)",
    "hugetlb": "hugetlb pages (MAP_HUGETLB)",
}


def describe(result: RunResult) -> str:
    """Returns one line naming what was measured: fault type, variant, threads, mode, touch, THP."""
    spec = result.spec
    thp = HUGE_PAGE_POLICIES[spec.huge_pages]
    if spec.folio_size_bytes == spec.page_size_bytes:
        thp = "base pages only (every large folio size never)"
    elif spec.folio_size_bytes is not None:
        thp = f"{format_bytes(spec.folio_size_bytes)} folios only (MADV_HUGEPAGE, every other size never)"
    pinned = f", pinned from CPU {spec.first_cpu}" if spec.first_cpu is not None else ""
    threads = f"{spec.threads} thread{'s' if spec.threads != 1 else ''}"
    return (f"{spec.fault_type} faults: {spec.variant}, {threads} ({spec.mode} mode{pinned}), "
            f"{spec.touch} touch, {thp}")


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def faults_per_page_text(value: float | None) -> str:
    """Returns faults per page with two decimals, or four where THP makes it tiny (every
    output prints it so)."""
    return _number(value, 2 if value is None or value >= 0.1 else 4)


def summary(result: RunResult) -> str:
    """Returns the multi-line human summary of one result, findings included."""
    spec = result.spec
    lines = [describe(result)]
    measured = len(result.measured)
    warmups = len(result.iterations) - measured
    if result.interrupted:
        cause = f"stopped by {result.stopped_by}" if result.stopped_by else f"ended by an error ({result.error})"
        lines.append(f"  PARTIAL: {cause} after {measured} measured iteration"
                     f"{'s' if measured != 1 else ''}")
    if not measured:
        lines.append("  nothing was measured")
        return "\n".join(lines) + "\n"
    observed = result.observed_fault or "n/a"
    rows = [
        ("pages / wall second", _number(result.pages_per_wall_second), ""),
        ("pages / CPU second", _number(result.pages_per_cpu_second), ""),
        ("faults per page", faults_per_page_text(result.faults_per_page),
         f"kernel counted {result.minor_faults:,} minor + {result.major_faults:,} major faults "
         f"for {result.pages:,} pages; observed: {observed}"),
        ("iterations", f"{measured:,}",
         (f"+{warmups} warmup, " if warmups else "") + f"{format_bytes(spec.memory_bytes)} each"),
        ("pages", f"{result.pages:,}",
         f"{spec.object_count} x {format_bytes(spec.object_size_bytes)} objects per iteration, "
         f"{format_bytes(spec.page_size_bytes)} pages"),
        ("wall time", f"{result.wall_ns / NS_PER_S:.3f} s", ""),
        ("CPU time", f"{result.cpu_ns / NS_PER_S:.3f} s", _cpu_time_detail(result)),
    ]
    if result.writer_ops_per_second is not None:
        op = "mmap+munmap" if spec.writer_op == "mmap" else "mprotect"
        rows.append(("writer ops / second", _number(result.writer_ops_per_second),
                     f"{spec.mmap_writers} address-space writer thread{'s' if spec.mmap_writers != 1 else ''}, "
                     f"{op} of 64 KiB, while the rounds ran"))
    for label, value, detail in rows:
        line = f"  {label:<20} {value:>14}"
        if detail:
            line += f"   ({detail})"
        lines.append(line)
    if result.idle_share is not None:
        lines.append(f"  {'CPUs idle':<20} {_share(result.idle_share):>14}   (of the CPUs the workers could use, "
                     "during the measured rounds; /proc/stat)")
    if result.latency is not None:
        lines += latency_lines(result)
    lines += counter_lines(result)
    if result.profile is not None:
        lines += profile_lines(result)
    for finding in result.findings:
        lines.append(f"  note: {finding}")
    return "\n".join(lines) + "\n"


# The /proc/vmstat and memory.stat counters a summary names where they moved (the JSON has all).
NOTABLE_COUNTERS = ("pgfault", "pgmajfault", "thp_fault_alloc", "thp_fault_fallback", "thp_fault_fallback_charge",
                    "thp_split_page", "thp_deferred_split_page", "compact_stall", "compact_fail", "allocstall_normal",
                    "allocstall_movable", "pgscan_direct", "pgsteal_direct", "pswpin", "pswpout",
                    "numa_hint_faults", "numa_pages_migrated", "pgmigrate_success", "workingset_refault_anon",
                    "workingset_refault_file")


def _notable(moved: dict[str, int], pages: int) -> str:
    words = []
    for name in NOTABLE_COUNTERS:
        if moved.get(name):
            per_page = f" ({moved[name] / pages:.2f} per page)" if name in ("pgfault", "pgmajfault") and pages else ""
            words.append(f"{name} {moved[name]:,}{per_page}")
    return ", ".join(words) or "none of the fault counters moved"


def counter_lines(result: RunResult) -> list[str]:
    """Returns where the time went, as counters say: the workers' perf_event counters per fault,
    and the system-wide and cgroup counters that moved over the measured rounds."""
    lines = []
    if result.counter_status:
        per_fault = result.per_fault()
        counted = []
        if per_fault["traps_per_page"] is not None:
            counted.append(f"{per_fault['traps_per_page']:.2f} traps per page (in the warmup rounds)")
        elif result.counter_status["traps"]["why"] == platform.NO_WARMUP_WHY:
            counted.append("traps not counted (only in warmup rounds, and --warmup 0 left none)")
        if per_fault["cycles_per_fault"] is not None:
            counted.append(f"{per_fault['cycles_per_fault']:,.0f} cycles and "
                           f"{per_fault['instructions_per_fault'] or 0:,.0f} instructions per fault")
        rates = [f"{per_fault[key]:.2f} {label}" for key, label in
                 (("context_switches_per_1000_faults", "context switches"), ("migrations_per_1000_faults", "migrations"))
                 if per_fault[key] is not None]
        if rates:
            counted.append(" and ".join(rates) + " per 1,000 faults")
        if counted:
            # Counters that could not be opened are named in the findings, with why.
            lines.append(f"  {'per fault':<20} {', '.join(counted)} (perf_event counters of the workers, "
                         "around their touch loops)")
    pages = sum(iteration.pages_touched for iteration in result.measured)
    if result.vmstat is not None:
        lines.append(f"  {'system-wide':<20} {_notable(result.vmstat, pages)} (/proc/vmstat over the measured "
                     "rounds; other processes add to it)")
    if result.memcg is not None and result.cgroup:
        others = result.cgroup.get("other_processes")
        sharing = "" if others is None else f", {others} other process{'es' if others != 1 else ''} in it"
        lines.append(f"  {'cgroup':<20} {_notable(result.memcg, pages)} (memory.stat of "
                     f"{result.cgroup['path']}{sharing})")
    return lines


PROFILE_TOP_KERNEL = 8
PROFILE_TOP_USER = 3
# Functions with a smaller self share than this are a sample or two: not worth a row.
PROFILE_MIN_SHARE = 0.001


def cpu_ns_per_fault(result: RunResult) -> float | None:
    """Returns the workers' touch-loop CPU time per fault the kernel counted."""
    faults = result.minor_faults + result.major_faults
    return result.workers_cpu_ns / faults if faults else None


PROFILE_HEADERS = ["space", "function", "self", "ns/fault", "total"]


def profile_rows(profile, per_fault: float | None) -> list[list[str]]:
    """Returns the top kernel and user functions of a profile by self share: space, name, self
    share, nanoseconds per fault (self share x CPU ns per fault) and total share."""
    rows = []
    for kernel, count in ((True, PROFILE_TOP_KERNEL), (False, PROFILE_TOP_USER)):
        for function in profile.top(kernel, count):
            if function.self_share < PROFILE_MIN_SHARE:
                continue
            rows.append(["kernel" if kernel else "user", function.name, f"{function.self_share:.1%}",
                         "n/a" if per_fault is None else f"{function.self_share * per_fault:,.0f}",
                         f"{function.total_share:.1%}"])
    return rows


def profile_lines(result: RunResult) -> list[str]:
    """Returns the profile's top functions (profile_rows) as summary lines."""
    profile = result.profile
    lines = [f"  {'profile':<20} {profile.samples:,} {profile.event} samples at {profile.frequency_hz:,} Hz, of the "
             "workers only, in the measured rounds only (perf record)"]
    if not profile.samples:
        return lines + [f"  {'':<20} no sample was taken"]
    lines.append(f"  {'':<20} {'function':<34} {'self':>6} {'ns/fault':>10} {'total':>6}")
    for space, name, self_share, ns, total in profile_rows(profile, cpu_ns_per_fault(result)):
        name = name if len(name) <= 34 else name[:31] + "..."
        lines.append(f"  {space:<20} {name:<34} {self_share:>6} {ns:>10} {total:>6}")
    if profile.symbols_note:
        lines.append(f"  {'':<20} {profile.symbols_note}")
    return lines


def format_ns(ns: float | None) -> str:
    """Returns a time in the unit that keeps it short: '1,835 ns', '215.6 µs', '12.3 ms', '1.20 s'."""
    if ns is None:
        return "n/a"
    if ns < 10_000:
        return f"{ns:,.0f} ns"
    if ns < 10_000_000:
        return f"{ns / 1e3:,.1f} µs"
    if ns < 10_000_000_000:
        return f"{ns / 1e6:,.1f} ms"
    return f"{ns / 1e9:,.2f} s"


def sampling_text(latency: Latency) -> str:
    """Returns how the touches were sampled, and why so where faultput chose."""
    every = every_nth(latency.every)
    if latency.chosen == "given":
        return f"{every} (--latency {latency.every})"
    cost = f"{latency.auto_cost:.1%}" if latency.auto_cost is not None else "n/a"
    if latency.every == 1:
        return f"{every} (the default: timing every page cost {cost} of touch-loop CPU time in a probe round)"
    return (f"{every} (the default: timing every page cost {cost} of touch-loop CPU time in a probe round, "
            "over the 3% allowed)")


def latency_lines(result: RunResult) -> list[str]:
    """Returns the latency block of a summary: sampling, percentiles raw and net of the timer
    floor, the floors, the cross-check and the slowest touches."""
    latency = result.latency
    histogram = latency.histogram
    clock = {"tsc": "TSC", "cntvct": "arm64 virtual counter", "monotonic-raw": "CLOCK_MONOTONIC_RAW"}[latency.clock]
    rate = "" if latency.clock == "monotonic-raw" else f" at {latency.ticks_per_second / 1e9:.4f} GHz"
    lines = [f"  {'latency':<20} {sampling_text(latency)}",
             f"  {'':<20} {clock}{rate}, calibrated against CLOCK_MONOTONIC_RAW over this run; "
             f"{histogram.samples:,} samples, {histogram.dropped:,} dropped"]
    if not histogram.samples:
        return lines + [f"  {'':<20} no touch was timed in the measured iterations"]
    labels = ["mean", *(label for label, _ in PERCENTILES), "max"]
    raw = [histogram.mean_ns, *(histogram.percentile(q) for _, q in PERCENTILES), histogram.max_ns]
    lines.append(f"  {'':<20} {'':<13}" + "".join(f"{label:>11}" for label in labels))
    lines.append(f"  {'':<20} {'raw':<13}" + "".join(f"{format_ns(value):>11}" for value in raw))
    lines.append(f"  {'':<20} {'minus timer':<13}" + "".join(f"{format_ns(latency.net(value)):>11}"
                                                         for value in raw))
    lines.append(f"  {'floors':<20} timer {format_ns(latency.timer_ns)}, touch of a mapped page "
                 f"{format_ns(latency.mapped_floor.percentile(0.5))} (medians, measured in this run; one sample "
                 f"costs the loop {format_ns(latency.sample_cost_ns)})")
    check = latency_cross_check(result)
    if check is not None:
        verdict = "holds within 5%" if check["holds"] else f"off by more than 5%: {check['note']}"
        lines.append(f"  {'cross-check':<20} mean x pages = {check['sampled_ns'] / NS_PER_S:.3f} s against "
                     f"{check['touch_cpu_ns'] / NS_PER_S:.3f} s of touch-loop CPU time: {check['ratio']:.1%} "
                     f"({verdict})")
    slowest = [f"{format_ns(fault.ns)} at object {fault.object_index + 1} +{format_bytes(fault.offset_bytes)}, "
               f"{fault.at_s:.3f} s" for fault in latency.slowest]
    for k in range(0, len(slowest), 3):
        lines.append(f"  {'slowest' if k == 0 else '':<20} " + "; ".join(slowest[k:k + 3]))
    return lines


LATENCY_HEADERS = ["configuration", "threads", "runs", "samples", *(label for label, _ in PERCENTILES), "max",
                   "timer floor", "cross-check"]


def latency_rows(results: list[RunResult]) -> list[list[str]]:
    """Returns a row per configuration with --latency runs: its runs' histograms merged, their
    percentiles, the timer floor and the cross-check's median ratio."""
    rows = []
    for runs in group_by_config(results).values():
        timed = [run for run in runs if run.latency is not None]
        pooled = merged(run.latency for run in timed)
        if pooled is None:
            continue
        checks = [check["ratio"] for check in map(latency_cross_check, timed) if check]
        rows.append([config_label(runs[0].spec, with_threads=False), str(runs[0].spec.threads), str(len(timed)),
                     f"{pooled.samples:,}", *(format_ns(pooled.percentile(q)) for _, q in PERCENTILES),
                     format_ns(pooled.max_ns), format_ns(stats.summarize([r.latency.timer_ns for r in timed]).median),
                     f"{stats.summarize(checks).median:.0%}" if checks else "n/a"])
    return rows


def _cpu_time_detail(result: RunResult) -> str:
    workers = "threads" if result.spec.mode == "threads" else "worker processes"
    detail = f"summed over {workers}, in the touch loop"
    if result.helper_cpu_ns is not None:
        detail += (f": {result.workers_cpu_ns / NS_PER_S:.3f} s workers + "
                   f"{result.helper_cpu_ns / NS_PER_S:.3f} s the handler thread that resolves the faults")
    return detail


def sweep_table(results: list[RunResult]) -> str:
    """Returns a table with one row per result of a sweep."""
    labels = [config_label(result.spec, with_threads=False) for result in results]
    width = max(len("configuration"), *(len(label) for label in labels))
    timed = any(result.latency is not None for result in results)
    latency_header = f"  {'p50':>10}  {'p99':>10}" if timed else ""
    lines = [f"{'configuration':<{width}}  {'threads':>7}  {'pages/wall-s':>14}  {'pages/CPU-s':>14}  "
             f"{'faults/page':>11}  {'traps/page':>10}  {'idle':>5}{latency_header}  {'iterations':>10}"]
    for label, result in zip(labels, results):
        partial = "  partial" if result.interrupted else ""
        latency = ""
        if timed:
            histogram = result.latency.histogram if result.latency else Histogram()
            latency = f"  {format_ns(histogram.percentile(0.5)):>10}  {format_ns(histogram.percentile(0.99)):>10}"
        traps = result.per_fault()["traps_per_page"] if result.measured else None
        lines.append(f"{label:<{width}}  {result.spec.threads:>7}  {_number(result.pages_per_wall_second):>14}  "
                     f"{_number(result.pages_per_cpu_second):>14}  {faults_per_page_text(result.faults_per_page):>11}  "
                     f"{faults_per_page_text(traps):>10}  {_share(result.idle_share):>5}{latency}  "
                     f"{len(result.measured):>10}{partial}")
    return "\n".join(lines) + "\n"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def one_line(result: RunResult, position: str) -> str:
    """Returns a one-line account of one run of a sweep or of repeats."""
    partial = "  PARTIAL" if result.interrupted else ""
    writers = ("" if result.writer_ops_per_second is None
               else f", {_number(result.writer_ops_per_second)} writer ops/s")
    traps = result.per_fault()["traps_per_page"] if result.measured else None
    if traps is not None:
        writers += f", {traps:.2f} traps/page"
    if result.latency is not None:
        histogram = result.latency.histogram
        check = latency_cross_check(result)
        writers += (f", p50 {format_ns(histogram.percentile(0.5))} p99 {format_ns(histogram.percentile(0.99))}"
                    + (f" (cross-check {check['ratio']:.0%})" if check else ""))
    return (f"[{position}] {config_label(result.spec)}: {_number(result.pages_per_wall_second)} pages/wall-s, "
            f"{_number(result.pages_per_cpu_second)} pages/CPU-s, {faults_per_page_text(result.faults_per_page)} "
            f"faults/page{writers}{partial}\n")


def format_interval(summary: stats.Summary) -> str:
    """Returns the confidence interval of a median labelled with the confidence it really has
    ('95% CI 205,288 to 278,182'; fewer runs reach less), or 'CI n/a' for a single run."""
    if summary.n < 2:
        return "CI n/a (1 run)"
    # At least the 95% asked for is labelled 95%; fewer runs than that reaches say what they reach.
    level = min(summary.ci_level, stats.CONFIDENCE)
    return f"{level:.0%} CI {summary.ci_low:,.0f} to {summary.ci_high:,.0f}"


def format_cv(summary: stats.Summary) -> str:
    """Returns the coefficient of variation, or 'n/a' for a single run."""
    return "n/a" if summary.cv is None else f"{summary.cv:.1%}"


def repeats_table(results: list[RunResult]) -> str:
    """Returns, per configuration, the median, its confidence interval, min, max and CV of each
    figure over the repeats, with a warning for each figure too noisy to trust."""
    lines: list[str] = []
    warnings: list[str] = []
    for runs in group_by_config(results).values():
        spec = runs[0].spec
        lines.append(f"{config_label(spec)}: {len(runs)} runs")
        for figure in FIGURES:
            metric = figure.title.replace("per", "/")
            summary = stats.summarize([figure.value(run) for run in runs])
            lines.append(f"  {metric:<20} median {summary.median:>14,.0f}   {format_interval(summary):<34} "
                         f"min {summary.minimum:,.0f}  max {summary.maximum:,.0f}  CV {format_cv(summary)}")
            if summary.noisy:
                warnings.append(
                    f"{metric} of {config_label(spec)} varies {summary.cv:.1%} between runs (CV above "
                    f"{stats.NOISY_CV:.0%}): too wide to trust small changes. Try more repeats "
                    f"(--repeat {max(10, 2 * len(runs))}), a longer --duration, pinned threads "
                    "(--first-cpu 0), or a quieter machine (faultput info lists what disturbs).")
        faults = stats.summarize([run.faults_per_page for run in runs])
        lines.append(f"  {'faults per page':<20} median {faults_per_page_text(faults.median):>14}")
        writer_ops = [run.writer_ops_per_second for run in runs if run.writer_ops_per_second is not None]
        if writer_ops:
            lines.append(f"  {'writer ops / second':<20} median {stats.summarize(writer_ops).median:>14,.0f}   "
                         f"({spec.mmap_writers} {spec.writer_op} writer{'s' if spec.mmap_writers != 1 else ''})")
        pooled = merged(run.latency for run in runs)
        if pooled is not None and pooled.samples:
            lines.append(f"  {'latency':<20} " + "  ".join(
                f"{label} {format_ns(pooled.percentile(q))}" for label, q in PERCENTILES[:4])
                + f"   (pooled over the {len(runs)} runs' histograms)")
        idle = [run.idle_share for run in runs if run.idle_share is not None]
        if idle:
            lines.append(f"  {'CPUs idle':<20} median {_share(stats.summarize(idle).median):>14}")
    for warning in warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines) + "\n"


def folio_rows(results: list[RunResult]) -> list[tuple[str, list[int], list[list[str]]]]:
    """Returns, per fault type, variant and mode, (title, thread counts, rows): a row per folio
    size with each thread count's median pages per wall second, faults per page, and change
    against the base page's row, as the kernel's large folio patch series tabulate them."""
    tables: dict[str, dict[int, dict[int, list[RunResult]]]] = {}
    for runs in group_by_config(results).values():
        spec = runs[0].spec
        if spec.folio_size_bytes is None:
            continue
        title = config_label(spec, with_threads=False, leave_out=("folio_size_bytes", "huge_pages"))
        tables.setdefault(title, {}).setdefault(spec.folio_size_bytes, {})[spec.threads] = runs
    out = []
    for title, by_size in tables.items():
        threads = sorted({t for by_threads in by_size.values() for t in by_threads})
        median = {(size, t): stats.summarize([run.pages_per_wall_second for run in runs]).median
                  for size, by_threads in by_size.items() for t, runs in by_threads.items()}
        base = min(by_size)
        rows = []
        for size in sorted(by_size):
            row = [folio_label(size)]
            for t in threads:
                runs = by_size[size].get(t)
                if runs is None:
                    row += ["", "", ""]
                    continue
                faults = stats.summarize([run.faults_per_page for run in runs]).median
                reference = median.get((base, t))
                change = (f"{median[size, t] / reference - 1:+.0%}" if reference and size != base else "")
                row += [_number(median[size, t]), faults_per_page_text(faults), change]
            rows.append(row)
        out.append((title, threads, rows))
    return out


def folio_table(results: list[RunResult]) -> str:
    """Returns the folio size by threads table of folio_rows() as aligned text."""
    lines = []
    for title, threads, rows in folio_rows(results):
        lines.append(f"{title}: pages per wall second, faults per page and change against "
                     f"{rows[0][0]}, by folio size and threads")
        lines.append(f"{'folio':>6}" + "".join(f"  {'x' + str(t) + ' pages/wall-s':>18} {'faults/page':>11} {'change':>7}"
                                                for t in threads))
        for row in rows:
            cells = row[1:]
            lines.append(f"{row[0]:>6}" + "".join(f"  {cells[i]:>18} {cells[i + 1]:>11} {cells[i + 2]:>7}"
                                                  for i in range(0, len(cells), 3)))
    return "\n".join(lines) + "\n"


def scaling_text(results: list[RunResult]) -> str:
    """Returns the Universal Scalability Law fit of each configuration swept over at least 4
    thread counts, with the parallel efficiency per thread count; a note where scipy is missing."""
    from .. import scaling

    swept = [label for label, by_threads in _thread_counts_by_config(results).items()
             if len(by_threads) >= scaling.MIN_POINTS]
    if not swept:
        return ""
    if not scaling.available():
        return "note: the scalability fit (USL) needs scipy: pip install 'faultput[fit]'\n"
    lines = []
    for label, fit, wall, cpu in scaling.fits(results):
        lines.append(f"USL fit of pages per wall second, {label}:")
        lines.append(f"  {scaling.describe(fit)}")
        if wall:
            lines.append("  efficiency (wall)  " + "  ".join(f"x{t} {e:.0%}" for t, e in wall.items()))
        if cpu:
            lines.append("  per CPU second     " + "  ".join(f"x{t} {e:.0%}" for t, e in cpu.items()))
    return "\n".join(lines) + "\n"


def _thread_counts_by_config(results: list[RunResult]) -> dict[str, set[int]]:
    counts: dict[str, set[int]] = {}
    for result in results:
        counts.setdefault(config_label(result.spec, with_threads=False), set()).add(result.spec.threads)
    return counts


def distinct_findings(results: list[RunResult]) -> list[str]:
    """Returns each configuration's findings once, from its first run (its repeats say the same
    with other numbers), in first-seen order."""
    first_runs: dict[tuple, RunResult] = {}
    for result in results:
        first_runs.setdefault(config_key(result.spec), result)
    return list(dict.fromkeys(finding for result in first_runs.values() for finding in result.findings))
