"""Shared helpers: small, fast runs of faultput, in-process and as a command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Small objects and short durations keep the suite quick on 2 cores.
SMALL = ["--object-size", "4M", "--memory", "8M", "--duration", "0.2", "--warmup", "0"]

HELPERS = Path(__file__).parent / "helpers"


def faultput(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs `python -m faultput args` and returns the completed process (text output)."""
    return subprocess.run([sys.executable, "-m", "faultput", *args], capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(completed: subprocess.CompletedProcess, exit_code: int, *fragments: str) -> None:
    """Asserts a clean refusal: the exit code, one stderr line naming each fragment, no traceback."""
    assert completed.returncode == exit_code, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("faultput: error: ")
    assert "Traceback" not in completed.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert completed.stdout == ""


@pytest.fixture
def small_spec():
    """Returns make_spec with small defaults filled in."""
    from faultput.faults import check_runnable
    from faultput.spec import make_spec

    def build(**overrides):
        values = dict(variant="separate-objects", threads=1, duration_s=0.1,
                      object_size_bytes=4 << 20, memory_bytes=8 << 20)
        values.update(overrides)
        spec = make_spec(**values)
        check_runnable(spec)
        return spec
    return build
