"""Judges whether a result measured what it set out to, from the kernel's own counts.

Each finding is one plain sentence for the user; the engine stores them with
the result, and every output shows them.
"""

from __future__ import annotations

from .faults.base import FaultType
from .result import RunResult

# How far faults per page may stray from the fault type's expectation before we say so.
FAULTS_PER_PAGE_TOLERANCE = 0.10


def judge(result: RunResult, fault_type: FaultType, thp_enabled: str | None) -> tuple[str, ...]:
    """Returns the findings about a result: empty when it measured exactly what was meant."""
    faults_per_page = result.faults_per_page
    if faults_per_page is None:
        return ()
    findings: list[str] = []
    if fault_type.linux_note:
        findings.append(fault_type.linux_note)

    expected = fault_type.faults_per_page
    if abs(faults_per_page - expected) > FAULTS_PER_PAGE_TOLERANCE * expected:
        if faults_per_page < expected and result.spec.thp:
            findings.append(
                f"THP folded about {expected / faults_per_page:.0f} pages into each fault: "
                f"{faults_per_page:.4f} faults per page where one fault per base page is "
                f"{expected:.2f}. These are huge page faults.")
        elif faults_per_page < expected:
            findings.append(
                f"{faults_per_page:.2f} faults per page, below the {expected:.2f} a {fault_type.name} "
                "fault costs: pages were already present, or the kernel mapped several per fault, "
                "so the figures are not one fault per page.")
        else:
            findings.append(
                f"{faults_per_page:.2f} faults per page, above the {expected:.2f} a {fault_type.name} "
                "fault costs: the kernel faulted some pages more than once.")
    elif result.spec.thp:
        findings.append(f"THP was allowed but the kernel used no huge pages (THP enabled: "
                        f"{thp_enabled or 'unavailable'}): one fault per base page.")

    resident = result.resident_pages_per_page
    if resident is not None:
        if fault_type.resident_pages_per_page >= 0.5 and resident < 0.5:
            findings.append(f"The kernel allocated {resident:.2f} pages per page touched where a "
                            f"{fault_type.name} fault allocates one: pages were already present.")
        elif fault_type.resident_pages_per_page < 0.5 and resident >= 0.5:
            findings.append(f"The kernel allocated {resident:.2f} pages per page read: the shared "
                            "zero page was not used (THP use_zero_page off, or a kernel without it).")

    touched = sum(iteration.pages_touched for iteration in result.measured)
    if touched != result.pages:
        findings.append(f"The workers touched {touched} pages where the objects hold {result.pages}: "
                        "the work queue did not cover each page exactly once.")
    return tuple(findings)
