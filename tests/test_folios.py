"""Folio sizes: runs at each large folio size, and every THP setting left as it was found.

The tests that change settings need root and a kernel with per-size settings (Linux 6.8+);
they change them only through faultput, and check that every setting file reads back
byte for byte as before.
"""

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import assert_one_line_error, faultput
from faultput import platform
from faultput.folios import JOURNAL
from helpers.built import result_of

CAN_CHANGE = platform.thp_settings_unchangeable_reason()
needs_settings = pytest.mark.skipif(CAN_CHANGE is not None, reason=f"--folio-size cannot run here: {CAN_CHANGE}")
PAGE = platform.page_size_bytes()
RUN = ["run", "--threads", "1", "--object-size", "4M", "--memory", "8M", "--warmup", "0"]


def settings_bytes() -> dict[str, bytes]:
    """Returns the raw content of every THP setting file."""
    files = {}
    for path in sorted(platform.SYS_THP.rglob("*")):
        if path.is_file() and path.name in ("enabled", "shmem_enabled", "defrag"):
            files[str(path)] = path.read_bytes()
    return files


@pytest.fixture
def unchanged_settings():
    before = settings_bytes()
    yield
    after = settings_bytes()
    assert after == before
    assert not JOURNAL.exists()


@needs_settings
def test_each_folio_size_costs_one_fault_per_folio_and_the_settings_come_back(unchanged_settings, tmp_path):
    sizes = [size for size in (16 << 10, 64 << 10, 2 << 20) if size in platform.mthp_sizes()]
    text = ",".join(["4K"] + [f"{size >> 10}K" for size in sizes])
    path = tmp_path / "r.json"
    completed = faultput(*RUN, "--duration", "0.2", "--folio-size", text, "--json", str(path), "-q")
    assert completed.returncode == 0, completed.stderr
    results = json.loads(path.read_text())["results"]
    for result in results:
        folio = result["spec"]["folio_size_bytes"]
        faults_per_page = result["summary"]["faults_per_page"]
        assert abs(faults_per_page - PAGE / folio) <= 0.02 * PAGE / folio or any(
            "fell back" in finding for finding in result["findings"]), result["findings"]
    assert "by folio size and threads" in completed.stdout
    assert "4K" in completed.stdout and "change" in completed.stdout


@needs_settings
def test_the_settings_come_back_after_an_error(unchanged_settings, tmp_path, monkeypatch):
    from faultput import cli, engine
    from faultput.errors import RunError

    def failing_run(spec, on_event=None, interruption=None):
        assert platform.thp_settings()  # the settings were applied before this
        raise RunError("mmap of object 1 of 2 (4 MiB) failed: Cannot allocate memory")

    monkeypatch.setattr(engine, "run", failing_run)
    assert cli.main([*RUN, "--duration", "0.1", "--folio-size", "64K", "-q"]) == 1


@needs_settings
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_settings_come_back_after_ctrl_c_and_sigterm(unchanged_settings, signum, code):
    from test_cli import kill_process_tree, read_until

    process = subprocess.Popen([sys.executable, "-m", "faultput", *RUN, "--duration", "600", "--folio-size",
                                "64K", "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_until(process.stderr, "Starting Iteration 3")
        assert JOURNAL.exists()
        process.send_signal(signum)
        process.communicate(timeout=60)
    finally:
        kill_process_tree(process)
    assert process.returncode == code


@needs_settings
def test_after_a_sigkill_the_next_faultput_restores_the_settings_from_the_journal(unchanged_settings):
    from test_cli import kill_process_tree, read_until

    before = platform.thp_settings()
    process = subprocess.Popen([sys.executable, "-m", "faultput", *RUN, "--duration", "600", "--folio-size",
                                "16K", "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_until(process.stderr, "Starting Iteration 2")
        process.kill()
        process.wait()
    finally:
        kill_process_tree(process)
    assert platform.thp_settings() != before and JOURNAL.exists()
    completed = faultput("list")
    assert completed.returncode == 0
    assert completed.stderr == ("faultput: restored the transparent huge page settings that a faultput process "
                                f"killed mid-run had changed (journal {JOURNAL})\n")


def test_without_root_folio_sizes_are_refused(monkeypatch, capsys):
    from faultput import cli

    if not platform.mthp_sizes():
        pytest.skip("no per-size settings on this kernel")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main([*RUN, "--duration", "0.1", "--folio-size", "64K"]) == 2
    assert capsys.readouterr().err == ("faultput: error: --folio-size cannot run here: it changes "
                                       "/sys/kernel/mm/transparent_hugepage settings, which needs root\n")


def test_a_size_the_kernel_does_not_offer_is_refused_naming_those_it_does():
    offered = ", ".join(["4K"] + [f"{s >> 20}M" if s % (1 << 20) == 0 else f"{s >> 10}K"
                                  for s in platform.mthp_sizes()])
    assert_one_line_error(faultput(*RUN, "--folio-size", "4K,3M"), 2,
                          f"folio size 3 MiB is not one this kernel offers (offered: {offered})")


@pytest.mark.parametrize("fault", ["cow", "uffd", "file-read", "thp"])
def test_folio_sizes_are_refused_where_they_mean_nothing(fault, tmp_path):
    if not platform.mthp_sizes():
        pytest.skip("no per-size settings on this kernel")
    completed = faultput(*RUN, "--fault", fault, "--dir", str(tmp_path), "--folio-size", "4K")
    assert_one_line_error(completed, 2, f"--folio-size does not apply to {fault}")


def test_the_counter_check_reports_the_folios_and_the_fallbacks():
    from faultput import checks
    from faultput.faults import get_fault_type

    pages_per_folio = (64 << 10) // PAGE
    result = result_of(faults=(16 << 20) // (64 << 10), folio_size_bytes=64 << 10, huge_pages="request")
    expected = result.spec.pages_per_iteration // pages_per_folio
    iteration = result.iterations[0]
    counters = {64 << 10: {"anon_fault_alloc": expected - 16, "anon_fault_fallback": 16,
                           "anon_fault_fallback_charge": 4}}
    result = result.__class__(**{**result.__dict__, "iterations": (iteration.__class__(
        **{**iteration.__dict__, "folio_counters": counters}),)})
    observed, findings = checks.judge(result, get_fault_type("zero-fill"), "madvise")
    assert observed == "64 KiB folios, 16 pages per fault"
    finding = next(f for f in findings if "64 KiB folios" in f)
    assert f"allocated {expected - 16:,} of them on faults (94% of the {expected:,} the pages need" in finding
    assert "fell back to smaller folios 16 times (6%, 4 of them for the memory cgroup's charge)" in finding


def test_the_system_facts_hold_every_per_size_setting():
    facts = platform.system_facts()
    if not platform.mthp_sizes():
        pytest.skip("no per-size settings on this kernel")
    names = set(facts["thp_settings"])
    assert {"enabled", "defrag", "shmem_enabled"} <= names
    assert all(f"{directory.name}/shmem_enabled" in names for directory in platform.mthp_sizes().values())
    info = faultput("info")
    assert "THP sizes allowed" in info.stdout
