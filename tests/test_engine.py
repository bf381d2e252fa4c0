"""The engine measures what it claims: kernel fault counts, pages, iterations, cleanup."""

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
    # Tiny objects on a shared 2-CPU machine may leave workers waiting; nothing else may be said.
    assert [finding for finding in result.findings if "on a CPU for only" not in finding] == []


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


def test_pinned_workers_run_on_their_cpus(small_spec):
    result = engine.run(small_spec(first_cpu=min(platform.allowed_cpus())))
    assert result.spec.worker_cpus == (min(platform.allowed_cpus()),)
    assert result.faults_per_page == 1.0


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
