"""zero-page: the first read of private anonymous memory maps the shared zero page."""

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


FAULT_TYPE = ZeroPage()
