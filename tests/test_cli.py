"""The command line: the seed's output format, clean refusals, Ctrl-C, and the run form's files."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import HELPERS, SMALL, assert_one_line_error, faultput
from faultput import platform
from faultput.outputs.seed import SeedProgress

NCPU = platform.online_cpus()
SEED_FIGURES = re.compile(r"^\d+\.\d{6},\d+\.\d{6}$")


def test_seed_form_prints_the_seed_result_block_line_by_line():
    completed = faultput("separate-objects", "1", "1")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "-----Results-----"
    assert lines[1] == "Throughput (pages / wall second), Throughput (pages / CPU second)"
    assert SEED_FIGURES.match(lines[2])
    assert len(lines) == 3
    wall, cpu = (float(figure) for figure in lines[2].split(","))
    assert wall > 0 and cpu > 0


def test_seed_form_verbose_prints_the_seed_progress_lines_with_timestamps():
    completed = faultput("-v", "share-objects", "1", "1")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    stamp = r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\] "
    progress = [re.sub(stamp, "", line) for line in lines if re.match(stamp, line)]
    assert progress[:7] == [
        "Initialized global data structures.",
        "Spawned workers.",
        "----Starting Iteration 1-----",
        "Waiting for workers to catch up before starting next iteration.",
        "Workers are all caught up",
        "Initialized data structures for iteration. Waking workers.",
        "----Completed Iteration 1----",
    ]
    assert progress[-3:] == ["Hit time budget", "Joining worker threads", "----End Test Output----"]
    assert lines[-3] == "-----Results-----"
    assert SEED_FIGURES.match(lines[-1])


def test_seed_form_accepts_the_seeds_case_insensitive_variant_prefix():
    completed = faultput("Share-Objects", "1", "1")
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize("args, fragments", [
    (["separate-objects", "abc", "1"], ["duration 'abc'"]),
    (["separate-objects", "0", "1"], ["duration '0'"]),
    (["separate-objects", "-3", "1"], ["duration '-3'"]),
    (["separate-objects", "1", "many"], ["threads 'many'"]),
    (["separate-objects", "1", "0"], ["threads '0'"]),
    (["separate-objects", "1", "-1"], ["threads '-1'"]),
    (["separate-objects", "1", str(NCPU + 1)], [f"threads {NCPU + 1}", "--oversubscribe"]),
    (["separate-objects", "1", "1", "4096"], ["first CPU 4096"]),
    (["separate-objects", "1", "1", "-1"], ["first CPU '-1'"]),
    (["separate-objects", "1"], ["usage"]),
    (["diagonal-objects", "1", "1"], ["'diagonal-objects'"]),
    (["run", "--duration", "soon"], ["duration 'soon'"]),
    (["run", "--duration", "0"], ["duration '0'"]),
    (["run", "--threads", "0"], ["threads '0'"]),
    (["run", "--threads", "two"], ["threads 'two'"]),
    (["run", "--threads", str(NCPU + 1)], [f"threads {NCPU + 1}"]),
    (["run", "--variant", "diagonal"], ["--variant", "'diagonal'"]),
    (["run", "--first-cpu", "4096"], ["first CPU 4096"]),
    (["run", "--memory", "100T"], ["memory 100 TiB", "available"]),
    (["run", "--object-size", "12345"], ["object size 12345"]),
    (["run", "--memory", "lots"], ["memory 'lots'"]),
    (["run", "--access", "execute"], ["--access", "'execute'"]),
    (["run", "--json", "/nonexistent/dir/r.json"], ["--json", "does not exist"]),
    (["run", "--frobnicate"], ["--frobnicate"]),
])
def test_bad_input_gets_one_line_naming_it_and_exit_2(args, fragments):
    assert_one_line_error(faultput(*args), 2, *fragments)


def test_oversubscription_runs_when_asked_for():
    completed = faultput("run", "--threads", str(NCPU + 1), "--oversubscribe", *SMALL[:2], *SMALL[4:])
    assert completed.returncode == 0, completed.stderr
    assert f"{NCPU + 1} threads" in completed.stdout


def test_help_is_shown_and_exit_codes_are_right():
    assert faultput("--help").returncode == 0
    assert faultput().returncode == 2
    completed = faultput("run", "--help")
    assert completed.returncode == 0 and "--perfdata" in completed.stdout


def run_probe(*args, headroom=None):
    command = [sys.executable, str(HELPERS / "probe.py")]
    if headroom is not None:
        command += ["--address-space-headroom", str(headroom)]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=120)


def probe_report(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def objects_left(report, object_size_bytes):
    return [size for size in report["left_mapped"] if size % object_size_bytes == 0]


def test_failed_mmap_is_one_line_exit_1_and_leaves_nothing_mapped():
    completed = run_probe("run", "--threads", "1", "--object-size", "48M", "--memory", "96M",
                          "--duration", "1", "--warmup", "0", headroom=64 << 20)
    report = probe_report(completed.stdout)
    assert report["exit_code"] == 1
    assert re.search(r"faultput: error: mmap of object \d of 2 \(48 MiB\) failed: Cannot allocate memory",
                     completed.stderr)
    assert "Traceback" not in completed.stderr
    assert objects_left(report, 48 << 20) == []
    assert report["threads"] == 1


def children_of(pid):
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            children += [int(child) for child in listing.read().split()]
    return children


def kill_process_tree(process):
    """Makes sure a probe that a failing test left running, and its workers, are gone."""
    if process.poll() is None:
        for child in children_of(process.pid):
            os.kill(child, signal.SIGKILL)
        process.kill()
        process.wait()


def interrupt_after(args, marker, stream_name, signum):
    """Starts the probe, sends signum once marker appears on the named stream; returns (process, outputs)."""
    process = subprocess.Popen([sys.executable, str(HELPERS / "probe.py"), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stream = process.stdout if stream_name == "stdout" else process.stderr
        seen = []
        deadline = time.monotonic() + 60
        for line in stream:
            seen.append(line)
            if marker in line:
                break
            assert time.monotonic() < deadline, "".join(seen)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_process_tree(process)
    if stream_name == "stdout":
        stdout = "".join(seen) + stdout
    else:
        stderr = "".join(seen) + stderr
    return process, stdout, stderr


def test_ctrl_c_stops_workers_unmaps_everything_and_exits_130_with_a_partial_result():
    args = ["run", "--duration", "600", "--threads", str(min(2, NCPU)), "--object-size", "12M",
            "--memory", "24M", "-v"]
    process, stdout, stderr = interrupt_after(args, "Starting Iteration 4", "stderr", signal.SIGINT)
    report = probe_report(stdout)
    assert process.returncode == 130 and report["exit_code"] == 130
    assert "PARTIAL: stopped by SIGINT after" in stdout
    assert "Traceback" not in stderr
    assert objects_left(report, 12 << 20) == []
    assert report["threads"] == 1


def test_ctrl_c_in_the_seed_form_prints_the_partial_block():
    process, stdout, stderr = interrupt_after(["-v", "separate-objects", "600", "1"],
                                              "Starting Iteration 3", "stdout", signal.SIGINT)
    report = probe_report(stdout)
    assert report["exit_code"] == 130
    assert "-----Results-----" in stdout
    assert "faultput: partial result over" in stderr
    assert objects_left(report, 128 << 20) == []
    assert report["threads"] == 1


def test_sigterm_cleans_up_and_exits_143():
    args = ["run", "--duration", "600", "--threads", "1", "--object-size", "12M", "--memory", "24M", "-v"]
    process, stdout, stderr = interrupt_after(args, "Starting Iteration 3", "stderr", signal.SIGTERM)
    report = probe_report(stdout)
    assert report["exit_code"] == 143
    assert objects_left(report, 12 << 20) == []
    assert report["threads"] == 1


@pytest.mark.parametrize("fault", ["cow", "file-shared-write", "major"])
def test_ctrl_c_during_a_fault_type_with_files_or_children_leaves_nothing(fault, tmp_path):
    args = ["run", "--fault", fault, "--duration", "600", "--threads", "1", "--object-size", "12M",
            "--memory", "24M", "--dir", str(tmp_path), "-v"]
    process, stdout, stderr = interrupt_after(args, "Starting Iteration 3", "stderr", signal.SIGINT)
    report = probe_report(stdout)
    assert report["exit_code"] == 130, stderr
    assert report["children"] == []
    assert objects_left(report, 12 << 20) == []
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_processes_mode_leaves_no_process_file_or_mapping(tmp_path):
    args = ["run", "--mode", "processes", "--fault", "file-read", "--duration", "600", "--threads",
            str(min(2, NCPU)), "--object-size", "12M", "--memory", "24M", "--dir", str(tmp_path), "-v"]
    process, stdout, stderr = interrupt_after(args, "Starting Iteration 3", "stderr", signal.SIGINT)
    report = probe_report(stdout)
    assert report["exit_code"] == 130, stderr
    assert "PARTIAL: stopped by SIGINT" in stdout and "processes mode" in stdout
    assert report["children"] == []
    assert list(tmp_path.iterdir()) == []


def test_a_killed_worker_process_ends_the_run_cleanly(tmp_path):
    args = ["run", "--mode", "processes", "--fault", "file-shared-write", "--duration", "600",
            "--threads", str(min(2, NCPU)), "--object-size", "12M", "--memory", "24M",
            "--dir", str(tmp_path), "-v"]
    process = subprocess.Popen([sys.executable, str(HELPERS / "probe.py"), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if "Starting Iteration 3" in line:
                break
        children = children_of(process.pid)
        assert children
        os.kill(children[0], signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_process_tree(process)
    report = probe_report(stdout)
    assert report["exit_code"] == 1
    assert re.search(rf"faultput: error: worker process \d \(pid {children[0]}\) ended: killed by SIGKILL",
                     stderr)
    assert report["children"] == []
    assert list(tmp_path.iterdir()) == []


def test_list_shows_every_fault_type_and_whether_it_runs_here():
    from faultput.faults import all_fault_types
    completed = faultput("list")
    assert completed.returncode == 0, completed.stderr
    for name, fault_type in all_fault_types().items():
        assert re.search(rf"^{re.escape(name)} +{re.escape(fault_type.summary)}$", completed.stdout, re.M)
    verdicts = re.findall(r"modes: [a-z, ]+; (runs here|cannot run here: .+)$", completed.stdout, re.M)
    assert len(verdicts) == len(all_fault_types())
    assert "runs here" in verdicts


def test_seed_form_still_measures_zero_fill_while_run_takes_fault_lists(tmp_path):
    json_path, perfdata_path = tmp_path / "r.json", tmp_path / "p.json"
    completed = faultput("run", "--fault", "zero-fill,shmem", "--threads", "1", *SMALL,
                         "--json", str(json_path), "--perfdata", str(perfdata_path))
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"^zero-fill separate-objects threads +1 ", completed.stdout, re.M)
    assert re.search(r"^shmem separate-objects threads +1 ", completed.stdout, re.M)
    document = json.loads(json_path.read_text())
    assert [r["spec"]["fault_type"] for r in document["results"]] == ["zero-fill", "shmem"]
    records = json.loads(perfdata_path.read_text())["data"]
    assert [r["variables"]["fault_type"] for r in records] == ["zero-fill"] * 2 + ["shmem"] * 2


def test_bad_fault_type_is_refused_with_the_known_ones():
    assert_one_line_error(faultput("run", "--fault", "zero-fill,page-in"), 2, "--fault 'page-in'",
                          "is not one of: cow, ", "zero-page, all")


def test_run_form_summary_names_what_was_measured():
    completed = faultput("run", "--threads", "1", *SMALL)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "zero-fill faults: separate-objects, 1 thread (threads mode), write access, THP off" in out
    assert re.search(r"faults per page\s+1\.00", out)
    for label in ("pages / wall second", "pages / CPU second", "iterations", "wall time", "CPU time"):
        assert label in out


def test_run_form_read_access_says_it_measured_zero_page_faults():
    completed = faultput("run", "--threads", "1", "--access", "read", *SMALL)
    assert completed.returncode == 0, completed.stderr
    assert "zero-page faults" in completed.stdout
    assert "observed: zero page" in completed.stdout
    assert "shared zero page" in completed.stdout


def test_sweep_writes_json_and_perfdata(tmp_path):
    json_path, perfdata_path = tmp_path / "r.json", tmp_path / "p.json"
    completed = faultput("run", "--fast-sweep", "--threads", str(NCPU), *SMALL,
                         "--json", str(json_path), "--perfdata", str(perfdata_path))
    assert completed.returncode == 0, completed.stderr
    counts = [1, 2][:NCPU] if NCPU < 4 else None
    document = json.loads(json_path.read_text())
    assert document["schema"] == "faultput.result" and document["schema_version"] == 2
    threads = [result["spec"]["threads"] for result in document["results"]]
    if counts:
        assert threads == counts
    for result in document["results"]:
        assert result["summary"]["faults_per_page"] == 1.0
        measured = [it for it in result["iterations"] if not it["warmup"]]
        assert len(measured) == result["summary"]["iterations"]
        assert all(len(it["workers"]) == result["spec"]["threads"] for it in result["iterations"])
        wall_ns = sum(it["wall_ns"] for it in measured)
        assert wall_ns == result["summary"]["wall_ns"]
    assert document["system"]["page_size_bytes"] == platform.page_size_bytes()

    perfdata = json.loads(perfdata_path.read_text())
    assert perfdata["configuration"]["logical_cpus"] == NCPU
    assert len(perfdata["data"]) == 2 * len(threads)
    record = perfdata["data"][0]
    assert record["metric"] == "Throughput (pages / wall second)"
    assert record["unit"] == "pages/sec" and record["larger_better"] is True
    assert record["variables"]["threads"] == 1 and record["variables"]["variant"] == "separate-objects"
    assert record["variables"]["fault_type"] == "zero-fill"
    assert perfdata["data"][1]["metric"] == "Throughput (pages / CPU second)"


def test_seed_progress_lines_go_to_the_given_stream(capsys):
    import io
    stream = io.StringIO()
    SeedProgress(stream)("iteration_start", 7)
    assert stream.getvalue().rstrip().endswith("----Starting Iteration 7-----")
