"""A result: plain data holding every sample of one measurement, and the figures derived from it.

The engine builds RunResults; the outputs read them. Nothing here measures or prints.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Callable

from .latency import Latency
from .platform import COUNTER_EVENTS
from .profile import Profile
from .spec import RunSpec

# What makes two results measurements of the same thing, so that they can be pooled or compared.
CONFIG_FIELDS = ("fault_type", "variant", "mode", "threads", "huge_pages", "folio_size_bytes", "mmap_writers",
                 "writer_op",
                 "object_size_bytes", "memory_bytes", "first_cpu")


def config_key(spec: RunSpec) -> tuple:
    """Returns the configuration of a spec, without its duration, warmup or CPU count."""
    return tuple(getattr(spec, name) for name in CONFIG_FIELDS)


def folio_label(size_bytes: int) -> str:
    """Returns a folio size as the command line writes it: 4K, 64K, 2M."""
    return f"{size_bytes >> 20}M" if size_bytes % (1 << 20) == 0 else f"{size_bytes >> 10}K"


def config_label(spec: RunSpec, with_threads: bool = True, leave_out=()) -> str:
    """Returns the one name every output gives a configuration, e.g. 'zero-fill
    separate-objects threads x2' ('... allow-huge-pages x2' with --thp), leaving out
    the fields named in leave_out (those a comparison is about)."""
    words = [str(getattr(spec, name)) for name in ("fault_type", "variant", "mode") if name not in leave_out]
    if spec.folio_size_bytes is not None and "folio_size_bytes" not in leave_out:
        words.append(f"folio-{folio_label(spec.folio_size_bytes)}")
    elif spec.huge_pages != "off" and "huge_pages" not in leave_out:
        words.append(f"{spec.huge_pages}-huge-pages")
    if spec.mmap_writers and "mmap_writers" not in leave_out:
        words.append(f"+{spec.mmap_writers}-{spec.writer_op}-writer{'s' if spec.mmap_writers != 1 else ''}")
    if with_threads and "threads" not in leave_out:
        words.append(f"x{spec.threads}")
    return " ".join(words)


NS_PER_S = 1_000_000_000
# The perf_event counters of each worker, in the native core's slot order.
COUNTER_NAMES = tuple(name for name, _, _ in COUNTER_EVENTS)
# Where an iteration's wall clock stops: when the last worker finished its last item
# (faultput's), or when the main thread, woken by it, read the clock (the seed's).
LAST_WORKER_CLOCK = "last-worker"
MAIN_THREAD_CLOCK = "main-thread"


@dataclass(frozen=True)
class Figure:
    """One of a result's two throughput figures (the seed's), as every output names it."""

    key: str
    title: str
    value: Callable[["RunResult"], float | None]


# The seed's two figures; every output that shows them takes them from here.
FIGURES = (
    Figure("wall", "pages per wall second", lambda result: result.pages_per_wall_second),
    Figure("cpu", "pages per CPU second", lambda result: result.pages_per_cpu_second),
)


def _latency_percentile(quantile: float) -> Callable[["RunResult"], float | None]:
    def value(result: "RunResult") -> float | None:
        return None if result.latency is None else result.latency.histogram.percentile(quantile)
    return value


# The latency figures a comparison shows beside the throughput ones, where both files have
# --latency runs: each run's own percentile, compared across runs (never averaged).
LATENCY_FIGURES = (
    Figure("p50", "latency p50 in ns (lower is faster)", _latency_percentile(0.5)),
    Figure("p99", "latency p99 in ns (lower is faster)", _latency_percentile(0.99)),
)


@dataclass(frozen=True)
class WorkerRound:
    """One worker's share of one iteration, as the native core measured it."""

    cpu_ns: int
    minor_faults: int
    major_faults: int
    items: int
    pages: int
    end_ns: int
    # The worker's perf_event counters around its touch loops, in COUNTER_NAMES order (0 for
    # those not counted: RunResult.counter_status says which).
    counters: tuple[int, ...] = (0, 0, 0, 0, 0)


@dataclass(frozen=True)
class Iteration:
    """One iteration: every object mapped, faulted by all workers, unmapped.

    wall_ns runs from the release of the workers to the last one finishing;
    main_end_ns is when the main thread saw the round end (the seed's clock).
    helper_cpu_ns is the CPU time of the fault type's helper thread during the
    round (the userfaultfd handler), None where there is none.
    idle_ticks and cpu_ticks are how many of the /proc/stat ticks of the CPUs the workers
    could use passed idle, and in all, over the round (None where not read).
    writer_ops is how many operations the address-space writers made during the round
    (None without writers).
    vmstat is how far /proc/vmstat's fault-related counters moved over the round, system-wide
    (other processes add to them); memcg the same of faultput's memory cgroup's memory.stat
    (None where there is none); counters that did not move are left out.
    folio_counters is how much each large folio size's system-wide fault counters
    (hugepages-*/stats) moved over the round, {size: {counter: delta}} for the sizes
    that moved; None where they were not read (runs that allow no large folio).
    resident_added_bytes is how much the process's resident memory of the fault
    type's kind grew over the touches (0 when the kernel allocated nothing, as
    for the zero page; None where it says nothing: a fault type with no such
    kind, or processes mode, where the pages belong to the worker processes).
    """

    index: int
    warmup: bool
    start_ns: int
    end_ns: int
    main_end_ns: int
    resident_added_bytes: int | None
    helper_cpu_ns: int | None
    workers: tuple[WorkerRound, ...]
    folio_counters: dict[int, dict[str, int]] | None = None
    writer_ops: int | None = None
    idle_ticks: int | None = None
    cpu_ticks: int | None = None
    vmstat: dict[str, int] | None = None
    memcg: dict[str, int] | None = None

    def wall_ns_by(self, wall_clock: str) -> int:
        """Returns the wall time of this iteration in nanoseconds, ended as wall_clock says:
        "last-worker" (end_ns, faultput's) or "main-thread" (main_end_ns, the seed's)."""
        return (self.main_end_ns if wall_clock == MAIN_THREAD_CLOCK else self.end_ns) - self.start_ns

    @property
    def wall_ns(self) -> int:
        """Returns the wall time from the release to the last worker finishing, in nanoseconds."""
        return self.wall_ns_by(LAST_WORKER_CLOCK)

    @property
    def workers_cpu_ns(self) -> int:
        """Returns the CPU time all workers spent in the touch loop, in nanoseconds."""
        return sum(worker.cpu_ns for worker in self.workers)

    @property
    def cpu_ns(self) -> int:
        """Returns the CPU time that served the faults: the workers' touch loops plus the
        fault type's helper thread (the userfaultfd handler), in nanoseconds."""
        return self.workers_cpu_ns + (self.helper_cpu_ns or 0)

    @property
    def pages_touched(self) -> int:
        """Returns the touches the workers made."""
        return sum(worker.pages for worker in self.workers)


@dataclass(frozen=True)
class RunResult:
    """One measurement of one specification: every iteration, and what surrounded it.

    observed_fault and findings are the judgement of checks.judge on the kernel's counts.
    page_cache_folios is how the page cache held a file-backed type's file after the run,
    {pages per folio: folios} (None where not measured: other types, or no root).
    latency is what --latency measured (None without it).
    counter_status says, per perf_event counter (COUNTER_NAMES), whether every worker counted
    it ({"counted", "user_only", "why"}); cgroup names faultput's memory cgroup and how many
    other processes share it (None where there is none). profile holds the call stacks --profile
    sampled on the workers in the measured rounds (None without it).
    interrupted marks a partial result: stopped_by names the signal that stopped it
    (SIGINT, SIGTERM), error the failure that ended it (a worker process that died).
    """

    spec: RunSpec
    tool_version: str
    system: dict
    started_at: str
    ended_at: str
    iterations: tuple[Iteration, ...]
    interrupted: bool = False
    stopped_by: str | None = None
    error: str | None = None
    repeat: int = 0
    observed_fault: str | None = None
    findings: tuple[str, ...] = field(default=())
    page_cache_folios: dict[int, int] | None = None
    latency: Latency | None = None
    counter_status: dict[str, dict] | None = None
    cgroup: dict | None = None
    profile: "Profile | None" = None

    @property
    def measured(self) -> tuple[Iteration, ...]:
        """Returns the iterations that count: all but the warmups."""
        return tuple(iteration for iteration in self.iterations if not iteration.warmup)

    @property
    def pages(self) -> int:
        """Returns pages faulted in the measured iterations, counted per object as the seed does."""
        return self.spec.pages_per_iteration * len(self.measured)

    def iteration_wall_ns(self, iteration: Iteration) -> int:
        """Returns an iteration's wall time, ended as the spec's wall_clock says."""
        return iteration.wall_ns_by(self.spec.wall_clock)

    def iteration_figures(self, iteration: Iteration) -> dict[str, float | None]:
        """Returns one iteration's pages per wall and CPU second and faults per page, computed
        as the result's own figures are."""
        pages = self.spec.pages_per_iteration
        wall_ns = self.iteration_wall_ns(iteration)
        faults = sum(worker.minor_faults + worker.major_faults for worker in iteration.workers)
        return {"pages_per_wall_second": pages * NS_PER_S / wall_ns if wall_ns else None,
                "pages_per_cpu_second": pages * NS_PER_S / iteration.cpu_ns if iteration.cpu_ns else None,
                "faults_per_page": faults / pages}

    @property
    def wall_ns(self) -> int:
        """Returns the summed wall time of the measured iterations, ended as the spec's wall_clock says."""
        return sum(self.iteration_wall_ns(iteration) for iteration in self.measured)

    @property
    def cpu_ns(self) -> int:
        """Returns the summed CPU time that served the measured iterations' faults: every
        worker's touch loop, and the helper thread where the fault type has one."""
        return sum(iteration.cpu_ns for iteration in self.measured)

    @property
    def workers_cpu_ns(self) -> int:
        """Returns the summed touch-loop CPU time of the workers alone."""
        return sum(iteration.workers_cpu_ns for iteration in self.measured)

    @property
    def folio_counters(self) -> dict[int, dict[str, int]] | None:
        """Returns the large folio counters' movement summed over the measured iterations."""
        if not self.measured or self.measured[0].folio_counters is None:
            return None
        total: dict[int, dict[str, int]] = {}
        for iteration in self.measured:
            for size, counters in (iteration.folio_counters or {}).items():
                for name, delta in counters.items():
                    total.setdefault(size, {}).setdefault(name, 0)
                    total[size][name] += delta
        return total

    def counted_iterations(self, name: str) -> tuple[Iteration, ...]:
        """Returns the iterations a perf_event counter counted in: the measured ones, or the
        warmups for a counter counted there only (traps: counting them slows every fault);
        none where it was not counted."""
        status = (self.counter_status or {}).get(name, {})
        if not status.get("counted"):
            return ()
        if status.get("rounds") == "warmup":
            return tuple(iteration for iteration in self.iterations if iteration.warmup)
        return self.measured

    def per_fault(self) -> dict[str, float | None]:
        """Returns what the counters say per fault, each over the iterations it counted in:
        traps per page touched, cycles and instructions per fault, context switches and
        migrations per 1,000 faults (None for a counter not counted)."""
        def per(name, of_pages=False, scale=1.0):
            iterations = self.counted_iterations(name)
            slot = COUNTER_NAMES.index(name)
            total = sum(worker.counters[slot] for iteration in iterations for worker in iteration.workers)
            denominator = sum(worker.pages if of_pages else worker.minor_faults + worker.major_faults
                              for iteration in iterations for worker in iteration.workers)
            return total * scale / denominator if iterations and denominator else None

        return {"traps_per_page": per("traps", of_pages=True),
                "cycles_per_fault": per("cycles"),
                "instructions_per_fault": per("instructions"),
                "context_switches_per_1000_faults": per("context_switches", scale=1000),
                "migrations_per_1000_faults": per("migrations", scale=1000)}

    def _summed(self, field_name: str) -> dict[str, int] | None:
        if not self.measured or getattr(self.measured[0], field_name) is None:
            return None
        total: dict[str, int] = {}
        for iteration in self.measured:
            for name, delta in (getattr(iteration, field_name) or {}).items():
                total[name] = total.get(name, 0) + delta
        return total

    @property
    def vmstat(self) -> dict[str, int] | None:
        """Returns /proc/vmstat's movement summed over the measured rounds (system-wide)."""
        return self._summed("vmstat")

    @property
    def memcg(self) -> dict[str, int] | None:
        """Returns faultput's memory cgroup's memory.stat movement over the measured rounds."""
        return self._summed("memcg")

    @property
    def idle_share(self) -> float | None:
        """Returns the share of the CPUs the workers could use that was idle during the measured
        rounds (will-it-scale's idle column), or None where not measured."""
        ticks = [(it.idle_ticks, it.cpu_ticks) for it in self.measured if it.cpu_ticks is not None]
        total = sum(all_ticks for _, all_ticks in ticks)
        return sum(idle for idle, _ in ticks) / total if total else None

    @property
    def writer_ops_per_second(self) -> float | None:
        """Returns the address-space writers' operations per wall second of the measured rounds."""
        if not self.measured or self.measured[0].writer_ops is None or not self.wall_ns:
            return None
        return sum(iteration.writer_ops or 0 for iteration in self.measured) * NS_PER_S / self.wall_ns

    @property
    def helper_cpu_ns(self) -> int | None:
        """Returns the summed CPU time of the helper thread (uffd's handler), or None without one."""
        if not self.measured or self.measured[0].helper_cpu_ns is None:
            return None
        return sum(iteration.helper_cpu_ns or 0 for iteration in self.measured)

    @property
    def minor_faults(self) -> int:
        """Returns the minor faults the kernel counted in the measured iterations."""
        return sum(w.minor_faults for iteration in self.measured for w in iteration.workers)

    @property
    def major_faults(self) -> int:
        """Returns the major faults the kernel counted in the measured iterations."""
        return sum(w.major_faults for iteration in self.measured for w in iteration.workers)

    @property
    def pages_per_wall_second(self) -> float | None:
        """Returns pages per wall second (the seed's first figure), or None if nothing was measured."""
        return self.pages * NS_PER_S / self.wall_ns if self.wall_ns else None

    @property
    def pages_per_cpu_second(self) -> float | None:
        """Returns pages per CPU second (the seed's second figure), or None if nothing was measured."""
        return self.pages * NS_PER_S / self.cpu_ns if self.cpu_ns else None

    @property
    def faults_per_page(self) -> float | None:
        """Returns kernel-counted faults per page touched, or None if nothing was measured."""
        return (self.minor_faults + self.major_faults) / self.pages if self.pages else None

    @property
    def resident_pages_per_page(self) -> float | None:
        """Returns the median, over measured iterations, of pages the kernel allocated per page touched."""
        if not self.measured or any(it.resident_added_bytes is None for it in self.measured):
            return None
        per_page = self.spec.page_size_bytes * self.spec.pages_per_iteration
        return statistics.median(iteration.resident_added_bytes / per_page for iteration in self.measured)


def group_by_config(results: list[RunResult]) -> dict[tuple, list[RunResult]]:
    """Returns the results by configuration, in first-seen order; interrupted runs left out."""
    groups: dict[tuple, list[RunResult]] = {}
    for result in results:
        if result.measured and not result.interrupted:
            groups.setdefault(config_key(result.spec), []).append(result)
    return groups
