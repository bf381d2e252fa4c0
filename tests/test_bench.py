"""The fidelity benchmark refuses clearly when its C reference is missing."""

import subprocess
import sys
from pathlib import Path

FIDELITY = Path(__file__).resolve().parents[1] / "bench" / "fidelity.py"


def test_fidelity_benchmark_without_the_reference_says_so_and_exits_non_zero(tmp_path):
    missing = tmp_path / "fault_throughput_linux.c"
    completed = subprocess.run([sys.executable, str(FIDELITY), "--reference", str(missing)],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert f"the C reference {missing} is not there" in completed.stderr


def test_fidelity_benchmark_parses_the_seed_result_block():
    sys.path.insert(0, str(FIDELITY.parent))
    try:
        import fidelity
    finally:
        sys.path.pop(0)
    stdout = "noise\n-----Results-----\nheader\n123.500000,45.250000\n"
    assert fidelity.parse_figures(stdout) == (123.5, 45.25)


def test_the_projects_own_harness_builds_and_prints_the_seed_block(tmp_path):
    binary = tmp_path / "harness"
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(binary), str(FIDELITY.parent / "harness.c")], check=True)
    completed = subprocess.run([str(binary), "share-objects", "0.2", "1"], capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "-----Results-----"
    wall, cpu = (float(figure) for figure in lines[2].split(","))
    assert wall > 0 and cpu > 0
