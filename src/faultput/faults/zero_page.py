"""zero-page: the first read of private anonymous memory maps the shared zero page."""

from .. import platform
from .base import FaultType, observe_anonymous


class ZeroPage(FaultType):
    name = "zero-page"
    summary = "first read of private anonymous memory: Linux maps the shared zero page, allocating nothing"
    touch = "read"
    observe = observe_anonymous
    resident_pages_per_page = 0.0
    linux_note = ("On Linux a read of fresh anonymous memory maps the shared zero page and allocates "
                  "nothing, so these are zero page faults; on XNU the same read is a zero fill fault. "
                  "Use --fault zero-fill to measure zero fill faults.")


    def faults_per_page(self, spec) -> float:
        # A read maps the zero page, never a large folio: one fault per page, except that at
        # the PMD size the kernel may map its huge zero page in one fault.
        if spec.folio_size_bytes == platform.huge_page_bytes() and platform.use_zero_page():
            return spec.page_size_bytes / spec.folio_size_bytes
        return 1.0


FAULT_TYPE = ZeroPage()
