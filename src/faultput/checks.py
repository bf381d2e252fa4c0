"""Judges whether a result measured what it set out to, from the kernel's own counts.

Each finding is one plain sentence for the user; the engine stores them with
the result, and every output shows them.
"""

from __future__ import annotations

from .faults.base import FaultType
from .result import RunResult

# How far faults per page may stray from the fault type's expectation before we say so.
FAULTS_PER_PAGE_TOLERANCE = 0.10


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
            findings.append(
                f"The kernel mapped about {1 / faults_per_page:.0f} pages per fault ({faults_per_page:.4f} "
                f"faults per page, {expected:.4f} expected one page or fault-around window at a time): "
                "the page cache holds large folios, and a fault maps the whole folio.")
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

    touched = sum(iteration.pages_touched for iteration in result.measured)
    if touched != result.pages:
        findings.append(f"The workers touched {touched} pages where the objects hold {result.pages}: "
                        "the work queue did not cover each page exactly once.")
    return fault_type.observe(faults_per_page, resident), tuple(findings)


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
