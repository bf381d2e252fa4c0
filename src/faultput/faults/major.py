"""major: read of a file mapping after its pages were dropped from the page cache."""

from .. import platform
from .base import FileBacked, RunState


class MajorFault(FileBacked):
    name = "major"
    summary = ("read of a file mapping whose pages were dropped from the page cache "
               "(POSIX_FADV_DONTNEED) before each iteration: major faults, read from disk")
    touch = "read"
    # MADV_RANDOM: each fault reads and maps its own page.
    maps_many_per_fault = False
    linux_note = ("Objects get MADV_RANDOM, so each fault reads its own page from disk rather than "
                  "a readahead window: one major fault per page.")

    def unavailable_reason(self, spec) -> str | None:
        filesystem = platform.filesystem_type(spec.directory)
        if filesystem in platform.MEMORY_FILESYSTEMS:
            return (f"{spec.directory} is on {filesystem}, which keeps files in memory: major faults "
                    "need a disk-backed filesystem; pass --dir on one")
        return None

    def map_object(self, state: RunState, k: int, address: int | None = None) -> int:
        address = super().map_object(state, k, address)
        platform.advise_random(address, state.spec.object_size_bytes)
        return address

    def before_touch(self, state: RunState, addresses: list[int]) -> None:
        platform.drop_cached_pages(state.fd)


FAULT_TYPE = MajorFault()
