"""What a fault type is: what to map, how to touch it, what to do around each iteration,
and what the kernel should count for one touched page.

Each module of this package subclasses FaultType, overrides only the hooks it
needs, and exposes one instance as FAULT_TYPE. The engine calls, in order:

    unavailable_reason(spec)     before anything: None, or why it cannot run here
    open(spec, directory)        once per run: files and handlers; returns its state
    map_object(state, k, address)    each iteration, for each object k: returns its address
                                 (address: where it must go, in processes mode, else None)
    before_touch(state, addresses)   each iteration, after mapping, before the clock
                                 (in processes mode the workers map; the main process
                                 only sees the addresses, so types that touch them here
                                 run in threads mode only)
    helper_cpu_ns(state)         before the clock starts and after it stops: the CPU time
                                 of a thread that serves faults beside the workers, or None
    after_touch(state, addresses)    each iteration, after the clock, always
    unmap_object(state, address)     each iteration, for each object
    close(state)                 once per run, always

Hooks never print; they raise OSError for the engine to report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _core, platform

TOUCH_MODES = {"read": _core.TOUCH_READ, "write": _core.TOUCH_WRITE, "populate": _core.TOUCH_POPULATE}


@dataclass
class RunState:
    """What a fault type keeps for one run: the spec, its files, and anything else it needs."""

    spec: Any
    directory: Path | None = None
    fd: int | None = None
    resident_kind: str | None = None
    cgroup: Path | None = None   # the memory cgroup whose memory.stat the engine reads
    extra: dict = field(default_factory=dict)


class FaultType:
    """One kind of page fault. Subclasses set the class attributes and override hooks.

    name: the short name used on the command line and in results.
    summary: one line on what it measures.
    touch: "read", "write" or "populate" (MADV_POPULATE_WRITE, no trap).
    resident_kind: which of this process's resident counters a touched page should
        grow ("anonymous", "file", "shmem"), or None where it says nothing.
    resident_pages_per_page: how much that counter should grow per page touched.
    uses_files: whether the type needs a private directory with a file in it.
    shared_between_processes: whether every process maps the same memory, so that
        share-objects means the same thing in processes mode as in threads mode.
    modes: the worker modes this type can run in.
    maps_many_per_fault: whether the kernel may map several pages per fault (file
        pages: fault-around, large page cache folios), so that fewer faults than
        expected is a fact to report rather than a sign something was wrong.
    linux_note: what a user coming from the seed (XNU) should know, or None.
    traps: whether each fault is a trap taken by the touch (False: populate's faults
        are taken inside a system call, which getrusage counts all the same).
    helper_thread: whether a thread beside the workers serves the faults (uffd's
        handler), whose CPU time helper_cpu_ns reports.
    memory_copies: how many bytes of memory the run holds per byte of objects (2 where
        each touched page is a copy of a page that stays: cow, file-cow).
    """

    name = ""
    summary = ""
    touch = "write"
    resident_kind: str | None = "anonymous"
    resident_pages_per_page: float = 1.0
    uses_files = False
    shared_between_processes = False
    modes = ("threads", "processes")
    maps_many_per_fault = False
    linux_note: str | None = None
    traps = True
    helper_thread = False
    memory_copies = 1

    @property
    def touch_mode(self) -> int:
        """Returns the native core's touch mode."""
        return TOUCH_MODES[self.touch]

    def unavailable_reason(self, spec) -> str | None:
        """Returns why this type cannot run spec on this machine, or None if it can."""
        return None

    def faults_per_page(self, spec) -> float:
        """Returns the kernel faults one touched base page should cost: one, or one per folio
        where a folio size was asked for."""
        if spec.folio_size_bytes:
            return spec.page_size_bytes / spec.folio_size_bytes
        return 1.0

    def observe(self, faults_per_page: float, resident_pages_per_page: float | None) -> str:
        """Returns, in a few words, what the kernel's counts show it did."""
        if faults_per_page < 0.5:
            return f"{self.name}, about {1 / faults_per_page:.0f} pages per fault"
        return self.name

    def huge_pages(self, thp_allowed: bool) -> str:
        """Returns the huge page policy for the objects (see platform.map_memory):
        "off", "allow", "request" or "hugetlb"."""
        return "allow" if thp_allowed else "off"

    def open(self, spec, directory: Path | None) -> RunState:
        """Prepares a run; returns the state every other hook receives."""
        return RunState(spec=spec, directory=directory)

    def map_object(self, state: RunState, k: int, address: int | None = None) -> int:
        """Maps object k for one iteration; returns its address."""
        return platform.map_memory(state.spec.object_size_bytes, huge_pages=state.spec.huge_pages,
                                   address=address)

    def before_touch(self, state: RunState, addresses: list[int]) -> None:
        """Runs after the objects are mapped and before the clock starts."""

    def resident_kind_for(self, spec) -> str | None:
        """Returns which of this process's resident counters a touched page grows here."""
        return self.resident_kind

    def folio_census(self, state: RunState) -> dict[int, int] | None:
        """Returns how the kernel holds this type's memory, {pages per folio: folios}, where
        that explains its faults per page (file pages), else None. Runs after the last round."""
        return None

    def helper_cpu_ns(self, state: RunState) -> int | None:
        """Returns the CPU time so far of a thread that serves this type's faults beside the
        workers (uffd's handler), read before and after each round; None where there is none."""
        return None

    def after_touch(self, state: RunState, addresses: list[int]) -> None:
        """Runs after the clock stops, before unmapping; always, even after Ctrl-C."""

    def unmap_object(self, state: RunState, address: int) -> None:
        """Undoes map_object."""
        platform.unmap(address, state.spec.object_size_bytes)

    def close(self, state: RunState) -> None:
        """Releases what open() acquired; always called."""


def observe_anonymous(fault_type: FaultType, faults_per_page: float,
                      resident_pages_per_page: float | None) -> str:
    """Returns "zero fill" where each touch allocated a page, "zero page" where it allocated
    nothing, with "huge" before it where one fault mapped many pages (THP). Where the
    allocation was not measured (processes mode), the type's own kind stands in for it."""
    allocated = (fault_type.resident_pages_per_page if resident_pages_per_page is None
                 else resident_pages_per_page)
    kind = "zero fill" if allocated >= 0.5 else "zero page"
    return f"huge {kind}" if faults_per_page < 0.5 else kind


class FileBacked(FaultType):
    """A fault type whose objects are slices of one file in the run's private directory.

    The file holds the whole iteration's memory, object k at offset k x object size.
    It is written with real data (not holes), fsynced, and so starts in the page cache.
    """

    uses_files = True
    shared_between_processes = True
    maps_many_per_fault = True
    map_shared = True
    resident_kind = "file"

    def open(self, spec, directory: Path | None) -> RunState:
        state = RunState(spec=spec, directory=directory)
        state.fd = platform.create_data_file(directory / f"{self.name}.data", spec.memory_bytes)
        return state

    def map_object(self, state: RunState, k: int, address: int | None = None) -> int:
        spec = state.spec
        return platform.map_memory(spec.object_size_bytes, shared=self.map_shared,
                                   writable=self.touch != "read", fd=state.fd,
                                   offset=k * spec.object_size_bytes, huge_pages=spec.huge_pages,
                                   address=address)

    def resident_kind_for(self, spec) -> str | None:
        # A file on tmpfs is shmem: its mapped pages grow RssShmem, not RssFile.
        if self.resident_kind == "file" and platform.filesystem_type(spec.directory) in platform.SHMEM_FILESYSTEMS:
            return "shmem"
        return self.resident_kind

    def folio_census(self, state: RunState) -> dict[int, int] | None:
        if not self.maps_many_per_fault:
            return None
        return platform.page_cache_folios(state.fd, state.spec.memory_bytes, state.spec.object_size_bytes)

    def close(self, state: RunState) -> None:
        if state.fd is not None:
            os.close(state.fd)
            state.fd = None
