"""Judges whether a result measured what it set out to, from the kernel's own counts.

Each finding is one plain sentence for the user; the engine stores them with
the result, and every output shows them.
"""

from __future__ import annotations

from . import platform
from .faults.base import FaultType
from .result import RunResult
from .spec import format_bytes

# How far faults per page may stray from the fault type's expectation before we say so.
FAULTS_PER_PAGE_TOLERANCE = 0.10
# Below this share of threads x wall time on a CPU, the workers were kept waiting.
ON_CPU_SHARE_FLOOR = 0.85
# How far the sampled mean latency x pages may stray from the touch loop's CPU time.
LATENCY_CROSS_CHECK_TOLERANCE = 0.05
# A share of dropped latency samples worth a word.
DROPPED_SHARE_NOTE = 0.001


def judge(result: RunResult, fault_type: FaultType,
          thp_enabled: str | None) -> tuple[str | None, tuple[str, ...]]:
    """Returns (what the kernel's counts show it did, the findings about the result).

    Findings are empty when the result measured exactly what was meant.
    """
    faults_per_page = result.faults_per_page
    if faults_per_page is None:
        return None, ()
    resident = result.resident_pages_per_page
    findings: list[str] = []
    if fault_type.linux_note:
        findings.append(fault_type.linux_note)

    expected = fault_type.faults_per_page(result.spec)
    if abs(faults_per_page - expected) > FAULTS_PER_PAGE_TOLERANCE * expected:
        if faults_per_page < expected and result.spec.huge_pages == "allow":
            findings.append(
                f"THP folded about {expected / faults_per_page:.0f} pages into each fault: "
                f"{faults_per_page:.4f} faults per page where {fault_type.name} without huge pages "
                f"costs {expected:.2f}. These are huge page faults.")
        elif faults_per_page < expected and fault_type.maps_many_per_fault:
            findings.append(folio_finding(result, fault_type))
        elif faults_per_page < expected:
            findings.append(
                f"{faults_per_page:.4f} faults per page, below the {expected:.4f} a {fault_type.name} "
                "fault costs: pages were already present, or the kernel mapped several per fault.")
        else:
            findings.append(
                f"{faults_per_page:.4f} faults per page, above the {expected:.4f} a {fault_type.name} "
                "fault costs: the kernel faulted some pages more than once.")
    elif result.spec.huge_pages == "allow":
        findings.append(f"THP was allowed but the kernel used no huge pages (THP enabled: "
                        f"{thp_enabled or 'unavailable'}): one fault per base page.")

    if resident is not None:
        if fault_type.resident_pages_per_page >= 0.5 and resident < 0.5:
            findings.append(f"The kernel added {resident:.2f} resident pages per page touched where a "
                            f"{fault_type.name} fault adds one: pages were already present.")
        elif fault_type.resident_pages_per_page < 0.5 and resident >= 0.5:
            findings.append(f"The kernel allocated {resident:.2f} pages per page read: the shared "
                            "zero page was not used (THP use_zero_page off, or a kernel without it).")

    if result.spec.folio_size_bytes is not None:
        findings.append(folio_size_finding(result, fault_type))
    elif result.spec.huge_pages in ("allow", "request") and result.folio_counters:
        findings.append(folio_sizes_used(result))

    if not fault_type.traps:
        traps = result.per_fault()["traps_per_page"]
        counted = "" if traps is None else f" (perf_event counted {traps:.2f} traps per page)"
        findings.append(f"The kernel counted {faults_per_page:.2f} faults per page, but none was a trap{counted}: "
                        f"{fault_type.name} takes its faults inside a system call, which getrusage counts "
                        "as page faults all the same.")
    findings += _off_cpu_findings(result, fault_type)
    findings += _latency_findings(result, fault_type)
    findings += _counter_findings(result)

    touched = sum(iteration.pages_touched for iteration in result.measured)
    if touched != result.pages:
        findings.append(f"The workers touched {touched} pages where the objects hold {result.pages}: "
                        "the work queue did not cover each page exactly once.")
    observed = fault_type.observe(faults_per_page, resident)
    size = result.spec.folio_size_bytes
    if size and size > result.spec.page_size_bytes and size in _allocations(result, "anon") | _allocations(result, "shmem"):
        observed = f"{format_bytes(size)} folios, {1 / faults_per_page:.0f} pages per fault"
    return observed, tuple(findings)


def folio_finding(result: RunResult, fault_type: FaultType) -> str:
    """Returns what the kernel did where one file fault mapped many pages: the folio sizes of
    the page cache, and how many folios were mapped whole and how many in fault-around
    windows, so that a reader can predict the faults per iteration."""
    spec = result.spec
    pages = spec.pages_per_iteration
    faults = (result.minor_faults + result.major_faults) / len(result.measured)
    window_pages = max(1, platform.fault_around_bytes() // spec.page_size_bytes)
    per_fault = f"{pages / faults:.0f} pages per fault ({faults:,.1f} faults per iteration of {pages:,} pages)"
    folios = result.page_cache_folios
    if not folios:
        return (f"The kernel mapped about {per_fault}: the page cache holds the file in large folios and "
                "a fault maps many pages at once. Run as root to see the folio sizes (/proc/kpageflags).")
    total = sum(folios.values())
    sizes = ", ".join(f"{count:,} x {format_bytes(size * spec.page_size_bytes)}"
                      for size, count in sorted(folios.items(), reverse=True))
    text = f"The page cache holds the file in folios of {sizes}; the kernel mapped about {per_fault}."
    if len(folios) == 1:
        (folio_pages, count), = folios.items()
        windows = -(-folio_pages // window_pages)
        if count == total and folio_pages > window_pages:
            # faults = whole + (count - whole) x windows, for the folios mapped whole in one fault.
            whole = (count * windows - faults) / (windows - 1)
            if -0.01 <= whole <= count + 0.01 and abs(whole - round(whole)) < 0.01:
                whole = round(whole)
                if whole == count:
                    text += f" Every folio was mapped whole, in one fault: {count:,} faults per iteration."
                else:
                    text += (f" {whole:,} of the {count:,} folios were mapped whole, one fault each, and "
                             f"{count - whole:,} in {window_pages}-page fault-around windows ({windows} faults "
                             f"each, vm fault_around_bytes): {whole:,} + {count - whole:,} x {windows} = "
                             f"{faults:,.0f} faults per iteration.")
    return text


def _allocations(result: RunResult, kind: str) -> dict[int, dict[str, int]]:
    """Returns {folio size: {"alloc", "fallback", "fallback_charge"}} of the anonymous or shmem
    counters that moved over the measured iterations."""
    moved = {}
    for size, counters in (result.folio_counters or {}).items():
        prefix = "anon_fault_" if kind == "anon" else "shmem_"
        values = {name: counters.get(prefix + name, 0) for name in ("alloc", "fallback", "fallback_charge")}
        if any(values.values()):
            moved[size] = values
    return moved


def folio_size_finding(result: RunResult, fault_type: FaultType) -> str:
    """Returns what the kernel did at the folio size asked for, checked against its own
    per-size counters: folios allocated against those the pages need, and fallbacks."""
    spec = result.spec
    size = spec.folio_size_bytes
    label = format_bytes(size)
    pages_per_folio = size // spec.page_size_bytes
    faults = result.minor_faults + result.major_faults
    per_fault = f"{result.pages / faults:,.1f} pages per fault" if faults else "no faults"
    if pages_per_folio == 1:
        used = _allocations(result, "shmem" if fault_type.name == "shmem" else "anon")
        extra = (f"; yet the system-wide counters show {sum(v['alloc'] for v in used.values()):,} large folios "
                 "allocated meanwhile (other processes)" if used else "")
        return f"Base pages only ({label}): every large folio size was off for this run, {per_fault}{extra}."
    if fault_type.name == "zero-page":
        return (f"Reads map the shared zero page, never a {label} folio: the folio size changes nothing "
                f"here but at the PMD size, where the kernel may map its huge zero page ({per_fault}).")
    counters = _allocations(result, "shmem" if fault_type.name == "shmem" else "anon").get(size)
    expected = result.pages // pages_per_folio
    if counters is None:
        return (f"{label} folios asked for, {per_fault}; the kernel's counters for that size did not move "
                "(not counted on this kernel, or no folio was allocated).")
    allocated, fallback, charge = counters["alloc"], counters["fallback"], counters["fallback_charge"]
    text = (f"{label} folios, {per_fault}: the kernel allocated {allocated:,} of them on faults "
            f"({allocated / expected:.0%} of the {expected:,} the pages need; hugepages-{size >> 10}kB/stats)")
    if fallback:
        text += (f", and fell back to smaller folios {fallback:,} times ({fallback / expected:.0%}"
                 + (f", {charge:,} of them for the memory cgroup's charge" if charge else ", fragmentation")
                 + ")")
    if allocated + fallback > 1.1 * expected:
        text += ("; the counters are system-wide and moved more than this run explains: other processes "
                 "faulted too")
    return text + "."


def folio_sizes_used(result: RunResult) -> str:
    """Returns which large folio sizes the kernel used in a run that left the choice to it."""
    used = _allocations(result, "anon") or _allocations(result, "shmem")
    total = sum(values["alloc"] for values in used.values())
    if not total:
        return "The kernel allocated no large folio on these faults (hugepages-*/stats): base pages only."
    shares = ", ".join(f"{format_bytes(size)} {values['alloc'] / total:.0%}"
                       for size, values in sorted(used.items(), reverse=True) if values["alloc"])
    return f"The kernel used these folio sizes for the {total:,} large folios it allocated: {shares}."


def _off_cpu_findings(result: RunResult, fault_type: FaultType) -> list[str]:
    """Returns a finding where the workers spent a large share of the wall time off a CPU."""
    available_ns = result.spec.threads * result.wall_ns
    if not available_ns:
        return []
    share = result.workers_cpu_ns / available_ns
    if share >= ON_CPU_SHARE_FLOOR:
        return []
    if fault_type.helper_thread:
        cause = "they wait for the handler thread to resolve each fault"
    elif result.spec.mmap_writers:
        cause = ("the address-space writers (--mmap-writers) hold the address-space lock against the faults, "
                 "and take CPU time")
    elif result.spec.threads > platform.online_cpus():
        cause = "there are more workers than CPUs"
    else:
        cause = ("another process took CPU time, too few CPUs were free, or the workers waited on a lock "
                 "(the address-space lock, in threads mode)")
    return [f"The workers were on a CPU for only {share:.0%} of threads x wall time "
            f"({result.workers_cpu_ns / 1e9:.3f} s of {available_ns / 1e9:.3f} s): likely {cause}. "
            "Pages per wall second then measures waiting as well as faulting."]


def latency_cross_check(result: RunResult) -> dict | None:
    """Returns the sampled mean latency times the pages touched against the workers' CPU time
    in the touch loop: {sampled_ns, touch_cpu_ns, ratio, holds, note}, note saying why where
    it does not hold; None without latency samples."""
    latency = result.latency
    if latency is None or not latency.histogram.samples or not result.workers_cpu_ns:
        return None
    pages = sum(iteration.pages_touched for iteration in result.measured)
    sampled_ns = latency.histogram.mean_ns * pages
    ratio = sampled_ns / result.workers_cpu_ns
    holds = abs(ratio - 1) <= LATENCY_CROSS_CHECK_TOLERANCE
    note = None
    if not holds:
        spec = result.spec
        mean = latency.histogram.mean_ns
        if result.helper_cpu_ns is not None:
            note = ("a uffd touch's time is the round trip through the handler thread, and the worker sleeps "
                    "while the handler works: its CPU time leaves that out")
        elif ratio > 1 and spec.threads > 1:
            note = (f"with {spec.threads} threads a touch's time includes waits off the CPU (a contended lock, "
                    "preemption), which the CPU time leaves out")
        elif latency.timer_ns > 0.2 * mean:
            note = (f"a touch costs little more than the timer here ({latency.timer_ns:,} ns of a {mean:,.0f} ns "
                    "mean), so the loop between timed regions is a large share of the CPU time")
        elif latency.every > 1:
            from .latency import every_nth
            note = (f"only {every_nth(latency.every)} was timed: a sample's mean stands for pages that cost "
                    "differently (a huge page fault and the pages it mapped)")
        else:
            note = ("the CPU time also counts the loop between timed touches, and the counter counts time the "
                    "thread spent off the CPU")
    return {"sampled_ns": round(sampled_ns), "touch_cpu_ns": result.workers_cpu_ns, "ratio": ratio,
            "holds": holds, "note": note}


# System-wide faults beyond this multiple of the run's own (and a little) mean a busy machine.
BUSY_FAULTS_FACTOR = 2.0
BUSY_FAULTS_SLACK = 10_000


def _counter_findings(result: RunResult) -> list[str]:
    findings = []
    refused: dict[str, list[str]] = {}
    for name, status in (result.counter_status or {}).items():
        if status["why"] == platform.NO_WARMUP_WHY:
            continue  # the user's --warmup 0; the summary says it where it shows the counters
        if not status["counted"]:
            refused.setdefault(status["why"], []).append(name)
        elif status["user_only"]:
            refused.setdefault("counted in user time only: counting the kernel was not allowed "
                               f"(kernel.perf_event_paranoid = {platform.perf_event_paranoid()})", []).append(name)
    for why, names in refused.items():
        words = [name.replace("_", " ") for name in names]
        listed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
        if set(names) <= {"cycles", "instructions"}:
            findings.append(f"{listed.capitalize()} per fault: {why}.")
        else:
            findings.append(f"The perf_event counter{'s' if len(words) > 1 else ''} of {listed}: {why}.")
    system_faults = (result.vmstat or {}).get("pgfault", 0)
    own = result.minor_faults + result.major_faults
    if result.vmstat is not None and system_faults > BUSY_FAULTS_FACTOR * own + BUSY_FAULTS_SLACK:
        findings.append(f"System-wide, /proc/vmstat counted {system_faults:,} page faults over the measured rounds, "
                        f"{system_faults / max(own, 1):.1f} times the {own:,} this run's workers took: other "
                        "processes were faulting too (a busy machine), so the system-wide counters are not this "
                        "run's alone, and its figures may be lower than on a quiet machine.")
    return findings


def _latency_findings(result: RunResult, fault_type: FaultType) -> list[str]:
    latency = result.latency
    if latency is None:
        return []
    from .latency import aliasing_note

    findings = []
    if fault_type.helper_thread:
        findings.append("uffd latency is the full round trip: the trap, the message to the handler thread, "
                        "its UFFDIO_COPY or UFFDIO_ZEROPAGE, and the wake-up of the faulting thread.")
    if latency.clock_note:
        findings.append(f"Latency: {latency.clock_note}.")
    huge_pages = result.system.get("huge_page_bytes") or platform.huge_page_bytes()
    aliasing = aliasing_note(latency.every, huge_pages // result.spec.page_size_bytes)
    if aliasing:
        findings.append(f"Latency: {aliasing}.")
    samples = latency.histogram.samples + latency.histogram.dropped
    if samples and latency.histogram.dropped / samples > DROPPED_SHARE_NOTE:
        findings.append(f"Latency: {latency.histogram.dropped:,} of {samples:,} samples were dropped because "
                        "the thread moved to another CPU between the two counter reads; pin the threads "
                        "(--first-cpu 0) to keep them.")
    return findings


def system_warnings(facts: dict) -> list[str]:
    """Returns a sentence for each system fact known to disturb fault measurements."""
    warnings: list[str] = []
    if facts.get("hypervisor"):
        warnings.append(f"Running under a hypervisor ({facts['hypervisor']}): each fault also walks "
                        "the host's nested page tables, and other guests steal time; compare results "
                        "only with results from the same kind of machine.")
    governors = facts.get("cpu_governors") or []
    if any(governor != "performance" for governor in governors):
        warnings.append(f"CPU frequency governor {', '.join(governors)}: the clock changes under load "
                        "and moves the figures; set the performance governor for stable results.")
    if facts.get("thp_enabled") == "always":
        warnings.append("Transparent huge pages are 'always': faultput's objects opt out, but khugepaged "
                        "works in the background and other memory gets huge pages.")
    settings = facts.get("thp_settings") or {}
    always = [name.split("/")[0] for name, word in settings.items() if "/" in name and word == "always"]
    if always:
        warnings.append(f"Large folio sizes set to 'always' ({', '.join(always)}): memory outside faultput's "
                        "objects gets them, and runs with --thp measure them; --folio-size chooses one.")
    if facts.get("thp_defrag") == "always":
        warnings.append("THP defrag is 'always': huge page faults (--thp, the thp type) stall in direct "
                        "compaction.")
    if (facts.get("numa_nodes") or 1) > 1:
        warnings.append(f"{facts['numa_nodes']} NUMA nodes: pin the workers (--first-cpu) so that memory "
                        "stays local and runs stay comparable.")
    total, available = facts.get("memory_total_bytes"), facts.get("memory_available_bytes")
    if total and available is not None and available < 0.25 * total:
        warnings.append("Less than a quarter of memory is available: reclaim may run during the "
                        "measurement.")
    if str(facts.get("memory_available_source", "")).startswith("cgroup"):
        warnings.append(f"A cgroup memory limit binds ({facts['cgroup']}): runs near it will reclaim.")
    return warnings
