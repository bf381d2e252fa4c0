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

    if not fault_type.traps:
        findings.append(f"The kernel counted {faults_per_page:.2f} faults per page, but none was a trap: "
                        f"{fault_type.name} takes its faults inside a system call, which getrusage counts "
                        "as page faults all the same.")
    findings += _off_cpu_findings(result, fault_type)

    touched = sum(iteration.pages_touched for iteration in result.measured)
    if touched != result.pages:
        findings.append(f"The workers touched {touched} pages where the objects hold {result.pages}: "
                        "the work queue did not cover each page exactly once.")
    return fault_type.observe(faults_per_page, resident), tuple(findings)


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
    elif result.spec.threads > platform.online_cpus():
        cause = "there are more workers than CPUs"
    else:
        cause = ("another process took CPU time, too few CPUs were free, or the workers waited on a lock "
                 "(the address-space lock, in threads mode)")
    return [f"The workers were on a CPU for only {share:.0%} of threads x wall time "
            f"({result.workers_cpu_ns / 1e9:.3f} s of {available_ns / 1e9:.3f} s): likely {cause}. "
            "Pages per wall second then measures waiting as well as faulting."]


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
