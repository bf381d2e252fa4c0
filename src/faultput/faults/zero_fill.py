"""zero-fill: the first write to private anonymous memory allocates and zeroes a page."""

from .base import FaultType, observe_anonymous


class ZeroFill(FaultType):
    name = "zero-fill"
    summary = "first write to private anonymous memory: the kernel allocates and zeroes a page"
    touch = "write"
    observe = observe_anonymous


FAULT_TYPE = ZeroFill()
