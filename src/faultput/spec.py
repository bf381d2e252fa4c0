"""A run specification: plain, immutable data saying exactly what to measure.

make_spec() turns a user's choices into a RunSpec, filling in the seed's
defaults and refusing, with a UsageError naming the bad value, anything the
machine cannot hold. It reads facts of the machine; nothing is mapped or
started here (faults.check_runnable asks whether a fault type can run).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass

from . import platform
from .errors import CannotRunHere, UsageError
from .faults import FAULT_TYPE_FOR_ACCESS, all_fault_types, get_fault_type

SEPARATE_OBJECTS = "separate-objects"
SHARE_OBJECTS = "share-objects"
VARIANTS = (SEPARATE_OBJECTS, SHARE_OBJECTS)
ACCESSES = tuple(FAULT_TYPE_FOR_ACCESS)
# Workers are threads of one process, sharing its address space, as in the seed...
THREADS_MODE = "threads"
# ...or each its own process with its own address space, as will-it-scale's _processes.
PROCESSES_MODE = "processes"
MODES = (THREADS_MODE, PROCESSES_MODE)
# What an address-space writer does in a loop while a round runs (--writer-op), and to how much.
WRITER_OPS = ("mmap", "mprotect")
WRITER_REGION_BYTES = 64 * 1024

# The seed's object size on macOS, where VM objects coalesce up to 128 MiB.
DEFAULT_OBJECT_SIZE_BYTES = 128 * 1024 * 1024

# Mappings the run makes beside its objects (threads' stacks, the gate, libraries loaded later).
_MAPPING_SLACK = 256

_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class RunSpec:
    """Everything one measurement needs, resolved.

    Memory per iteration is object_size_bytes * object_count; every object is
    mapped at the start of each iteration and unmapped after its clock stops.
    worker_cpus is None when threads are not pinned, else worker i's CPU.
    directory is where a file-backed fault type makes its private directory.
    wall_clock is where each iteration's wall time ends: "last-worker" (when the last
    worker finished its last item) or "main-thread" (when the main thread saw it, as
    the seed stamps it).
    touch is how the touch loop touches a page: "read", "write" or "populate".
    mmap_writers is how many threads write the address space (writer_op: mmap and munmap,
    or mprotect, of WRITER_REGION_BYTES) while each round runs, to contend with the faults.
    folio_size_bytes is the one folio size the kernel may use (--folio-size; the base page:
    none), None where the run leaves the folio sizes as the system has them.
    latency_every is how --latency samples: None without it, 0 for the default (every page
    unless that costs more than 3% of throughput, measured in the first three warmup
    iterations), else every Nth page.
    counters is whether each worker counts itself with perf_event counters (--no-counters: not);
    profile whether call stacks are sampled in the measured rounds (--profile).
    thp is what the user asked (--thp); huge_pages the policy the objects get from it
    and the fault type: "off" (MADV_NOHUGEPAGE), "allow", "request" (MADV_HUGEPAGE)
    or "hugetlb" (MAP_HUGETLB).
    """

    fault_type: str
    touch: str
    mode: str
    variant: str
    threads: int
    duration_s: float
    warmup_iterations: int
    thp: bool
    huge_pages: str
    object_size_bytes: int
    object_count: int
    page_size_bytes: int
    first_cpu: int | None
    worker_cpus: tuple[int, ...] | None
    directory: str | None = None
    wall_clock: str = "last-worker"
    folio_size_bytes: int | None = None
    mmap_writers: int = 0
    writer_op: str = "mmap"
    latency_every: int | None = None
    counters: bool = True
    profile: bool = False

    @property
    def memory_bytes(self) -> int:
        """Returns the bytes mapped (and faulted) in each iteration."""
        return self.object_size_bytes * self.object_count

    @property
    def pages_per_object(self) -> int:
        """Returns the base pages in one object."""
        return self.object_size_bytes // self.page_size_bytes

    @property
    def pages_per_iteration(self) -> int:
        """Returns the pages one iteration faults in, counted per object as the seed does."""
        return self.pages_per_object * self.object_count


def format_bytes(size_bytes: int | float) -> str:
    """Returns a size in binary units, e.g. '128 MiB'."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_cpus(cpus) -> str:
    """Returns a CPU set as ranges, e.g. '0-3,6'."""
    ordered = sorted(cpus)
    ranges: list[str] = []
    start = previous = None
    for cpu in ordered + [None]:
        if start is not None and (cpu is None or cpu != previous + 1):
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if cpu is not None and start is None:
            start = cpu
        previous = cpu
    return ",".join(ranges)


# Bounds on what a user may ask for: generous for any real machine, and small enough that a
# slip of the keyboard is refused at once rather than run for years or fill memory.
MAX_THREADS = 4096
LATENCY_PROBE_ROUNDS = 3
MAX_DURATION_S = 7 * 24 * 3600.0
MIN_DURATION_S = 0.001
MAX_WARMUP_ITERATIONS = 10_000
MAX_REPEATS = 10_000
MAX_SIZE_BYTES = 1 << 50

_ASCII_NUMBER = r"[0-9]+(?:\.[0-9]+)?"


def parse_size(text: str, what: str) -> int:
    """Returns a byte count from '4096', '4k', '128M', '1GiB'; raises UsageError."""
    match = re.fullmatch(rf"\s*({_ASCII_NUMBER})\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text, re.ASCII)
    if not match:
        raise UsageError(f"{what} {text!r} is not a size (examples: 4096, 64K, 128M, 2G)")
    size = float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if size != int(size) or size <= 0:
        raise UsageError(f"{what} {text!r} must be a positive whole number of bytes")
    if size > MAX_SIZE_BYTES:
        raise UsageError(f"{what} {text!r} is larger than {format_bytes(MAX_SIZE_BYTES)}")
    return int(size)


def parse_duration(text: str) -> float:
    """Returns a finite number of seconds between MIN_DURATION_S and MAX_DURATION_S; raises UsageError."""
    if not re.fullmatch(rf"\s*({_ASCII_NUMBER}|[0-9]*\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*", text, re.ASCII):
        if re.fullmatch(r"\s*-.*", text):
            raise UsageError(f"duration {text!r} must be a positive number of seconds")
        if re.fullmatch(r"\s*[-+]?(inf|infinity|nan)\s*", text, re.IGNORECASE):
            raise UsageError(f"duration {text!r} must be a finite number of seconds")
        raise UsageError(f"duration {text!r} is not a number of seconds")
    duration_s = float(text)
    if duration_s <= 0:
        raise UsageError(f"duration {text!r} must be a positive number of seconds")
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise UsageError(f"duration {text!r} must be between {MIN_DURATION_S:g} and {MAX_DURATION_S:g} "
                         "seconds (a week)")
    return duration_s


def parse_count(text: str, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Returns a whole number between minimum and maximum; raises UsageError naming the value."""
    if not re.fullmatch(r"\s*[-+]?[0-9]+\s*", text, re.ASCII):
        raise UsageError(f"{what} {text!r} is not a whole number")
    value = int(text)
    if value < minimum:
        adjective = "positive" if minimum == 1 else f"at least {minimum}"
        raise UsageError(f"{what} {text!r} must be {adjective}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{what} {text!r} must be at most {maximum:,}")
    return value


def parse_list(text: str, option: str, choices) -> list[str]:
    """Returns the comma-separated names of text, in order, each once, each one of choices;
    raises UsageError naming the option and an empty or unknown item."""
    names = [name.strip() for name in text.split(",")]
    if any(not name for name in names):
        raise UsageError(f"{option} {text!r} has an empty item (separate names with single commas)")
    for name in names:
        if name not in choices:
            raise UsageError(f"{option} {name!r} is not one of: {', '.join(choices)}")
    return list(dict.fromkeys(names))


def parse_thread_counts(text: str) -> list[int]:
    """Returns the thread counts of '4', '1,2,4' or '1-8' (mixable: '1,2,8-10'), in order,
    each at most MAX_THREADS."""
    counts: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"threads {text!r} has an empty item (separate counts with single commas)")
        low, dash, high = part.partition("-")
        if dash:
            if not low or not high:
                raise UsageError(f"threads range {part!r} needs a first and a last count, e.g. 1-8")
            first = parse_count(low, "threads", maximum=MAX_THREADS)
            last = parse_count(high, "threads", maximum=MAX_THREADS)
            if last < first:
                raise UsageError(f"threads range {part!r} runs backwards")
            counts.extend(range(first, last + 1))
        else:
            counts.append(parse_count(part, "threads", maximum=MAX_THREADS))
    return list(dict.fromkeys(counts))


def sweep_thread_counts(max_threads: int) -> list[int]:
    """Returns 1..max_threads (the wrapper's --through-max-workers)."""
    return list(range(1, max_threads + 1))


def fast_sweep_thread_counts(max_threads: int) -> list[int]:
    """Returns 1, 2 and each power of 4 up to max_threads (the wrapper's --through-max-workers-fast)."""
    counts = [1]
    if max_threads >= 2:
        counts.append(2)
    power = 4
    while power <= max_threads:
        counts.append(power)
        power *= 4
    return counts


def make_spec(
    *,
    variant: str,
    threads: int,
    duration_s: float,
    fault_type: str | None = None,
    access: str | None = None,
    mode: str = THREADS_MODE,
    directory: str | None = None,
    first_cpu: int | None = None,
    thp: bool = False,
    object_size_bytes: int | None = None,
    memory_bytes: int | None = None,
    warmup_iterations: int = 0,
    oversubscribe: bool = False,
    wall_clock: str = "last-worker",
    folio_size_bytes: int | None = None,
    mmap_writers: int = 0,
    writer_op: str = "mmap",
    latency_every: int | None = None,
    counters: bool = True,
    profile: bool = False,
) -> RunSpec:
    """Returns the RunSpec a user's choices resolve to; raises UsageError naming the first bad
    value, or CannotRunHere for a combination the fault type cannot run in.

    It reads facts of the machine (CPUs, page size, memory, mappings, free disk) but maps,
    starts and changes nothing: whether the fault type can run here at all is asked by
    faults.check_runnable(spec). Defaults follow the seed: 128 MiB objects and one object's
    worth of memory per online CPU, whatever the thread count (per thread when
    oversubscribed, so every thread still gets work).
    """
    kind = _fault_type_of(fault_type, access)
    _check_combination(kind, variant, mode)
    if folio_size_bytes is not None:
        from .folios import unsupported_reason

        reason = unsupported_reason(kind.name)
        if reason is not None:
            raise CannotRunHere(f"--folio-size does not apply to {kind.name}: {reason}")
    if latency_every is not None and kind.touch == "populate":
        raise CannotRunHere(f"--latency does not apply to {kind.name}: it faults a whole object in one "
                            "madvise call, so no single page has a time of its own")
    if latency_every is not None and latency_every < 0:
        raise UsageError(f"latency interval {latency_every} must be positive")
    if latency_every == 0:
        # The default interval is chosen in three warmup rounds: one to warm up, then one
        # without sampling against one sampling every page.
        warmup_iterations = max(warmup_iterations, LATENCY_PROBE_ROUNDS)
    if profile:
        refusal = platform.profiling_refusal()
        if refusal is not None:
            raise UsageError(f"--profile cannot run here: {refusal}")
    if writer_op not in WRITER_OPS:
        raise UsageError(f"unknown writer op {writer_op!r} (choose {' or '.join(WRITER_OPS)})")
    if mmap_writers and mode == PROCESSES_MODE:
        raise CannotRunHere("--mmap-writers contend for the workers' one address space, which only threads "
                            "mode has (in processes mode each worker has its own): use --mode threads")
    ncpu = platform.online_cpus()
    if threads < 1:
        raise UsageError(f"threads {threads} must be positive")
    if warmup_iterations < 0:
        raise UsageError(f"warmup {warmup_iterations} must be zero or more")
    if threads > ncpu and not oversubscribe:
        raise UsageError(f"threads {threads} is more than the {ncpu} online CPUs; "
                         "pass --oversubscribe to run more threads than CPUs")
    page_size_bytes = platform.page_size_bytes()
    object_size_bytes, object_count = _objects(variant, threads, page_size_bytes, object_size_bytes,
                                               memory_bytes or (object_size_bytes or DEFAULT_OBJECT_SIZE_BYTES)
                                               * max(ncpu, threads))
    _check_memory(kind, object_size_bytes, object_count)
    return RunSpec(
        fault_type=kind.name,
        touch=kind.touch,
        mode=mode,
        variant=variant,
        threads=threads,
        duration_s=duration_s,
        warmup_iterations=warmup_iterations,
        thp=thp,
        # A folio size is asked for with MADV_HUGEPAGE; the settings allow that one size.
        huge_pages="request" if folio_size_bytes is not None else kind.huge_pages(thp),
        object_size_bytes=object_size_bytes,
        object_count=object_count,
        page_size_bytes=page_size_bytes,
        first_cpu=first_cpu,
        worker_cpus=_worker_cpus(first_cpu, threads, ncpu),
        directory=_file_directory(directory, object_size_bytes * object_count) if kind.uses_files else None,
        wall_clock=wall_clock,
        folio_size_bytes=folio_size_bytes,
        mmap_writers=mmap_writers,
        writer_op=writer_op,
        latency_every=latency_every,
        counters=counters,
        profile=profile,
    )


def _fault_type_of(fault_type: str | None, access: str | None):
    """Returns the fault type asked for, by name or by the seed's --access."""
    if access is not None and access not in ACCESSES:
        raise UsageError(f"unknown access {access!r} (choose {' or '.join(ACCESSES)})")
    if fault_type is None:
        return get_fault_type(FAULT_TYPE_FOR_ACCESS[access or "write"])
    if access is not None:
        raise UsageError(f"access {access!r} only chooses between zero-fill and zero-page; "
                         f"fault type {fault_type!r} decides its own access")
    return get_fault_type(fault_type)


def _check_combination(kind, variant: str, mode: str) -> None:
    """Refuses an unknown variant or mode, and a mode or variant the fault type cannot run in."""
    if variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r} (choose {' or '.join(VARIANTS)})")
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r} (choose {' or '.join(MODES)})")
    if mode not in kind.modes:
        raise CannotRunHere(f"fault type {kind.name} runs only in {' and '.join(kind.modes)} mode, "
                            f"not {mode} mode")
    if mode == PROCESSES_MODE and variant == SHARE_OBJECTS and not kind.shared_between_processes:
        sharing = [name for name, other in all_fault_types().items() if other.shared_between_processes]
        raise CannotRunHere(f"share-objects in processes mode needs a mapping the processes share "
                            f"page for page; {kind.name} gives each process its own pages (use threads "
                            f"mode, or one of {', '.join(sharing)})")


def _objects(variant: str, threads: int, page_size_bytes: int, object_size_bytes: int | None,
             memory_bytes: int) -> tuple[int, int]:
    """Returns (object size, object count) for the memory asked for, refusing a layout the
    variant cannot share out among the threads."""
    if object_size_bytes is None:
        object_size_bytes = DEFAULT_OBJECT_SIZE_BYTES
    if object_size_bytes % page_size_bytes:
        raise UsageError(f"object size {object_size_bytes} is not a multiple of the "
                         f"{page_size_bytes}-byte page size")
    object_count = memory_bytes // object_size_bytes
    if object_count < 1:
        raise UsageError(f"memory {format_bytes(memory_bytes)} is smaller than one object "
                         f"({format_bytes(object_size_bytes)})")
    if variant == SEPARATE_OBJECTS and object_count < threads:
        raise UsageError(f"separate-objects needs an object per thread: memory "
                         f"{format_bytes(memory_bytes)} holds {object_count} objects of "
                         f"{format_bytes(object_size_bytes)} for {threads} threads; raise --memory")
    if variant == SHARE_OBJECTS and object_size_bytes // page_size_bytes < threads:
        raise UsageError(f"share-objects needs objects of at least one page per thread: object size "
                         f"{format_bytes(object_size_bytes)} is under {threads} pages")
    return object_size_bytes, object_count


def _check_memory(kind, object_size_bytes: int, object_count: int) -> None:
    """Refuses a run that would hold more memory, or more mappings, than this process may."""
    mapped_bytes = object_count * object_size_bytes
    held_bytes = mapped_bytes * kind.memory_copies
    available_bytes, source = platform.memory_available()
    if available_bytes is not None and held_bytes > available_bytes:
        copies = (f" ({kind.name} holds {kind.memory_copies} copies of every page: "
                  f"{format_bytes(held_bytes)})" if kind.memory_copies > 1 else "")
        raise UsageError(f"memory {format_bytes(mapped_bytes)}{copies} is more than this process can use "
                         f"({format_bytes(available_bytes)} available, from {source})")
    # Each object is a mapping of its own, and a process may hold only vm.max_map_count of them.
    map_limit = platform.max_map_count()
    in_use = platform.mapping_count()
    if map_limit is not None and object_count + in_use + _MAPPING_SLACK > map_limit:
        raise UsageError(f"memory {format_bytes(mapped_bytes)} in objects of {format_bytes(object_size_bytes)} "
                         f"is {object_count:,} mappings, and this process may hold {map_limit:,} "
                         f"(vm.max_map_count; {in_use:,} in use): pass a larger --object-size")


def _worker_cpus(first_cpu: int | None, threads: int, ncpu: int) -> tuple[int, ...] | None:
    """Returns worker i's CPU, (i + first_cpu) mod online CPUs, or None when not pinned."""
    if first_cpu is None:
        return None
    allowed = platform.allowed_cpus()
    if first_cpu < 0 or first_cpu >= ncpu or first_cpu not in allowed:
        raise UsageError(f"first CPU {first_cpu} is not one this process may use "
                         f"(allowed: {format_cpus(allowed)})")
    worker_cpus = tuple((i + first_cpu) % ncpu for i in range(threads))
    refused = sorted(set(worker_cpus) - allowed)
    if refused:
        raise UsageError(f"first CPU {first_cpu} would pin threads to CPU {format_cpus(refused)}, "
                         f"which this process may not use (allowed: {format_cpus(allowed)})")
    return worker_cpus


def _file_directory(directory: str | None, file_bytes: int) -> str:
    """Returns the directory a file-backed run makes its private directory in, checked for space."""
    directory = directory or tempfile.gettempdir()
    if not os.path.exists(directory):
        raise UsageError(f"directory {directory!r} does not exist")
    if not os.path.isdir(directory):
        raise UsageError(f"directory {directory!r} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"directory {directory!r} is not writable")
    free_bytes = platform.free_disk_bytes(directory)
    if free_bytes < file_bytes:
        raise UsageError(f"directory {directory!r} has {format_bytes(free_bytes)} free; the run's file "
                         f"needs {format_bytes(file_bytes)}")
    return directory
