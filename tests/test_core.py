"""The native core: the touch loop counts what the kernel counts, and the gate runs the seed's protocol."""

import os
import threading

import pytest

from faultput import _core, platform

PAGE = platform.page_size_bytes()


@pytest.fixture
def mapping():
    """Yields a fresh 64-page anonymous mapping without huge pages; unmaps it afterwards."""
    size = 64 * PAGE
    address = platform.map_memory(size)
    yield address, size
    platform.unmap(address, size)


def test_write_touch_takes_one_minor_fault_per_page(mapping):
    address, size = mapping
    cpu_ns, minor, major, pages = _core.touch(address, size, PAGE, _core.TOUCH_WRITE)
    assert pages == 64
    assert minor == 64 and major == 0
    assert cpu_ns > 0


def test_read_touch_is_not_optimised_away(mapping):
    address, size = mapping
    _, minor, _, pages = _core.touch(address, size, PAGE, _core.TOUCH_READ)
    # One fault per page read, and at most a stray one the thread took on its own stack.
    assert pages == 64 and 64 <= minor <= 65


def test_second_touch_of_present_pages_takes_no_fault(mapping):
    address, size = mapping
    _core.touch(address, size, PAGE, _core.TOUCH_WRITE)
    _, minor, major, pages = _core.touch(address, size, PAGE, _core.TOUCH_WRITE)
    assert (minor, major, pages) == (0, 0, 64)


def test_stride_touches_every_nth_page(mapping):
    address, size = mapping
    _, minor, _, pages = _core.touch(address + PAGE, size - PAGE, 4 * PAGE, _core.TOUCH_WRITE)
    assert pages == minor == 16


def test_populate_faults_pages_in_without_touching_them(mapping):
    address, size = mapping
    _, minor, _, pages = _core.touch(address, size, PAGE, _core.TOUCH_POPULATE)
    assert pages == 64 and minor == 64
    _, minor, _, _ = _core.touch(address, size, PAGE, _core.TOUCH_WRITE)
    assert minor == 0


def test_unknown_touch_is_refused(mapping):
    address, size = mapping
    with pytest.raises(ValueError, match="unknown touch 7"):
        _core.touch(address, size, PAGE, 7)


@pytest.mark.parametrize("copy, mode, allocates", [(True, _core.TOUCH_WRITE, True),
                                                 (False, _core.TOUCH_READ, False)])
def test_uffd_handler_resolves_every_missing_page(mapping, copy, mode, allocates):
    address, size = mapping
    resident_before = platform.resident_bytes().anonymous
    handler = _core.Uffd(copy)
    try:
        handler.register(address, size)
        _, minor, major, pages = _core.touch(address, size, PAGE, mode)
        assert pages == 64 and minor + major == 64
        assert handler.handled() == 64
    finally:
        handler.close()
    # UFFDIO_COPY allocates each page; UFFDIO_ZEROPAGE maps the shared zero page.
    assert (platform.resident_bytes().anonymous - resident_before >= 32 * PAGE) == allocates


def test_held_child_keeps_pages_copy_on_write(mapping):
    address, size = mapping
    _core.touch(address, size, PAGE, _core.TOUCH_WRITE)
    child = _core.hold_in_child()
    try:
        _, minor, _, _ = _core.touch(address, size, PAGE, _core.TOUCH_WRITE)
        assert minor == 64
    finally:
        platform.kill_and_reap(child)
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)


def test_zero_stride_is_refused(mapping):
    address, size = mapping
    with pytest.raises(ValueError):
        _core.touch(address, size, 0, _core.TOUCH_WRITE)


def test_failed_mmap_raises_oserror():
    with pytest.raises(OSError):
        _core.mmap(1 << 62, _core.PROT_READ | _core.PROT_WRITE, _core.MAP_PRIVATE | _core.MAP_ANONYMOUS)


def run_gate_rounds(workers, rounds, items_per_round):
    """Runs rounds of the gate with real worker threads; returns (timings, per-worker round lists)."""
    gate = _core.Gate(workers, items_per_round)
    results = [[] for _ in range(workers)]

    def worker(index):
        while (measured := gate.work(index)) is not None:
            results[index].append(measured)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    timings = []
    for _ in range(rounds):
        mappings = [platform.map_memory(16 * PAGE) for _ in range(items_per_round)]
        gate.wait_parked()
        gate.load([(address, 16 * PAGE) for address in mappings], PAGE, _core.TOUCH_WRITE)
        start_ns = gate.release()
        timings.append((start_ns, *gate.wait_done()))
        for address in mappings:
            platform.unmap(address, 16 * PAGE)
    gate.wait_parked()
    gate.stop()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    return timings, results


def test_gate_hands_out_every_item_once_per_round():
    timings, results = run_gate_rounds(workers=3, rounds=4, items_per_round=7)
    assert all(len(worker_rounds) == 4 for worker_rounds in results)
    for k in range(4):
        assert sum(results[w][k][3] for w in range(3)) == 7      # items
        assert sum(results[w][k][4] for w in range(3)) == 7 * 16  # pages
        assert sum(results[w][k][1] for w in range(3)) == 7 * 16  # minor faults


def test_gate_wall_time_runs_from_release_to_last_worker():
    timings, results = run_gate_rounds(workers=2, rounds=3, items_per_round=4)
    for k, (released_ns, start_ns, end_ns, main_end_ns) in enumerate(timings):
        assert released_ns == start_ns
        assert end_ns == max(results[w][k][5] for w in range(2))
        assert end_ns > start_ns
        # The seed's clock: the main thread stamps the time once it has seen the round end.
        assert main_end_ns >= end_ns


def test_stop_mid_round_ends_the_round_and_every_worker_finishes_it():
    """A stop while a round runs (Ctrl-C) hands out no more items, and the round still ends:
    a worker that had not yet woken for it takes part (finding the queue empty). Repeated,
    since which worker is still asleep at the stop is up to the scheduler."""
    buffer_bytes = 64 * PAGE
    for _ in range(100):
        gate = _core.Gate(2, 64)
        address = _core.mmap(buffer_bytes, _core.PROT_READ | _core.PROT_WRITE,
                             _core.MAP_PRIVATE | _core.MAP_ANONYMOUS)
        try:
            gate.load([(address + i * PAGE, PAGE) for i in range(64)], PAGE, _core.TOUCH_WRITE)
            pages = []

            def worker(index):
                while (measured := gate.work(index)) is not None:
                    pages.append(measured[4])

            threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(2)]
            for thread in threads:
                thread.start()
            assert gate.wait_parked()
            assert gate.release() is not None
            gate.stop()
            ended = []
            waiter = threading.Thread(target=lambda: ended.append(gate.wait_done(interruptible=False)),
                                      daemon=True)
            waiter.start()
            waiter.join(timeout=10)
            assert ended and ended[0] is not None, "the round never ended after a stop"
            for thread in threads:
                thread.join(timeout=10)
                assert not thread.is_alive()
            assert sum(pages) <= 64
        finally:
            _core.munmap(address, buffer_bytes)


def test_gate_release_returns_none_once_stopped():
    gate = _core.Gate(1, 1)
    gate.stop()
    assert gate.release() is None
    # work() blocks asynchronous signals in its thread, as workers must: never in the main one.
    returned = []
    worker = threading.Thread(target=lambda: returned.append(gate.work(0)))
    worker.start()
    worker.join(timeout=10)
    assert returned == [None]


def test_release_before_every_worker_is_parked_is_refused():
    gate = _core.Gate(2, 1)
    with pytest.raises(RuntimeError, match="before every worker is parked"):
        gate.release()


def test_a_worker_process_failure_reaches_the_parent_through_the_gate():
    gate = _core.Gate(2, 1)
    assert gate.forget_worker(0) is None
    gate.fail(1, "worker process 1: cannot pin worker 1 to CPU 7: Invalid argument")
    assert gate.forget_worker(1) == "worker process 1: cannot pin worker 1 to CPU 7: Invalid argument"


def test_a_failed_populate_is_an_os_error_not_a_silent_zero():
    read_only = _core.mmap(16 * PAGE, _core.PROT_READ, _core.MAP_PRIVATE | _core.MAP_ANONYMOUS)
    try:
        with pytest.raises(OSError):
            _core.touch(read_only, 16 * PAGE, PAGE, _core.TOUCH_POPULATE)
    finally:
        _core.munmap(read_only, 16 * PAGE)
