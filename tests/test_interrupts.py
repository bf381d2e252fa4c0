"""Ctrl-C and SIGTERM at many points of the round protocol: never a crash, never a leftover.

Each case runs hundreds of interruptions in one helper process (tests/helpers/
interrupt_stress.py), at every progress event of the engine in turn and then at random
ones, each after a random delay, so that signals land inside the native waits, between
them, between runs and while the result file is written.
"""

import json
import subprocess
import sys
import zlib

import pytest

from conftest import HELPERS
from faultput import platform

OBJECT_BYTES = 6 << 20
COMMON = ["--threads", "1,2" if platform.online_cpus() >= 2 else "1", "--duration", "0.03",
          "--object-size", "6M", "--memory", "12M", "--warmup", "1", "-q"]
CASES = [
    ("zero-fill", "threads", "separate-objects"),
    ("zero-fill", "threads", "share-objects"),
    ("zero-fill", "processes", "separate-objects"),
    ("zero-page", "threads", "separate-objects"),
    ("thp", "threads", "share-objects"),
    ("file-cow", "processes", "separate-objects"),
    ("uffd-zeropage", "threads", "share-objects"),
    ("cow", "threads", "separate-objects"),
    ("uffd", "threads", "separate-objects"),
    ("shmem", "threads", "separate-objects"),
    ("populate", "threads", "separate-objects"),
    ("file-shared-write", "threads", "separate-objects"),
    ("file-read", "processes", "share-objects"),
    ("major", "threads", "separate-objects"),
    ("zero-fill --mmap-writers 1", "threads", "separate-objects"),
    ("zero-fill --mmap-writers 2 --writer-op mprotect", "threads", "share-objects"),
    ("zero-fill --latency", "threads", "separate-objects"),
    ("thp --latency 3", "processes", "separate-objects"),
    ("zero-fill --profile --threads 1", "threads", "separate-objects"),
    ("zero-page --profile --latency --threads 2", "processes", "separate-objects"),
]
INTERRUPTIONS_PER_CASE = 40
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


@pytest.mark.slow
@pytest.mark.parametrize("fault, mode, variant", CASES)
def test_hundreds_of_interruptions_never_crash_and_leave_nothing(fault, mode, variant, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    files = tmp_path / "files"
    files.mkdir()
    args = [*COMMON, "--fault", *fault.split(), "--mode", mode, "--variant", variant, "--dir", str(files)]
    completed = subprocess.run(
        [sys.executable, str(HELPERS / "interrupt_stress.py"), str(INTERRUPTIONS_PER_CASE),
         str(zlib.crc32(f"{fault}{mode}{variant}".encode()) % 1000), str(work), *args],
        capture_output=True, text=True, timeout=300, cwd=HELPERS)
    assert completed.returncode == 0, f"the helper crashed ({completed.returncode}): {completed.stderr[-3000:]}"
    reports = json.loads(completed.stdout.strip().splitlines()[-1])
    assert len(reports) == INTERRUPTIONS_PER_CASE
    interrupted = [report for report in reports if not report["late"]]
    # Most signals must land while the command runs: otherwise this test tests nothing.
    assert len(interrupted) >= INTERRUPTIONS_PER_CASE // 2
    for report in reports:
        context = json.dumps(report)
        assert not report["traceback"], context
        assert [size for size in report["left_mapped"] if size % OBJECT_BYTES == 0] == [], context
        assert report["threads"] == 1, context
        assert report["children"] == [], context
        assert report["files"] == [], context
        assert list(files.iterdir()) == [], context
    for report in interrupted:
        context = json.dumps(report)
        assert report["exit_code"] == EXIT_CODES[report["signal"]], context
        # Whatever finished before the signal is in the result file; the run it stopped is
        # marked partial (or was not started yet, when the signal came between runs).
        if report["partial"]:
            assert report["partial"][:-1] == [False] * (len(report["partial"]) - 1), context
