"""shmem: write to shared anonymous memory, backed by tmpfs (shmem) pages."""

from .. import platform
from .base import FaultType, RunState


class SharedAnonymous(FaultType):
    name = "shmem"
    summary = "first write to shared anonymous memory: the kernel allocates a shmem (tmpfs) page"
    touch = "write"
    resident_kind = "shmem"
    # Each process maps its own shared anonymous region; only a file is shared between processes.
    shared_between_processes = False

    def map_object(self, state: RunState, k: int, address: int | None = None) -> int:
        return platform.map_memory(state.spec.object_size_bytes, shared=True,
                                   huge_pages=state.spec.huge_pages, address=address)


FAULT_TYPE = SharedAnonymous()
