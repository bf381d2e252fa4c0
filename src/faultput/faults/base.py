"""What a fault type is: what to map, how to touch it, and what the kernel should count."""

from __future__ import annotations

from dataclasses import dataclass

from .. import platform


@dataclass(frozen=True)
class FaultType:
    """One kind of page fault faultput can measure.

    name: the short name used on the command line and in results.
    summary: one line on what it measures.
    access: "write" or "read", how the touch loop touches each page.
    faults_per_page: kernel faults one touched base page should cost.
    resident_pages_per_page: pages the kernel should allocate per touched page
        (1 for a zero fill fault, 0 for a fault that maps the shared zero page).
    linux_note: what a user coming from the seed (XNU) should know, or None.
    """

    name: str
    summary: str
    access: str
    faults_per_page: float
    resident_pages_per_page: float
    linux_note: str | None = None

    @property
    def writes(self) -> bool:
        """Returns whether the touch loop writes (rather than reads) each page."""
        return self.access == "write"

    def map_object(self, size_bytes: int, allow_thp: bool) -> int:
        """Maps one object to fault in; returns its address. Raises OSError."""
        return platform.map_anonymous(size_bytes, allow_thp)

    def unmap_object(self, address: int, size_bytes: int) -> None:
        """Undoes map_object."""
        platform.unmap(address, size_bytes)
