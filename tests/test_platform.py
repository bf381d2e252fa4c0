"""The platform module's parsers, on fixture files laid out as /proc and /sys lay them out."""

import os

import pytest

from faultput import platform

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:21 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
26 22 0:22 / /data\\040disk rw shared:4 - xfs /dev/vdb rw
27 26 0:23 / /data\\040disk/fast rw shared:5 - tmpfs tmpfs rw
"""

MEMINFO = """\
MemTotal:       24000000 kB
MemAvailable:   20000000 kB
HugePages_Total:      16
HugePages_Free:       12
Hugepagesize:       2048 kB
"""


@pytest.fixture
def proc(tmp_path, monkeypatch):
    """A fake /proc, with self/ in it, that the platform module reads instead of the real one."""
    (tmp_path / "self").mkdir()
    (tmp_path / "sys" / "vm").mkdir(parents=True)
    (tmp_path / "self" / "mountinfo").write_text(MOUNTINFO)
    (tmp_path / "meminfo").write_text(MEMINFO)
    monkeypatch.setattr(platform, "PROC", tmp_path)
    return tmp_path


@pytest.mark.parametrize("path, filesystem", [("/", "ext4"), ("/dev/shm/x", "tmpfs"), ("/data disk/y", "xfs"),
                                              ("/data disk/fast/z", "tmpfs"), ("/dev/shmother", "ext4")])
def test_the_filesystem_of_a_path_is_that_of_its_longest_mount_point(proc, monkeypatch, path, filesystem):
    monkeypatch.setattr(os.path, "realpath", lambda p: p)
    assert platform.filesystem_type(path) == filesystem


def test_meminfo_sizes_and_counts_are_read(proc):
    assert platform.memory_total_bytes() == 24000000 * 1024
    assert platform.hugetlb_page_bytes() == 2 << 20
    assert (platform.hugetlb_total_pages(), platform.hugetlb_free_pages()) == (16, 12)


def test_a_missing_meminfo_field_is_none_or_zero(proc):
    (proc / "meminfo").write_text("MemTotal: 1 kB\n")
    assert platform.hugetlb_page_bytes() is None and platform.hugetlb_free_pages() == 0


def test_the_tightest_cgroup_v2_limit_up_the_tree_binds(tmp_path, monkeypatch):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text("0::/outer/inner\n")
    root = tmp_path / "cgroup"
    for path, limit, usage in ((root / "outer", "1000000", "200000"), (root / "outer" / "inner", "max", "100")):
        path.mkdir(parents=True, exist_ok=True)
        (path / "memory.max").write_text(limit + "\n")
        (path / "memory.current").write_text(usage + "\n")
    monkeypatch.setattr(platform, "PROC", proc)
    monkeypatch.setattr(platform, "CGROUP_ROOT", root)
    headroom, where = platform.cgroup_memory_headroom()
    assert headroom == 800000 and where == f"cgroup {root / 'outer'}"


def test_cgroup_v1_no_limit_is_no_limit(tmp_path, monkeypatch):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text("4:memory:/job\n")
    job = tmp_path / "cgroup" / "memory" / "job"
    job.mkdir(parents=True)
    (job / "memory.limit_in_bytes").write_text(str(1 << 62))
    (job / "memory.usage_in_bytes").write_text("5")
    monkeypatch.setattr(platform, "PROC", proc)
    monkeypatch.setattr(platform, "CGROUP_ROOT", tmp_path / "cgroup")
    assert platform.cgroup_memory_headroom() is None


@pytest.mark.parametrize("text, choice", [("always [madvise] never\n", "madvise"), ("[never]", "never"),
                                          ("plain\n", "plain"), ("", None)])
def test_the_selected_word_of_a_sysfs_choice_is_read(tmp_path, monkeypatch, text, choice):
    (tmp_path / "enabled").write_text(text)
    monkeypatch.setattr(platform, "SYS_THP", tmp_path)
    assert platform.thp_enabled() == choice


def test_no_thp_directory_means_no_thp(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "SYS_THP", tmp_path / "absent")
    assert platform.thp_enabled() is None and platform.huge_page_bytes() == platform.DEFAULT_HUGE_PAGE_BYTES


def test_a_process_start_time_tells_a_reused_pid_from_its_owner(proc):
    (proc / "4242").mkdir()
    # The command name may hold spaces and parentheses; the start time is field 22 after it.
    (proc / "4242" / "stat").write_text("4242 (a (b) c) S " + " ".join(str(n) for n in range(4, 22)) + " 98765 0 0\n")
    assert platform._process_start_ticks(4242) == "98765"
    assert platform._process_start_ticks(4243) is None


def test_resident_bytes_are_read_by_kind(proc):
    (proc / "self" / "status").write_text("Name: x\nRssAnon:\t  100 kB\nRssFile:\t 20 kB\nRssShmem:\t 3 kB\n")
    assert platform.resident_bytes() == platform.ResidentBytes(100 * 1024, 20 * 1024, 3 * 1024)


def test_page_cache_folios_of_a_real_file_add_up_to_the_file(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("page frame numbers need CAP_SYS_ADMIN")
    size = 4 << 20
    fd = platform.create_data_file(tmp_path / "data", size)
    try:
        folios = platform.page_cache_folios(fd, size, 1 << 20)
    finally:
        os.close(fd)
    assert folios is not None
    assert sum(pages * count for pages, count in folios.items()) == size // platform.page_size_bytes()


def test_idle_and_all_ticks_are_summed_over_the_cpus_asked_for(proc):
    (proc / "stat").write_text("cpu  100 0 50 800 50 0 0 0 0 0\n"
                               "cpu0 10 0 5 80 5 0 0 0 0 0\n"
                               "cpu1 20 1 10 60 9 0 0 0 0 0\n"
                               "cpu10 1 1 1 1 1 1 1 1 0 0\n"
                               "intr 12345\n")
    assert platform.cpu_ticks([0]) == (85, 100)
    assert platform.cpu_ticks([0, 1]) == (85 + 69, 100 + 100)
