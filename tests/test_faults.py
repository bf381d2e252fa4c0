"""Each fault type costs what it should, refuses clearly where it cannot run, and cleans up."""

import os
import stat

import pytest

from faultput import _core, engine, platform
from faultput.errors import FaultTypeUnavailable, UsageError
from faultput.faults import all_fault_types, get_fault_type
from faultput.faults import check_runnable
from faultput.spec import make_spec

PAGE = platform.page_size_bytes()
HUGE = platform.huge_page_bytes()


def spec_for(name, tmp_path, variant="separate-objects", threads=2, **overrides):
    values = dict(variant=variant, threads=min(threads, platform.online_cpus()), duration_s=0.1,
                  fault_type=name, object_size_bytes=4 * HUGE, memory_bytes=8 * HUGE,
                  warmup_iterations=1, directory=str(tmp_path))
    values.update(overrides)
    spec = make_spec(**values)
    check_runnable(spec)
    return spec


def runnable(name, tmp_path):
    try:
        spec_for(name, tmp_path)
    except FaultTypeUnavailable as refusal:
        pytest.skip(f"{name} cannot run here: {refusal.reason}")


# (fault type, lowest and highest faults per page that are right for it)
ONE_PER_PAGE = (0.99, 1.1)
# Exactly one per page, but for a few faults a worker may take outside the objects in its
# counted window (its own stack, a page of the shared gate after a fork): an honest bound.
EXACTLY_ONE = "exactly one"
STRAY_FAULTS_PER_WORKER_ROUND = 4
EXPECTED_FAULTS_PER_PAGE = {
    "zero-fill": EXACTLY_ONE,
    "zero-page": EXACTLY_ONE,
    "shmem": ONE_PER_PAGE,
    "cow": ONE_PER_PAGE,
    "file-cow": ONE_PER_PAGE,
    "populate": ONE_PER_PAGE,
    "uffd": ONE_PER_PAGE,
    "uffd-zeropage": ONE_PER_PAGE,
    "major": ONE_PER_PAGE,
    # One fault per huge page; threads racing on one huge page in share-objects may both fault.
    "thp": (PAGE / HUGE, 4 * PAGE / HUGE),
    "hugetlb": (PAGE / HUGE, 4 * PAGE / HUGE),
    # At least fault-around's window per fault; large page cache folios map more.
    "file-read": (1e-4, 1.1 * PAGE / platform.fault_around_bytes()),
    "file-shared-write": (1e-4, 1.1),
}


def assert_faults_per_page_right(name, result):
    expected = EXPECTED_FAULTS_PER_PAGE[name]
    faults = result.minor_faults + result.major_faults
    if expected == EXACTLY_ONE:
        stray = STRAY_FAULTS_PER_WORKER_ROUND * result.spec.threads * len(result.measured)
        assert result.pages <= faults <= result.pages + stray, result.findings
    else:
        low, high = expected
        assert low <= result.faults_per_page <= high, result.findings


def test_every_fault_type_has_an_expectation_here():
    assert set(EXPECTED_FAULTS_PER_PAGE) == set(all_fault_types())


@pytest.mark.parametrize("variant", ["separate-objects", "share-objects"])
@pytest.mark.parametrize("name", sorted(EXPECTED_FAULTS_PER_PAGE))
def test_fault_type_costs_what_it_should(name, variant, tmp_path):
    runnable(name, tmp_path)
    result = engine.run(spec_for(name, tmp_path, variant=variant))
    assert result.measured
    assert_faults_per_page_right(name, result)
    assert result.spec.fault_type == name
    assert result.pages_per_wall_second > 0 and result.pages_per_cpu_second > 0
    if name == "major":
        assert result.major_faults >= 0.9 * result.pages
    if name in ("file-read", "zero-fill", "zero-page", "shmem", "populate"):
        assert result.major_faults == 0
    if name == "uffd-zeropage":
        assert result.observed_fault == "uffd-zeropage" and result.resident_pages_per_page < 0.5
    assert list(tmp_path.iterdir()) == []


PROCESS_RUNS = [(name, variant) for name in sorted(EXPECTED_FAULTS_PER_PAGE)
                for variant in ("separate-objects", "share-objects")
                if "processes" in get_fault_type(name).modes
                and (variant == "separate-objects" or get_fault_type(name).shared_between_processes)]


@pytest.mark.parametrize("name, variant", PROCESS_RUNS)
def test_fault_type_costs_the_same_in_processes_mode(name, variant, tmp_path):
    runnable(name, tmp_path)
    result = engine.run(spec_for(name, tmp_path, variant=variant, mode="processes"))
    assert result.measured and result.spec.mode == "processes"
    assert_faults_per_page_right(name, result)
    assert all(len(iteration.workers) == result.spec.threads for iteration in result.measured)
    assert sum(iteration.pages_touched for iteration in result.measured) == result.pages
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_processes_mode_workers_each_do_their_share(tmp_path):
    spec = make_spec(variant="separate-objects", threads=2, oversubscribe=True, duration_s=0.1, mode="processes",
                     object_size_bytes=4 * HUGE, memory_bytes=16 * HUGE, warmup_iterations=1)
    result = engine.run(spec)
    assert result.spec.threads == 2 and all(len(it.workers) == 2 for it in result.measured)
    assert any(all(worker.items > 0 for worker in it.workers) for it in result.measured)
    assert all(sum(worker.items for worker in it.workers) == spec.object_count for it in result.measured)


@pytest.mark.parametrize("name", ["cow", "uffd", "uffd-zeropage"])
def test_threads_only_types_refuse_processes_mode(name, tmp_path):
    with pytest.raises(UsageError, match=f"fault type {name} runs only in threads mode, not processes mode"):
        spec_for(name, tmp_path, mode="processes")


def test_share_objects_of_private_memory_in_processes_mode_is_refused(tmp_path):
    with pytest.raises(UsageError, match="share-objects in processes mode needs a mapping the processes share "
                                         "page for page; zero-fill gives each process its own pages .use "
                                         "threads mode, or one of file-read, file-shared-write, major.$"):
        spec_for("zero-fill", tmp_path, variant="share-objects", mode="processes")


def test_file_backed_types_use_a_private_directory_and_file(tmp_path, monkeypatch):
    seen = {}
    fault_type = get_fault_type("file-read")

    def record(state, addresses):
        seen["directory"] = stat.S_IMODE(os.stat(state.directory).st_mode)
        seen["parent"] = state.directory.parent
        seen["file"] = stat.S_IMODE(os.fstat(state.fd).st_mode)
        seen["size"] = os.fstat(state.fd).st_size

    monkeypatch.setattr(fault_type, "before_touch", record)
    spec = spec_for("file-read", tmp_path)
    engine.run(spec)
    assert seen == {"directory": 0o700, "parent": tmp_path, "file": 0o600, "size": spec.memory_bytes}
    assert list(tmp_path.iterdir()) == []


def test_failed_run_removes_its_files(tmp_path, monkeypatch):
    fault_type = get_fault_type("file-cow")

    def fail(state, addresses):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fault_type, "before_touch", fail)
    with pytest.raises(Exception, match="Input/output error"):
        engine.run(spec_for("file-cow", tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_cow_leaves_no_child_behind(tmp_path):
    runnable("cow", tmp_path)
    engine.run(spec_for("cow", tmp_path))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_file_types_refuse_a_directory_without_room(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "free_disk_bytes", lambda path: 1 << 20)
    with pytest.raises(UsageError, match=r"has 1 MiB free; the run's file needs 16 MiB"):
        spec_for("file-read", tmp_path)


def test_file_types_refuse_a_missing_directory(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        spec_for("file-read", tmp_path / "nowhere")


def test_major_refuses_a_memory_filesystem(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "filesystem_type", lambda path: "tmpfs")
    with pytest.raises(FaultTypeUnavailable, match="is on tmpfs, which keeps files in memory"):
        spec_for("major", tmp_path)


def test_major_really_refuses_dev_shm_where_it_is_tmpfs():
    if platform.filesystem_type("/dev/shm") != "tmpfs":
        pytest.skip("/dev/shm is not tmpfs here")
    with pytest.raises(FaultTypeUnavailable, match="/dev/shm is on tmpfs"):
        check_runnable(make_spec(variant="separate-objects", threads=1, duration_s=1, fault_type="major",
                                 object_size_bytes=4 << 20, memory_bytes=4 << 20, directory="/dev/shm"))


def test_hugetlb_without_reserved_pages_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "hugetlb_free_pages", lambda: 0)
    with pytest.raises(FaultTypeUnavailable, match=r"free huge pages .* are needed and 0 are reserved"):
        spec_for("hugetlb", tmp_path)


def test_thp_disabled_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "thp_enabled", lambda: "never")
    with pytest.raises(FaultTypeUnavailable, match="transparent huge pages are disabled"):
        spec_for("thp", tmp_path)


def test_uffd_not_permitted_says_why(tmp_path, monkeypatch):
    class Refused:
        def __init__(self, copy):
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(_core, "Uffd", Refused)
    with pytest.raises(FaultTypeUnavailable, match="userfaultfd is not permitted here"):
        spec_for("uffd", tmp_path)


def test_access_and_fault_type_cannot_both_be_chosen(tmp_path):
    with pytest.raises(UsageError, match="access 'read' only chooses between zero-fill and zero-page"):
        spec_for("shmem", tmp_path, access="read")


def test_unknown_fault_type_names_the_known_ones(tmp_path):
    with pytest.raises(UsageError, match=r"unknown fault type 'page-in' \(known: cow, "):
        spec_for("page-in", tmp_path)


@pytest.mark.parametrize("name, thp, policy", [("zero-fill", False, "off"), ("zero-fill", True, "allow"),
                                               ("thp", False, "request"), ("hugetlb", False, "hugetlb")])
def test_the_spec_records_the_huge_page_policy_the_objects_get(name, thp, policy, tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "hugetlb_free_pages", lambda: 1 << 20)
    if platform.thp_enabled() in (None, "never") and name == "thp":
        pytest.skip("no THP here")
    assert spec_for(name, tmp_path, thp=thp).huge_pages == policy


def test_hugetlb_in_processes_mode_needs_pages_for_every_worker_process(tmp_path, monkeypatch):
    from faultput import platform as linux

    monkeypatch.setattr(linux, "hugetlb_page_bytes", lambda: HUGE)
    monkeypatch.setattr(linux, "hugetlb_free_pages", lambda: 8)
    monkeypatch.setattr(linux, "hugetlb_total_pages", lambda: 8)
    kind = get_fault_type("hugetlb")
    threads_spec = spec_for("zero-fill", tmp_path, threads=1, object_size_bytes=4 * HUGE,
                            memory_bytes=8 * HUGE)
    from dataclasses import replace
    assert kind.unavailable_reason(replace(threads_spec, fault_type="hugetlb", threads=2)) is None
    reason = kind.unavailable_reason(replace(threads_spec, fault_type="hugetlb", mode="processes", threads=2))
    assert reason == (f"16 free huge pages of {HUGE // 1024} KiB are needed (2 worker processes, each mapping "
                      "every object) and 8 are reserved and free: reserve them as root with sysctl "
                      "vm.nr_hugepages=16, or pass a smaller --memory")


def test_making_a_spec_probes_nothing_and_checking_it_does(tmp_path, monkeypatch):
    probed = []
    monkeypatch.setattr(platform, "populate_unavailable_reason", lambda: probed.append("populate"))
    spec = make_spec(variant="separate-objects", threads=1, duration_s=1, fault_type="populate",
                     object_size_bytes=4 << 20, memory_bytes=4 << 20)
    assert probed == []
    check_runnable(spec)
    assert probed == ["populate"]
