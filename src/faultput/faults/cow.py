"""cow: copy-on-write after fork: every write copies a page a child process still holds."""

from .. import _core, platform
from .base import FaultType, RunState


class CopyOnWrite(FaultType):
    name = "cow"
    summary = ("write to private anonymous memory shared with a forked child: "
               "each fault copies the page")
    touch = "write"
    # The original pages stay (held by the child, or in the page cache) beside the copies.
    memory_copies = 2
    # The copy replaces an anonymous page with another: the resident count does not move.
    resident_kind = None
    # Each worker process would need its own child; the seed's shared work queue cannot express that.
    modes = ("threads",)

    def before_touch(self, state: RunState, addresses: list[int]) -> None:
        spec = state.spec
        for address in addresses:
            _core.touch(address, spec.object_size_bytes, spec.page_size_bytes, _core.TOUCH_WRITE)
        state.extra["child"] = _core.hold_in_child()

    def after_touch(self, state: RunState, addresses: list[int]) -> None:
        child = state.extra.pop("child", None)
        if child is not None:
            platform.kill_and_reap(child)


FAULT_TYPE = CopyOnWrite()
