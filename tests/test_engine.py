"""The engine measures what it claims: kernel fault counts, pages, iterations, cleanup."""

import os

import pytest

from faultput import engine, platform
from faultput.errors import RunError
from helpers.probe import nohugepage_mappings


@pytest.mark.parametrize("variant", ["separate-objects", "share-objects"])
@pytest.mark.parametrize("threads", [1, 2])
def test_zero_fill_counts_exactly_one_kernel_fault_per_page(small_spec, variant, threads):
    result = engine.run(small_spec(variant=variant, threads=threads))
    assert result.measured
    assert result.minor_faults + result.major_faults == result.pages
    assert result.faults_per_page == 1.0
    assert result.observed_fault == "zero fill"
    # Tiny objects on a shared 2-CPU machine may leave workers waiting, and a virtual machine may
    # have no PMU for the cycle counters; nothing else may be said.
    assert [finding for finding in result.findings
            if "on a CPU for only" not in finding and "per fault: not supported here" not in finding] == []


def test_pages_are_counted_per_object_as_the_seed_does(small_spec):
    result = engine.run(small_spec(variant="share-objects", threads=2))
    pages_per_iteration = 2 * (4 << 20) // platform.page_size_bytes()
    assert result.pages == pages_per_iteration * len(result.measured)
    assert all(iteration.pages_touched == pages_per_iteration for iteration in result.measured)


def test_read_of_fresh_anonymous_memory_is_recognised_as_zero_page_faults(small_spec):
    result = engine.run(small_spec(access="read"))
    assert result.spec.fault_type == "zero-page"
    assert result.faults_per_page == 1.0
    assert result.resident_pages_per_page < 0.5
    assert result.observed_fault == "zero page"
    assert any("shared zero page" in finding for finding in result.findings)


def test_runs_until_summed_wall_time_reaches_the_duration(small_spec):
    result = engine.run(small_spec(duration_s=0.3))
    assert result.wall_ns >= 0.3e9
    assert result.wall_ns - result.measured[-1].wall_ns < 0.3e9


def test_warmup_iterations_are_run_first_and_left_out(small_spec):
    result = engine.run(small_spec(warmup_iterations=2))
    assert [iteration.warmup for iteration in result.iterations[:3]] == [True, True, False]
    assert len(result.measured) == len(result.iterations) - 2
    assert result.pages == result.spec.pages_per_iteration * len(result.measured)


def test_cpu_time_is_the_sum_of_the_workers_touch_loop_time(small_spec):
    result = engine.run(small_spec(threads=2))
    assert result.cpu_ns == sum(w.cpu_ns for it in result.measured for w in it.workers)
    assert all(w.cpu_ns > 0 for it in result.measured for w in it.workers if w.pages)


def test_thp_changes_faults_per_page_where_the_kernel_allows_it(small_spec):
    result = engine.run(small_spec(thp=True, object_size_bytes=8 << 20, memory_bytes=16 << 20))
    if platform.thp_enabled() in ("always", "madvise"):
        assert result.faults_per_page < 0.1
        assert result.observed_fault == "huge zero fill"
        assert any("THP folded" in finding for finding in result.findings)
    else:
        assert result.faults_per_page == 1.0
        assert any("no huge pages" in finding for finding in result.findings)


def test_pinned_workers_run_on_their_cpus(small_spec, monkeypatch):
    pinned = []
    original = platform.pin_current_thread

    def pin_and_check(cpu):
        original(cpu)
        pinned.append((cpu, os.sched_getaffinity(0)))

    monkeypatch.setattr(platform, "pin_current_thread", pin_and_check)
    threads = min(2, platform.online_cpus())
    first = min(platform.allowed_cpus())
    result = engine.run(small_spec(first_cpu=first, threads=threads, memory_bytes=threads * (4 << 20)))
    expected = tuple((i + first) % platform.online_cpus() for i in range(threads))
    assert result.spec.worker_cpus == expected
    assert sorted(pinned) == sorted((cpu, {cpu}) for cpu in expected)
    assert result.faults_per_page >= 1.0


def test_failed_mmap_raises_run_error_and_leaves_nothing_mapped(small_spec, monkeypatch):
    from faultput.faults import zero_fill
    before = nohugepage_mappings()
    calls = []
    original = zero_fill.FAULT_TYPE.map_object.__func__

    def failing_map(self, size_bytes, allow_thp):
        if calls:
            raise OSError(12, "Cannot allocate memory")
        calls.append(original(self, size_bytes, allow_thp))
        return calls[-1]

    monkeypatch.setattr(type(zero_fill.FAULT_TYPE), "map_object", failing_map)
    with pytest.raises(RunError, match=r"mmap of object 2 of 2 \(4 MiB\) failed: Cannot allocate memory"):
        engine.run(small_spec())
    left = [size for mapping, size in nohugepage_mappings() if (mapping, size) not in before]
    assert not [size for size in left if size % (4 << 20) == 0]


def test_sweep_runs_each_spec_in_order(small_spec):
    results = engine.run_all([small_spec(threads=1), small_spec(threads=2)])
    assert [result.spec.threads for result in results] == [1, 2]


def test_a_refused_fork_in_processes_mode_is_a_run_error(small_spec, monkeypatch):
    import os

    def refused():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    with pytest.raises(RunError, match="forking worker process 0 failed: Resource temporarily unavailable"):
        engine.run(small_spec(mode="processes"))


def test_the_uffd_handlers_cpu_time_counts_and_is_reported_on_its_own(small_spec):
    from faultput.outputs.summary import summary

    if platform.userfaultfd_unavailable_reason():
        pytest.skip(platform.userfaultfd_unavailable_reason())
    result = engine.run(small_spec(fault_type="uffd"))
    assert result.helper_cpu_ns > 0
    assert result.cpu_ns == result.workers_cpu_ns + result.helper_cpu_ns
    assert result.pages_per_cpu_second == result.pages * 1e9 / (result.workers_cpu_ns + result.helper_cpu_ns)
    assert "the handler thread that resolves the faults" in summary(result)
    assert engine.run(small_spec()).helper_cpu_ns is None


def test_the_seed_form_stops_the_clock_when_the_main_thread_sees_the_round_end(small_spec):
    from faultput.result import MAIN_THREAD_CLOCK

    seed = engine.run(small_spec(wall_clock=MAIN_THREAD_CLOCK))
    assert seed.wall_ns == sum(it.main_end_ns - it.start_ns for it in seed.measured)
    assert all(it.main_end_ns >= it.end_ns for it in seed.measured)
    run = engine.run(small_spec())
    assert run.wall_ns == sum(it.end_ns - it.start_ns for it in run.measured)


def test_a_worker_thread_that_cannot_start_is_a_run_error_and_nothing_is_left(small_spec, monkeypatch):
    import threading

    started = []
    original = threading.Thread.start

    def start(self):
        if self.name.startswith("faultput-worker") and started:
            raise RuntimeError("can't start new thread")
        started.append(self)
        original(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    before = nohugepage_mappings()
    with pytest.raises(RunError, match="cannot start worker thread 1 of 2: can't start new thread .a limit on tasks"):
        engine.run(small_spec(threads=2, oversubscribe=True))
    assert all(not thread.is_alive() for thread in started)
    assert [m for m in nohugepage_mappings() if m not in before and m[1] % (4 << 20) == 0] == []


def test_a_file_on_tmpfs_is_counted_in_shmem_and_not_reported_as_already_present(small_spec, tmp_path):
    if platform.filesystem_type("/dev/shm") != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm")
    result = engine.run(small_spec(fault_type="file-read", directory="/dev/shm"))
    assert result.resident_pages_per_page > 0.9
    assert not any("already present" in finding for finding in result.findings)


def test_file_faults_are_explained_by_the_folio_sizes_of_the_page_cache(small_spec, tmp_path):
    result = engine.run(small_spec(fault_type="file-shared-write", directory=str(tmp_path),
                                   object_size_bytes=4 << 20, memory_bytes=8 << 20))
    if result.faults_per_page > 0.9:
        pytest.skip("this filesystem's page cache holds no large folios")
    finding = next(f for f in result.findings if "per fault" in f)
    if os.geteuid() != 0:
        assert "Run as root to see the folio sizes" in finding
        return
    assert result.page_cache_folios and sum(size * count for size, count in result.page_cache_folios.items()) \
        == result.spec.pages_per_iteration
    assert "The page cache holds the file in folios of" in finding


def test_populate_says_its_faults_are_not_traps(small_spec):
    if platform.populate_unavailable_reason():
        pytest.skip(platform.populate_unavailable_reason())
    result = engine.run(small_spec(fault_type="populate"))
    assert any("none was a trap" in finding for finding in result.findings)


def test_a_failing_worker_process_is_one_error_from_the_parent(small_spec, monkeypatch, capfd):
    def refuse(cpu):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(platform, "pin_current_thread", refuse)
    with pytest.raises(RunError) as raised:
        engine.run(small_spec(mode="processes", first_cpu=min(platform.allowed_cpus())))
    assert str(raised.value) == "worker process 0: Invalid argument"
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("writer_op", ["mmap", "mprotect"])
def test_address_space_writers_work_while_the_rounds_run_and_leave_nothing(small_spec, writer_op):
    import threading

    before = nohugepage_mappings()
    result = engine.run(small_spec(threads=1, mmap_writers=2, writer_op=writer_op))
    assert result.measured and all(it.writer_ops is not None for it in result.iterations)
    assert sum(it.writer_ops for it in result.measured) > 0
    assert result.writer_ops_per_second == pytest.approx(
        sum(it.writer_ops for it in result.measured) * 1e9 / result.wall_ns)
    assert threading.active_count() == 1
    # Thread stacks (8 MiB, cached by glibc) are flagged too: objects are exactly 4 MiB.
    assert [m for m in nohugepage_mappings() if m not in before and m[1] == 4 << 20] == []
    assert engine.run(small_spec()).writer_ops_per_second is None


def test_writers_pause_between_rounds():
    """A writer counts only the round it waited for: between rounds it sleeps in the gate."""
    import threading
    import time

    from faultput import _core
    page = platform.page_size_bytes()
    gate = _core.Gate(1, 4)
    address = _core.mmap(4 * page, _core.PROT_READ | _core.PROT_WRITE, _core.MAP_PRIVATE | _core.MAP_ANONYMOUS)
    rounds = []

    def writer():
        last = 0
        while (contended := gate.contend(0, 65536, last)) is not None:
            last = contended[0]
            rounds.append(contended)

    def worker():
        while gate.work(0) is not None:
            pass

    threads = [threading.Thread(target=writer), threading.Thread(target=worker)]
    for thread in threads:
        thread.start()
    try:
        gate.load([(address, 4 * page)], page, _core.TOUCH_WRITE)
        assert gate.wait_parked()
        gate.release()
        gate.wait_done()
        deadline = time.monotonic() + 10
        while not rounds and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [number for number, _ in rounds] == [1]
        time.sleep(0.2)
        assert len(rounds) == 1  # no round 2 was released: the writer waits, counting nothing
    finally:
        gate.stop()
        for thread in threads:
            thread.join(timeout=10)
        _core.munmap(address, 4 * page)
    assert not any(thread.is_alive() for thread in threads)


def test_writers_are_refused_in_processes_mode(small_spec):
    from faultput.errors import CannotRunHere

    with pytest.raises(CannotRunHere, match="--mmap-writers contend for the workers' one address space"):
        small_spec(mode="processes", mmap_writers=1)


def test_the_share_of_idle_cpus_is_measured_over_the_rounds(small_spec):
    from faultput.outputs.summary import sweep_table

    result = engine.run(small_spec(duration_s=0.3))
    assert all(it.cpu_ticks is not None and 0 <= it.idle_ticks <= it.cpu_ticks for it in result.measured)
    assert 0.0 <= result.idle_share <= 1.0
    assert "idle" in sweep_table([result]).splitlines()[0]
