"""The engine: maps objects, runs the workers through the seed's iterations, times them.

It never prints or formats; it reports progress only through the on_event
callback, and only between timed regions. Every mapping it makes and every
thread it starts is gone when run() returns or raises, Ctrl-C included.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import replace
from typing import Callable, Optional

from . import __version__, _core, checks, platform
from .errors import RunError
from .faults import get_fault_type
from .layout import work_queue
from .result import Iteration, RunResult, WorkerRound
from .spec import RunSpec, format_bytes

# on_event(name, iteration_number): names are those of the seed's progress lines:
# initialized, spawned, iteration_start, waiting, caught_up, waking,
# iteration_done, budget, end.
EventCallback = Callable[[str, Optional[int]], None]


def _no_event(name: str, iteration: int | None) -> None:
    pass


def _timestamp() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")


def _worker_main(gate: _core.Gate, index: int, cpu: int | None,
                 rounds: list[WorkerRound], errors: list[str]) -> None:
    """A worker thread: pin if asked, then one gate.work() call per iteration until stopped."""
    if cpu is not None:
        try:
            platform.pin_current_thread(cpu)
        except OSError as error:
            errors.append(f"cannot pin worker {index} to CPU {cpu}: {error.strerror}")
            gate.stop()
            return
    while True:
        measured = gate.work(index)
        if measured is None:
            return
        rounds.append(WorkerRound(*measured))


def run(spec: RunSpec, on_event: EventCallback | None = None) -> RunResult:
    """Measures one specification; returns its result.

    Ctrl-C (KeyboardInterrupt) ends the run early: the current iteration is
    abandoned and the result, holding the iterations that completed, is marked
    interrupted. A system refusal (a failed mmap) raises RunError after cleanup.
    """
    emit = on_event or _no_event
    fault_type = get_fault_type(spec.fault_type)
    started_at = _timestamp()
    gate = _core.Gate(spec.threads)
    rounds: list[list[WorkerRound]] = [[] for _ in range(spec.threads)]
    worker_errors: list[str] = []
    records: list[tuple[int, bool, int, int, int]] = []
    interrupted = False
    directory = None
    state = None
    emit("initialized", None)

    workers = [
        threading.Thread(
            target=_worker_main,
            args=(gate, i, spec.worker_cpus[i] if spec.worker_cpus else None, rounds[i], worker_errors),
            name=f"faultput-worker-{i}",
            daemon=True,
        )
        for i in range(spec.threads)
    ]
    try:
        if fault_type.uses_files:
            directory = platform.private_directory(spec.directory)
        state = _system_call(f"preparing {fault_type.name}", fault_type.open, spec, directory)
        for worker in workers:
            worker.start()
        emit("spawned", None)
        duration_ns = int(spec.duration_s * 1e9)
        measured_wall_ns = 0
        number = 0
        while number < spec.warmup_iterations or measured_wall_ns < duration_ns:
            number += 1
            warmup = number <= spec.warmup_iterations
            emit("iteration_start", number)
            emit("waiting", None)
            gate.wait_parked()
            if worker_errors:
                break
            emit("caught_up", None)
            timed = _iteration(gate, fault_type, state, emit)
            if timed is None:
                break
            start_ns, end_ns, resident_added = timed
            records.append((number, warmup, start_ns, end_ns, resident_added))
            if not warmup:
                measured_wall_ns += end_ns - start_ns
            emit("iteration_done", number)
        emit("budget", None)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        _shut_down(gate, workers)
        if state is not None:
            fault_type.close(state)
        if directory is not None:
            platform.remove_directory(directory)
    if worker_errors:
        raise RunError(worker_errors[0])
    emit("end", None)

    iterations = tuple(
        Iteration(index=number, warmup=warmup, start_ns=start_ns, end_ns=end_ns,
                  resident_added_bytes=resident_added,
                  workers=tuple(worker_rounds[k] for worker_rounds in rounds))
        for k, (number, warmup, start_ns, end_ns, resident_added) in enumerate(records)
    )
    result = RunResult(spec=spec, tool_version=__version__, system=platform.system_facts(),
                       started_at=started_at, ended_at=_timestamp(), iterations=iterations,
                       interrupted=interrupted)
    observed, findings = checks.judge(result, fault_type, platform.thp_enabled())
    return replace(result, observed_fault=observed, findings=findings)


def _system_call(what: str, function, *args):
    """Calls a fault type hook; an OSError becomes a RunError naming what failed."""
    try:
        return function(*args)
    except OSError as error:
        raise RunError(f"{what} failed: {error.strerror or error}") from None


def _resident(fault_type) -> int:
    """Returns this process's resident bytes of the kind the fault type allocates (0 if none)."""
    if fault_type.resident_kind is None:
        return 0
    return getattr(platform.resident_bytes(), fault_type.resident_kind)


def _iteration(gate: _core.Gate, fault_type, state, emit) -> tuple[int, int, int] | None:
    """Runs one iteration: map, prepare, release, wait, undo, unmap.

    Returns (start_ns, end_ns, resident bytes added), or None if the gate was stopped.
    Whatever happens, the round is over and every object unmapped when it returns or raises.
    """
    spec = state.spec
    mapped: list[int] = []
    prepared = False
    try:
        for k in range(spec.object_count):
            try:
                mapped.append(fault_type.map_object(state, k))
            except OSError as error:
                raise RunError(f"mmap of object {k + 1} of {spec.object_count} "
                               f"({format_bytes(spec.object_size_bytes)}) failed: "
                               f"{error.strerror}") from None
        items, stride_bytes = work_queue(mapped, spec)
        gate.load(items, stride_bytes, fault_type.touch_mode)
        prepared = True
        _system_call(f"preparing the {fault_type.name} iteration", fault_type.before_touch, state, mapped)
        resident_before = _resident(fault_type)
        emit("waking", None)
        if gate.release() is None:
            return None
        try:
            start_ns, end_ns = gate.wait_done()
        except BaseException:
            gate.abort()
            gate.wait_done(interruptible=False)
            raise
        return start_ns, end_ns, _resident(fault_type) - resident_before
    finally:
        if prepared:
            _system_call(f"ending the {fault_type.name} iteration", fault_type.after_touch, state, mapped)
        while mapped:
            fault_type.unmap_object(state, mapped.pop())


def _shut_down(gate: _core.Gate, workers: list[threading.Thread]) -> None:
    """Stops and joins every worker, whatever state the run was left in."""
    gate.abort()
    gate.wait_done(interruptible=False)
    gate.stop()
    for worker in workers:
        if worker.ident is not None:
            worker.join()


def run_all(specs: list[RunSpec], on_event: EventCallback | None = None,
            on_result: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Measures each specification in turn; returns the results, stopping after an interrupted one."""
    results: list[RunResult] = []
    for spec in specs:
        result = run(spec, on_event)
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.interrupted:
            break
    return results


