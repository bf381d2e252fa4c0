"""populate: MADV_POPULATE_WRITE: zero fill's allocation and zeroing without the trap."""

from .. import platform
from .base import FaultType


class Populate(FaultType):
    name = "populate"
    summary = ("MADV_POPULATE_WRITE over private anonymous memory: zero fill without the trap, "
               "so trap cost reads off against zero-fill")
    touch = "populate"
    traps = False
    linux_note = ("populate faults pages in from a system call, one call per object (per page in "
                  "share-objects): compare its pages per CPU second with zero-fill's for the cost "
                  "of the trap itself.")

    def unavailable_reason(self, spec) -> str | None:
        return platform.populate_unavailable_reason()


FAULT_TYPE = Populate()
