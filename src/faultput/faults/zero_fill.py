"""zero-fill: the first write to private anonymous memory allocates and zeroes a page."""

from .base import FaultType

FAULT_TYPE = FaultType(
    name="zero-fill",
    summary="first write to private anonymous memory: the kernel allocates and zeroes a page",
    access="write",
    faults_per_page=1.0,
    resident_pages_per_page=1.0,
)
