"""uffd: missing-page faults resolved in user space by a userfaultfd handler thread (UFFDIO_COPY)."""

from .. import _core, platform
from .base import FaultType, RunState


class UserFault(FaultType):
    name = "uffd"
    summary = ("write to anonymous memory registered with userfaultfd: a native handler thread "
               "resolves each fault with UFFDIO_COPY (VM snapshot restore, live migration)")
    touch = "write"
    # One handler thread per process; the work queue spans processes only through shared memory.
    modes = ("threads",)
    helper_thread = True
    # Resolve each fault with UFFDIO_COPY (a page of data); else UFFDIO_ZEROPAGE.
    copy = True

    def unavailable_reason(self, spec) -> str | None:
        return platform.userfaultfd_unavailable_reason()

    def open(self, spec, directory) -> RunState:
        state = super().open(spec, directory)
        state.extra["handler"] = _core.Uffd(self.copy)
        return state

    def map_object(self, state: RunState, k: int, address: int | None = None) -> int:
        address = super().map_object(state, k, address)
        try:
            state.extra["handler"].register(address, state.spec.object_size_bytes)
        except BaseException:
            super().unmap_object(state, address)
            raise
        return address

    def helper_cpu_ns(self, state: RunState) -> int | None:
        # The handler resolves every fault: its CPU time is part of what a fault costs.
        return state.extra["handler"].cpu_ns()

    def after_touch(self, state: RunState, addresses: list[int]) -> None:
        # Raises OSError if the handler failed to resolve a fault.
        state.extra["handler"].handled()

    def close(self, state: RunState) -> None:
        handler = state.extra.pop("handler", None)
        if handler is not None:
            handler.close()


FAULT_TYPE = UserFault()
