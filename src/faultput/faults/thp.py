"""thp: the first write to anonymous memory with MADV_HUGEPAGE: one fault maps a whole huge page."""

from .. import platform
from .base import FaultType, observe_anonymous


class TransparentHugePage(FaultType):
    name = "thp"
    summary = "first write to private anonymous memory with MADV_HUGEPAGE: one fault per huge page"
    touch = "write"
    observe = observe_anonymous

    def unavailable_reason(self, spec) -> str | None:
        mode = platform.thp_enabled()
        if mode is None:
            return "this kernel has no transparent huge pages (no /sys/kernel/mm/transparent_hugepage)"
        if mode == "never":
            return "transparent huge pages are disabled (/sys/kernel/mm/transparent_hugepage/enabled is never)"
        if spec.object_size_bytes % platform.huge_page_bytes():
            return (f"objects must be whole huge pages ({platform.huge_page_bytes() // 1024} KiB); "
                    "pass --object-size as a multiple of it")
        return None

    def huge_pages(self, thp_allowed: bool) -> str:
        return "request"

    def faults_per_page(self, spec) -> float:
        return spec.page_size_bytes / platform.huge_page_bytes()


FAULT_TYPE = TransparentHugePage()
