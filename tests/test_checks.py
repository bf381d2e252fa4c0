"""checks: what the kernel's counts say about a result, tested on hand-built results."""

import pytest

from faultput import checks, platform
from faultput.faults import get_fault_type
from helpers.built import result_of

PAGE = platform.page_size_bytes()


def judge(result):
    return checks.judge(result, get_fault_type(result.spec.fault_type), "madvise")


def test_workers_kept_off_the_cpu_are_reported_with_a_likely_cause():
    # Measured under load: 0.995 s of CPU time over 1.002 s of wall time with 2 threads.
    result = result_of(threads=2, wall_ns=1_002_000_000, cpu_ns_each=497_500_000)
    _, findings = judge(result)
    finding = next(f for f in findings if "on a CPU for only" in f)
    assert "50% of threads x wall time (0.995 s of 2.004 s)" in finding
    assert "another process" in finding


def test_workers_on_the_cpu_draw_no_such_finding():
    _, findings = judge(result_of(threads=2, cpu_ns_each=980_000_000))
    assert not any("on a CPU" in f for f in findings)


def test_uffd_workers_waiting_for_the_handler_are_said_to_wait_for_it():
    _, findings = judge(result_of("uffd", cpu_ns_each=400_000_000, helper_cpu_ns=440_000_000))
    assert any("wait for the handler thread" in f for f in findings)


@pytest.mark.parametrize("objects", [1, 3, 8])
def test_file_read_faults_are_predicted_from_folios_and_the_fault_around_remainder(objects, monkeypatch):
    monkeypatch.setattr(platform, "fault_around_bytes", lambda: 64 << 10)
    folio_pages = (1 << 20) // PAGE
    folios = objects * (16 << 20) // (1 << 20)
    window = (64 << 10) // PAGE
    # Every 1 MiB folio maps in one fault but the file's last, which faults window by window.
    faults = folios - 1 + folio_pages // window
    result = result_of("file-read", faults=faults, object_count=objects, folios={folio_pages: folios})
    _, findings = judge(result)
    finding = next(f for f in findings if "page cache holds" in f)
    assert f"folios of {folios:,} x 1 MiB" in finding
    assert (f"{folios - 1:,} of the {folios:,} folios were mapped whole, one fault each, and 1 in "
            f"{window}-page fault-around windows ({folio_pages // window} faults each") in finding
    assert f"{folios - 1:,} + 1 x {folio_pages // window} = {faults:,} faults per iteration" in finding


def test_without_folio_sizes_the_finding_says_how_to_see_them():
    result = result_of("file-read", faults=(16 << 20) // PAGE // 256)
    _, findings = judge(result)
    assert any("Run as root to see the folio sizes" in f for f in findings)


def test_populate_faults_are_said_not_to_be_traps():
    _, findings = judge(result_of("populate"))
    assert any("none was a trap" in f for f in findings)
    _, findings = judge(result_of("zero-fill"))
    assert not any("trap" in f for f in findings)


def test_a_zero_page_where_zero_fill_was_meant_is_reported():
    observed, findings = judge(result_of("zero-fill", resident=0))
    assert observed == "zero page"
    assert any("pages were already present" in f for f in findings)


def test_faults_above_the_expectation_are_reported():
    result = result_of("zero-fill", faults=2 * (16 << 20) // PAGE)
    _, findings = judge(result)
    assert any("above the 1.0000" in f and "more than once" in f for f in findings)
