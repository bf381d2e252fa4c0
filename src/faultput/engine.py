"""The engine: maps objects, runs the workers through the seed's iterations, times them.

It never prints or formats; it reports progress only through the on_event
callback, and only between timed regions. Every mapping, file, thread and
process it makes is gone when run() returns or raises, Ctrl-C included.

Workers are threads of this process (threads mode, the seed's) or forked
processes (processes mode). Both park in the same native gate, which lives
in shared memory; worker processes map their objects themselves, at the same
addresses in each process, inside a region reserved before they were forked,
so that the one work queue means the same thing in every address space.
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Callable, Optional

from . import __version__, _core, checks, platform
from . import profile as profiling
from .latency import CLOCKS, Histogram, Latency, SlowFault, SLOWEST, choose_every
from .errors import RunError
from .faults import get_fault_type
from .layout import queue_capacity, work_queue
from .result import Iteration, RunResult, WorkerRound
from .spec import LATENCY_PROBE_ROUNDS, PROCESSES_MODE, WRITER_OPS, WRITER_REGION_BYTES, RunSpec, format_bytes

# on_event(name, iteration_number): names are those of the seed's progress lines:
# initialized, spawned, iteration_start, waiting, caught_up, waking,
# iteration_done, budget, end.
EventCallback = Callable[[str, Optional[int]], None]

def _no_event(name: str, iteration: int | None) -> None:
    pass


class Interruption:
    """SIGINT and SIGTERM while measuring: recorded, and the gate told to stop, never raised.

    A KeyboardInterrupt raised between two bytecodes could land after a round was
    released and before the code that ends it is protected, and the objects would be
    unmapped under running workers. So while runs are in flight the handlers only
    record the signal and stop the gate (ending the round in flight at the next item);
    the engine looks at `signal_name` at its own safe points. Installed only from the
    main thread, where Python runs signal handlers; restored on exit.
    """

    def __init__(self):
        self.signal_name: str | None = None
        self.gate: _core.Gate | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.request(signal.Signals(signum).name)

    def request(self, reason: str) -> None:
        """Asks the runs to stop at the next safe point; the first reason given is kept."""
        if self.signal_name is None:
            self.signal_name = reason
        if self.gate is not None:
            self.gate.stop()

    def __enter__(self) -> "Interruption":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class _LatencySampler:
    """--latency: calibrates the counter against CLOCK_MONOTONIC_RAW, measures the two floors,
    sets each round's sampling before it is released, and collects the samples after it ended.

    Ticks become nanoseconds in the touch loop itself, with the rate measured from the run's
    first calibration point to one read just before the round's release; both clocks are
    read again when each round ends, and the run's rate is the one over all of them.
    """

    CALIBRATION_S = 0.01
    FLOOR_SAMPLES = 20_000

    def __init__(self, spec: RunSpec, touch_mode: int):
        self.spec = spec
        self.clock, self.clock_note = platform.latency_clock()
        self.every = spec.latency_every or 1
        self.chosen = "given" if spec.latency_every else "auto"
        self.auto_cost: float | None = None
        self.first = _core.clock_pair(self.clock)
        time.sleep(self.CALIBRATION_S)
        self.last = _core.clock_pair(self.clock)
        self.round_rates: list[float] = []
        self.timer_floor, self.sample_cost_ns = self._floor(0, touch_mode)
        self.mapped_floor = self._mapped_floor(touch_mode)
        self.histograms: list[Histogram] = []
        self.slowest: list[SlowFault] = []
        self.probe_ns_per_page: list[float] = []

    def _rate(self, pair: tuple[int, int]) -> float:
        """Returns counter ticks per nanosecond from the first calibration point to pair."""
        ticks, ns = pair[0] - self.first[0], pair[1] - self.first[1]
        return ticks / ns if ticks > 0 and ns > 0 else 1.0

    def _mult(self, rate: float) -> int:
        return max(1, round((1 << 32) / rate))

    def _floor(self, address: int, touch_mode: int) -> tuple[Histogram, float]:
        elapsed_ns, taken = _core.latency_floor(self.clock, self._mult(self._rate(self.last)), self.FLOOR_SAMPLES,
                                                address, touch_mode)
        return _histogram(taken), elapsed_ns / self.FLOOR_SAMPLES

    def _mapped_floor(self, touch_mode: int) -> Histogram:
        size = self.spec.page_size_bytes
        address = platform.map_memory(size)
        try:
            _core.touch(address, size, size, _core.TOUCH_WRITE)
            return self._floor(address, touch_mode)[0]
        finally:
            platform.unmap(address, size)

    def _probing(self) -> bool:
        """Whether the default interval is still being measured: rounds 1 to 3 (warmups)."""
        return self.chosen == "auto" and len(self.round_rates) <= LATENCY_PROBE_ROUNDS

    def before_round(self, gate: _core.Gate) -> None:
        rate = self._rate(_core.clock_pair(self.clock))
        self.round_rates.append(rate)
        # The default's probe: round 1 warms up, round 2 runs the plain loop, round 3 times every page.
        every = (1, 0, 1)[len(self.round_rates) - 1] if self._probing() else self.every
        gate.set_latency(self.clock, every, self._mult(rate))

    def after_round(self, gate: _core.Gate, iteration: Iteration, mapped: list[int]) -> None:
        """Takes the round's samples: kept for a measured round; the default's probe rounds choose N."""
        self.last = _core.clock_pair(self.clock)
        records = gate.latency_rounds()
        if self._probing():
            self.probe_ns_per_page.append(iteration.workers_cpu_ns / max(1, iteration.pages_touched))
            if len(self.round_rates) == LATENCY_PROBE_ROUNDS:
                self.every, self.auto_cost = choose_every(self.probe_ns_per_page[1], self.probe_ns_per_page[2])
        if iteration.warmup:
            return
        histogram = Histogram.merge(_histogram(record) for record in records)
        self.histograms.append(histogram)
        size = self.spec.object_size_bytes
        for record in records:
            for ns, tick, address in record[4]:
                k = next((k for k, start in enumerate(mapped) if start <= address < start + size), None)
                if k is not None:
                    self.slowest.append(SlowFault(ns=ns, object_index=k, offset_bytes=address - mapped[k],
                                                  iteration=iteration.index,
                                                  at_s=(tick - self.first[0]) / self._rate(self.last) / 1e9))
        self.slowest = sorted(self.slowest, key=lambda fault: -fault.ns)[:SLOWEST]

    def result(self) -> Latency:
        rate = self._rate(self.last)
        spread = max((abs(used / rate - 1) for used in self.round_rates), default=0.0)
        return Latency(every=self.every, chosen=self.chosen, clock=CLOCKS[self.clock],
                       ticks_per_second=rate * 1e9, calibration_spread=spread,
                       histogram=Histogram.merge(self.histograms), slowest=tuple(self.slowest),
                       timer_floor=self.timer_floor, mapped_floor=self.mapped_floor,
                       sample_cost_ns=self.sample_cost_ns, auto_cost=self.auto_cost, clock_note=self.clock_note)


def _histogram(taken) -> Histogram:
    """Returns the Histogram of one native record, (samples, dropped, sum_ns, max_ns, slowest, buckets)."""
    samples, dropped, sum_ns, max_ns, _, buckets = taken
    return Histogram(tuple(buckets), samples, dropped, sum_ns, max_ns)


def _timestamp() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")


def _map_failure(spec: RunSpec, k: int, error: OSError) -> RunError:
    return RunError(f"mmap of object {k + 1} of {spec.object_count} ({format_bytes(spec.object_size_bytes)}) "
                    f"failed: {error.strerror}")


class _Workers:
    """What the engine asks of its workers, threads or processes alike:

        start()                  start them; they park in the gate
        map_objects() -> addresses   the objects of the next round, ready to touch
        writer_ops(round) -> ops     what the address-space writers did in that round (None
                                 without writers)
        unmap_objects(addresses) undo map_objects, always
        reap()                   let the gate stop waiting for a worker that has ended
        check()                  raise RunError with the first failure a worker reported
        join()                   wait for every worker to end, once the gate is stopped
    """

    def __init__(self, gate: _core.Gate, spec: RunSpec, fault_type, state):
        self.gate = gate
        self.spec = spec
        self.fault_type = fault_type
        self.state = state
        self.failures: list[str] = []
        self.rounds_released = 0

    def cpu_of(self, index: int) -> int | None:
        return self.spec.worker_cpus[index] if self.spec.worker_cpus else None

    def reap(self) -> None:
        """Threads cannot end mid-round; worker processes can (see _ProcessWorkers)."""

    def writer_ops(self, round_number: int) -> int | None:
        """Worker processes have no address-space writers (refused in processes mode)."""
        return None

    def check(self) -> None:
        self.reap()
        if self.failures:
            raise RunError(self.failures[0])


class _ThreadWorkers(_Workers):
    """Worker threads of this process; the main thread maps the objects."""

    def __init__(self, gate: _core.Gate, spec: RunSpec, fault_type, state):
        super().__init__(gate, spec, fault_type, state)
        self.threads = [threading.Thread(target=self._main, args=(i,), name=f"faultput-worker-{i}", daemon=True)
                        for i in range(spec.threads)]
        self.threads += [threading.Thread(target=self._writer, args=(i,), name=f"faultput-writer-{i}", daemon=True)
                         for i in range(spec.mmap_writers)]
        # {round: [ops of each writer that has finished it]}, under the condition.
        self.writer_rounds: dict[int, list[int]] = {}
        self.writers_done = threading.Condition()

    def _writer(self, index: int) -> None:
        """An address-space writer: mmap/munmap or mprotect while each round runs."""
        op = WRITER_OPS.index(self.spec.writer_op)
        last = 0
        try:
            while (contended := self.gate.contend(op, WRITER_REGION_BYTES, last)) is not None:
                last, ops = contended
                with self.writers_done:
                    self.writer_rounds.setdefault(last, []).append(ops)
                    self.writers_done.notify_all()
        except OSError as error:
            self.failures.append(f"address-space writer {index} failed: {error.strerror}")
            self.gate.stop()
        with self.writers_done:
            self.writers_done.notify_all()

    def writer_ops(self, round_number: int) -> int | None:
        """Waits until every writer has counted round_number (they see its end at once); returns
        their operations in it."""
        if not self.spec.mmap_writers:
            return None
        with self.writers_done:
            self.writers_done.wait_for(lambda: len(self.writer_rounds.get(round_number, [])) >= self.spec.mmap_writers
                                       or self.failures, timeout=10)
            return sum(self.writer_rounds.pop(round_number, []))

    def _main(self, index: int) -> None:
        cpu = self.cpu_of(index)
        if cpu is not None:
            try:
                platform.pin_current_thread(cpu)
            except OSError as error:
                self.failures.append(f"cannot pin worker {index} to CPU {cpu}: {error.strerror}")
                self.gate.stop()
                return
        # Each worker counts itself: perf_event counters are per thread.
        if self.spec.counters:
            self.gate.open_counters(index, platform.counter_events(self.spec.warmup_iterations))
        try:
            while self.gate.work(index) is not None:
                pass
        finally:
            self.gate.close_counters(index)

    def start(self) -> None:
        for index, thread in enumerate(self.threads):
            try:
                thread.start()
            except RuntimeError as error:
                raise RunError(f"cannot start worker thread {index} of {len(self.threads)}: {error} "
                               "(a limit on tasks: pids.max of the cgroup, or ulimit -u)") from None

    def profiled_ids(self) -> tuple[list[int], bool]:
        """Returns the thread ids of the workers (not the writers), and False: they are threads."""
        return [thread.native_id for thread in self.threads[:self.spec.threads]], False

    def map_objects(self) -> list[int]:
        mapped: list[int] = []
        try:
            for k in range(self.spec.object_count):
                try:
                    mapped.append(self.fault_type.map_object(self.state, k))
                except OSError as error:
                    raise _map_failure(self.spec, k, error) from None
        except BaseException:
            self.unmap_objects(mapped)
            raise
        return mapped

    def unmap_objects(self, addresses: list[int]) -> None:
        for address in reversed(addresses):
            self.fault_type.unmap_object(self.state, address)

    def join(self) -> None:
        for thread in self.threads:
            if thread.ident is not None:
                thread.join()


class _ProcessWorkers(_Workers):
    """Worker processes, each with its own address space, mapping its own objects at the same
    addresses, inside a region reserved before the fork.

    The gate watches each one's pidfd, so that a worker process that ends wakes the main
    process at once; what a failing worker process has to say reaches the main process
    through the gate (fail), so that the user sees one error, from the main process.
    """

    def __init__(self, gate: _core.Gate, spec: RunSpec, fault_type, state):
        super().__init__(gate, spec, fault_type, state)
        alignment = max(platform.huge_page_bytes(), platform.hugetlb_page_bytes() or 0, spec.page_size_bytes)
        self.reservation = _system_call(f"reserving {format_bytes(spec.memory_bytes)} of address space",
                                        platform.reserve_address_space, spec.memory_bytes, alignment)
        self.addresses = [self.reservation + k * spec.object_size_bytes for k in range(spec.object_count)]
        self.pids: dict[int, int] = {}
        self.pidfds: dict[int, int] = {}

    def start(self) -> None:
        for index in range(self.spec.threads):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = _system_call(f"forking worker process {index}", os.fork)
            if pid == 0:
                self._child(index)
            self.pids[index] = pid
            try:
                self.pidfds[index] = platform.open_process_descriptor(pid)
            except OSError as error:
                raise RunError(f"processes mode needs pidfd_open (Linux 5.3 or newer): {error.strerror}") from None
        self.gate.watch(list(self.pidfds.values()))

    def _child(self, index: int) -> None:
        """A worker process: map the objects, work a round, unmap, until stopped. Never returns."""
        status = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            platform.die_with_parent()
            cpu = self.cpu_of(index)
            if cpu is not None:
                platform.pin_current_thread(cpu)
            if self.spec.counters:
                self.gate.open_counters(index, platform.counter_events(self.spec.warmup_iterations))
            while True:
                mapped: list[int] = []
                try:
                    for k, address in enumerate(self.addresses):
                        try:
                            mapped.append(self.fault_type.map_object(self.state, k, address))
                        except OSError as error:
                            raise _map_failure(self.spec, k, error) from None
                    measured = self.gate.work(index)
                finally:
                    for address in mapped:
                        self.fault_type.unmap_object(self.state, address)
                        platform.re_reserve(address, self.spec.object_size_bytes)
                if measured is None:
                    break
        except BaseException as error:  # a child must never unwind into the parent's code
            message = str(error) if isinstance(error, RunError) else (
                getattr(error, "strerror", None) or str(error) or type(error).__name__)
            try:
                self.gate.fail(index, f"worker process {index}: {message}")
            except BaseException:
                pass
            status = 1
        finally:
            os._exit(status)

    def profiled_ids(self) -> tuple[list[int], bool]:
        """Returns the worker processes' ids, and True: they are processes."""
        return list(self.pids.values()), True

    def map_objects(self) -> list[int]:
        return list(self.addresses)

    def unmap_objects(self, addresses: list[int]) -> None:
        """The worker processes unmap their own objects."""

    def reap(self) -> None:
        """Reaps worker processes that have ended, so that the gate stops waiting for them,
        and keeps why each failed."""
        for index, pid in list(self.pids.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
            del self.pids[index]
            os.close(self.pidfds.pop(index))
            self.gate.watch(list(self.pidfds.values()))
            said = self.gate.forget_worker(index)
            # A worker process exits 0 only once the gate told it to stop (a signal asked
            # the run to end): no failure.
            if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
                self.failures.append(said or f"worker process {index} (pid {pid}) ended: {_describe_status(status)}")

    def join(self) -> None:
        for index, pid in list(self.pids.items()):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            del self.pids[index]
        for pidfd in self.pidfds.values():
            os.close(pidfd)
        self.pidfds.clear()
        self.gate.watch([])
        platform.unmap(self.reservation, self.spec.memory_bytes)


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def run(spec: RunSpec, on_event: EventCallback | None = None,
        interruption: Interruption | None = None) -> RunResult:
    """Measures one specification; returns its result.

    A signal recorded by interruption (SIGINT, SIGTERM) ends the run at the next safe
    point: the round in flight stops handing out items, and the result holds the
    iterations that completed, marked interrupted. A system refusal (a failed mmap,
    a worker process that died) after something was measured ends the run the same
    way, with the refusal in result.error; before that, it raises RunError. Either
    way everything is cleaned up first.
    """
    if interruption is None:
        with Interruption() as own:
            return run(spec, on_event, own)
    emit = on_event or _no_event
    fault_type = get_fault_type(spec.fault_type)
    started_at = _timestamp()
    gate = _core.Gate(spec.threads, queue_capacity(spec), latency=spec.latency_every is not None)
    iterations: list[Iteration] = []
    stopped_by: str | None = None
    error: str | None = None
    folios = None
    directory = None
    state = None
    workers = None
    sampler = None
    counters = cgroup = recorder = profile = None
    interruption.gate = gate
    if interruption.signal_name is not None:
        gate.stop()
    emit("initialized", None)
    try:
        if fault_type.uses_files:
            directory = _system_call(f"making a private directory in {spec.directory}",
                                     platform.private_directory, spec.directory)
        state = _system_call(f"preparing {fault_type.name}", fault_type.open, spec, directory)
        state.resident_kind = fault_type.resident_kind_for(spec)
        state.cgroup = platform.own_cgroup()
        if spec.latency_every is not None:
            sampler = _system_call("measuring the latency floors", _LatencySampler, spec, fault_type.touch_mode)
        worker_kind = _ProcessWorkers if spec.mode == PROCESSES_MODE else _ThreadWorkers
        workers = worker_kind(gate, spec, fault_type, state)
        workers.start()
        if spec.profile and interruption.signal_name is None:
            ids, processes = workers.profiled_ids()
            recorder = platform.PerfRecorder(ids, processes, profiling.FREQUENCY_HZ)
            _system_call("starting perf record", recorder.start)
        emit("spawned", None)
        duration_ns = int(spec.duration_s * 1e9)
        measured_wall_ns = 0
        number = 0
        while number < spec.warmup_iterations or measured_wall_ns < duration_ns:
            if interruption.signal_name is not None:
                break
            number += 1
            warmup = number <= spec.warmup_iterations
            emit("iteration_start", number)
            emit("waiting", None)
            while not gate.wait_parked():
                workers.check()
            workers.check()
            emit("caught_up", None)
            iteration = _iteration(gate, workers, fault_type, state, number, warmup, emit, sampler,
                                   None if warmup else recorder)
            if iteration is None or interruption.signal_name is not None:
                # A round cut short by a signal measured only part of the objects: drop it.
                break
            iterations.append(iteration)
            if not warmup:
                measured_wall_ns += iteration.wall_ns_by(spec.wall_clock)
            emit("iteration_done", number)
        workers.check()
        if iterations and spec.counters:
            counters = _counter_status(gate, spec.threads)
            cgroup = _cgroup_facts(state.cgroup, workers)
        stopped_by = interruption.signal_name
        if stopped_by is None:
            emit("budget", None)
            folios = _system_call("reading the page cache's folio sizes", fault_type.folio_census, state)
            if recorder is not None and any(not iteration.warmup for iteration in iterations):
                script = _system_call("reading the profile (perf script)", recorder.finish)
                profile = profiling.parse(script, platform.kernel_symbols())
    except RunError as failure:
        if interruption.signal_name is not None:
            # The stop asked for ended the workers under what was running (perf attached to
            # them, a round): not a failure of its own.
            stopped_by = interruption.signal_name
        elif not any(not iteration.warmup for iteration in iterations):
            raise
        else:
            error = str(failure)
    finally:
        if recorder is not None:
            recorder.close()
        _shut_down(gate, workers)
        interruption.gate = None
        if state is not None:
            fault_type.close(state)
        if directory is not None:
            platform.remove_directory(directory)
    emit("end", None)

    result = RunResult(spec=spec, tool_version=__version__, system=platform.system_facts(),
                       started_at=started_at, ended_at=_timestamp(), iterations=tuple(iterations),
                       interrupted=stopped_by is not None or error is not None,
                       stopped_by=stopped_by, error=error, page_cache_folios=folios,
                       latency=sampler.result() if sampler is not None else None,
                       counter_status=counters, cgroup=cgroup, profile=profile)
    observed, findings = checks.judge(result, fault_type, platform.thp_enabled())
    return replace(result, observed_fault=observed, findings=findings)


def _system_call(what: str, function, *args):
    """Returns function(*args); an OSError becomes a RunError naming what failed."""
    try:
        return function(*args)
    except OSError as error:
        raise RunError(f"{what} failed: {error.strerror or error}") from None


def _cgroup_facts(directory, workers) -> dict | None:
    """Returns faultput's memory cgroup and how many processes other than faultput's share it."""
    if directory is None:
        return None
    processes = platform.cgroup_processes(directory)
    ours = {os.getpid(), *getattr(workers, "pids", {}).values()}
    return {"path": str(directory), "other_processes": None if processes is None else len(processes - ours)}


def _resident(resident_kind: str | None, spec: RunSpec) -> int | None:
    """Returns this process's resident bytes of the kind the fault type allocates, or None
    where that says nothing (no such kind, or the pages belong to worker processes)."""
    if resident_kind is None or spec.mode == PROCESSES_MODE:
        return None
    return getattr(platform.resident_bytes(), resident_kind)


def _iteration(gate: _core.Gate, workers, fault_type, state, number: int, warmup: bool,
               emit, sampler: _LatencySampler | None = None, recorder=None) -> Iteration | None:
    """Runs one iteration: map, prepare, release, wait, undo, unmap.

    Returns the iteration, or None if the gate was stopped. Whatever happens, and
    wherever an exception arrives, the round is over before anything it uses is
    undone or unmapped: the finally clause ends it first.
    """
    spec = state.spec
    mapped: list[int] = []
    prepared = False
    try:
        mapped = workers.map_objects()
        items, stride_bytes = work_queue(mapped, spec)
        gate.load(items, stride_bytes, fault_type.touch_mode)
        prepared = True
        _system_call(f"preparing the {fault_type.name} iteration", fault_type.before_touch, state, mapped)
        resident_before = _resident(state.resident_kind, spec)
        helper_before_ns = fault_type.helper_cpu_ns(state)
        # Which folio sizes the kernel used: kept where the run allows large folios at all.
        folios = spec.huge_pages in ("allow", "request")
        folios_before = platform.mthp_counters()
        cpus = spec.worker_cpus or sorted(platform.allowed_cpus())
        idle_before, ticks_before = platform.cpu_ticks(cpus)
        vmstat_before = platform.vmstat(folios_before)
        memcg_before = platform.cgroup_memory_stat(state.cgroup)
        if sampler is not None:
            sampler.before_round(gate)
        if recorder is not None:
            # perf samples the workers from here to the round's end: they are parked until released.
            _system_call("enabling perf record", recorder.enable)
        emit("waking", None)
        if gate.release() is None:
            workers.check()
            return None
        while (timed := gate.wait_done()) is None:
            workers.check()
        # Counted once the round is over: no Python runs while the workers touch.
        workers.rounds_released += 1
        if recorder is not None:
            _system_call("disabling perf record", recorder.disable)
        helper_after_ns = fault_type.helper_cpu_ns(state)
        resident_after = _resident(state.resident_kind, spec)
        folios_after = platform.mthp_counters()
        idle_after, ticks_after = platform.cpu_ticks(cpus)
        vmstat_after = platform.vmstat(folios_after)
        memcg_after = platform.cgroup_memory_stat(state.cgroup)
        failed = gate.touch_error()
        if failed:
            raise RunError(f"{fault_type.name}: touching the objects failed: {os.strerror(failed)}")
        start_ns, end_ns, main_end_ns = timed
        iteration = Iteration(
            index=number, warmup=warmup, start_ns=start_ns, end_ns=end_ns, main_end_ns=main_end_ns,
            resident_added_bytes=None if resident_before is None else resident_after - resident_before,
            helper_cpu_ns=None if helper_before_ns is None else helper_after_ns - helper_before_ns,
            workers=tuple(WorkerRound(*measured) for measured in gate.worker_rounds()),
            writer_ops=workers.writer_ops(workers.rounds_released),
            idle_ticks=idle_after - idle_before if ticks_before else None,
            cpu_ticks=ticks_after - ticks_before if ticks_before else None,
            folio_counters=platform.counter_deltas(folios_before, folios_after) if folios else None,
            vmstat=platform.moved(vmstat_before, vmstat_after),
            memcg=platform.moved(memcg_before, memcg_after) if memcg_before else None)
        if sampler is not None:
            sampler.after_round(gate, iteration, mapped)
        return iteration
    finally:
        _end_round(gate, workers)
        try:
            if prepared:
                _system_call(f"ending the {fault_type.name} iteration", fault_type.after_touch, state, mapped)
        finally:
            workers.unmap_objects(mapped)


def _counter_status(gate: _core.Gate, threads: int) -> dict[str, dict]:
    """Returns, per counter, whether every worker counted it, in which rounds, and why not
    where one did not."""
    per_worker = gate.counter_status()[:threads]
    status = {}
    for slot, (name, _, _) in enumerate(platform.COUNTER_EVENTS):
        failed = next((worker[slot][0] for worker in per_worker if worker[slot][0] != 0), 0)
        status[name] = platform.counter_state(name, failed, any(worker[slot][1] for worker in per_worker))
    return status


def _end_round(gate: _core.Gate, workers) -> None:
    """Ends a round in flight early: no more items are handed out, and the workers finish
    the ones they took (a dead worker process is forgotten). Returns at once with none in flight."""
    gate.abort()
    while gate.wait_done(interruptible=False) is None:
        workers.reap()


def _shut_down(gate: _core.Gate, workers) -> None:
    """Stops and joins every worker, whatever state the run was left in."""
    _end_round(gate, workers)
    gate.stop()
    if workers is not None:
        workers.join()


def run_all(specs: list[RunSpec], on_event: EventCallback | None = None,
            on_result: Callable[[RunResult], None] | None = None, repeats: int = 1,
            interruption: Interruption | None = None,
            before_run: Callable[[RunSpec], None] | None = None) -> list[RunResult]:
    """Measures every specification repeats times, interleaved (all specifications once, then
    again), so that drift spreads over all of them; returns the results, each tagged with its
    repeat, stopping after an interrupted one or once a signal was recorded. before_run runs
    before each run (the folio settings), on_result after each, before the next starts."""
    if interruption is None:
        with Interruption() as own:
            return run_all(specs, on_event, on_result, repeats, own, before_run)
    results: list[RunResult] = []
    for repeat in range(repeats):
        for spec in specs:
            if interruption.signal_name is not None:
                return results
            if before_run is not None:
                _system_call("changing the folio size settings", before_run, spec)
            result = replace(run(spec, on_event, interruption), repeat=repeat)
            results.append(result)
            if on_result is not None:
                on_result(result)
            if result.interrupted:
                return results
    return results
