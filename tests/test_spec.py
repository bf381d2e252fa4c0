"""Every bad value is refused with a UsageError naming it, before anything is mapped."""

import pytest

from faultput import platform
from faultput.errors import UsageError
from faultput.spec import (fast_sweep_thread_counts, make_spec, parse_count, parse_duration, parse_size,
                           parse_thread_counts, sweep_thread_counts)


def spec(**overrides):
    values = dict(variant="separate-objects", threads=1, duration_s=1)
    values.update(overrides)
    return make_spec(**values)


def test_defaults_follow_the_seed():
    result = spec()
    assert result.object_size_bytes == 128 << 20
    assert result.object_count == platform.online_cpus()
    assert result.fault_type == "zero-fill" and result.touch == "write" and not result.thp


def test_memory_per_iteration_does_not_depend_on_threads():
    assert spec(threads=1).memory_bytes == spec(threads=platform.online_cpus()).memory_bytes


@pytest.mark.parametrize("text, expected", [("4096", 4096), ("64K", 65536), ("128M", 128 << 20),
                                            ("2GiB", 2 << 30), ("1.5k", 1536)])
def test_sizes_take_binary_suffixes(text, expected):
    assert parse_size(text, "memory") == expected


@pytest.mark.parametrize("text", ["", "abc", "-4K", "0", "1.3"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(UsageError, match="memory"):
        parse_size(text, "memory")


@pytest.mark.parametrize("text", ["abc", "0", "-1", "nan", "inf"])
def test_bad_durations_are_refused(text):
    with pytest.raises(UsageError, match=f"duration '{text}'"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["x", "0", "-2", "1.5"])
def test_bad_thread_counts_are_refused(text):
    with pytest.raises(UsageError, match=f"threads '{text}'"):
        parse_count(text, "threads")


def test_thread_lists_and_ranges():
    assert parse_thread_counts("1,2,4") == [1, 2, 4]
    assert parse_thread_counts("1-4") == [1, 2, 3, 4]
    assert parse_thread_counts("2,1-3") == [2, 1, 3]
    with pytest.raises(UsageError, match="backwards"):
        parse_thread_counts("4-1")


def test_sweeps_match_the_wrapper():
    assert sweep_thread_counts(3) == [1, 2, 3]
    assert fast_sweep_thread_counts(1) == [1]
    assert fast_sweep_thread_counts(2) == [1, 2]
    assert fast_sweep_thread_counts(16) == [1, 2, 4, 16]
    assert fast_sweep_thread_counts(100) == [1, 2, 4, 16, 64]


def test_more_threads_than_cpus_needs_oversubscribe():
    too_many = platform.online_cpus() + 1
    with pytest.raises(UsageError, match=f"threads {too_many} is more than"):
        spec(threads=too_many)
    allowed = spec(threads=too_many, oversubscribe=True, object_size_bytes=4 << 20)
    assert allowed.object_count == too_many


def test_unknown_variant_and_access_are_refused():
    with pytest.raises(UsageError, match="unknown variant 'diagonal'"):
        spec(variant="diagonal")
    with pytest.raises(UsageError, match="unknown access 'execute'"):
        spec(access="execute")


def test_first_cpu_outside_the_allowed_cpus_is_refused():
    with pytest.raises(UsageError, match="first CPU 4096 is not one this process may use"):
        spec(first_cpu=4096)


def test_pinning_wraps_around_the_online_cpus():
    ncpu = platform.online_cpus()
    if set(range(ncpu)) != platform.allowed_cpus():
        pytest.skip("needs every online CPU allowed")
    assert spec(threads=ncpu, first_cpu=ncpu - 1).worker_cpus == tuple((i + ncpu - 1) % ncpu
                                                                       for i in range(ncpu))


def test_memory_beyond_what_is_available_is_refused():
    with pytest.raises(UsageError, match=r"memory 100 TiB is more than this process can use"):
        spec(memory_bytes=100 << 40)


def test_object_size_must_be_whole_pages():
    with pytest.raises(UsageError, match="object size 1000 is not a multiple"):
        spec(object_size_bytes=1000, memory_bytes=4000)


def test_separate_objects_needs_an_object_per_thread():
    if platform.online_cpus() < 2:
        pytest.skip("needs 2 CPUs")
    with pytest.raises(UsageError, match="needs an object per thread"):
        spec(threads=2, object_size_bytes=4 << 20, memory_bytes=4 << 20)


def test_share_objects_needs_a_page_per_thread():
    page = platform.page_size_bytes()
    if platform.online_cpus() < 2:
        pytest.skip("needs 2 CPUs")
    with pytest.raises(UsageError, match="at least one page per thread"):
        spec(variant="share-objects", threads=2, object_size_bytes=page, memory_bytes=4 * page)
