"""zero-page: the first read of private anonymous memory maps the shared zero page."""

from .base import FaultType

FAULT_TYPE = FaultType(
    name="zero-page",
    summary="first read of private anonymous memory: Linux maps the shared zero page, allocating nothing",
    access="read",
    faults_per_page=1.0,
    resident_pages_per_page=0.0,
    linux_note=("On Linux a read of fresh anonymous memory maps the shared zero page and allocates "
                "nothing, so these are zero page faults; on XNU the same read is a zero fill fault. "
                "Use --access write to measure zero fill faults."),
)
