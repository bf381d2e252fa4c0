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
    (["runn"], ["'runn'", "(commands: run, list, info, compare, export, plot, report;"]),
    (["run", "--dir", "/etc/passwd", "--fault", "file-read"], ["directory '/etc/passwd' is not a directory"]),
    (["run", "--dir", "/nonexistent", "--fault", "file-read"], ["directory '/nonexistent' does not exist"]),
    (["run", "--threads", "1-"], ["threads range '1-' needs a first and a last count"]),
    (["run", "--threads", "1,,2"], ["threads '1,,2' has an empty item"]),
    (["run", "--threads", "1-999999999", "--oversubscribe"], ["threads '999999999' must be at most 4,096"]),
    (["run", "--threads", "\u0661"], ["threads '\u0661' is not a whole number"]),
    (["run", "--memory", "\uff18M"], ["memory '\uff18M' is not a size"]),
    (["run", "--duration", "inf"], ["duration 'inf' must be a finite number"]),
    (["run", "--duration", "1e308"], ["duration '1e308' must be between 0.001 and 604800"]),
    (["run", "--duration", "1e-300"], ["duration '1e-300' must be between"]),
    (["run", "--warmup", "99999999999"], ["warmup '99999999999' must be at most 10,000"]),
    (["run", "--repeat", "99999999"], ["repeat '99999999' must be at most 10,000"]),
    (["run", "--json", ""], ["--json needs a file name"]),
    (["run", "--fault", "zero-fill,,cow"], ["--fault 'zero-fill,,cow' has an empty item"]),
    (["run", "--mode", "threads,forks"], ["--mode 'forks' is not one of: threads, processes"]),
    (["run", "--json", "same.out", "--csv", "same.out"], ["--csv 'same.out' is the same file as --json"]),
    (["run", "--fault", "hugetlb", "--memory", "64M", "--object-size", "2M"],
     ["hugetlb cannot run here", "sysctl vm.nr_hugepages=", "or pass a smaller --memory"]),
    (["run", "--fault", "cow", "--threads", "1", "--object-size", "1G", "--memory", "1T"],
     ["cow holds 2 copies of every page"]),
    (["run", "--object-size", "4K", "--memory", "2G"], ["mappings", "vm.max_map_count", "--object-size"]),
    (["run", "--mode", "processes", "--variant", "share-objects", "--fault", "file-cow"],
     ["share-objects in processes mode needs a mapping the processes share",
      "file-read, file-shared-write, major"]),
    (["compare", "a.json", "b.json", "--fail-above", "nan"], ["--fail-above 'nan' must be a finite"]),
])
def test_bad_input_gets_one_line_naming_it_and_exit_2(args, fragments):
    assert_one_line_error(faultput(*args), 2, *fragments)


def test_oversubscription_runs_when_asked_for():
    completed = faultput("run", "--threads", str(NCPU + 1), "--oversubscribe", *SMALL[:2], *SMALL[4:])
    assert completed.returncode == 0, completed.stderr
    assert f"{NCPU + 1} threads" in completed.stdout


def test_help_is_shown_and_exit_codes_are_right():
    assert faultput("--help").returncode == 0
    bare = faultput()
    # Usage shown for a mistake goes to stderr, as for every other mistake.
    assert bare.returncode == 2 and bare.stdout == "" and "usage:" in bare.stderr
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


def read_until(stream, marker, timeout_s=60):
    """Returns the lines of stream up to the one holding marker; fails, rather than hangs, if
    marker does not come within timeout_s (a silent hang included). A thread reads, so that
    the deadline holds whatever the stream does."""
    import queue
    import threading

    lines: queue.Queue = queue.Queue()

    def pump():
        for line in iter(stream.readline, ""):
            lines.put(line)
            if marker in line:
                return
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout_s} s: {''.join(seen)}") from None
        assert line is not None, f"the stream ended before {marker!r}: {''.join(seen)}"
        seen.append(line)
        if marker in line:
            return seen


def test_the_helper_that_waits_for_a_marker_fails_on_a_silent_hang():
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(AssertionError, match="no 'never' within 0.5 s"):
            read_until(silent.stdout, "never", timeout_s=0.5)
    finally:
        silent.kill()
        silent.wait()


def interrupt_after(args, marker, stream_name, signum):
    """Starts the probe, sends signum once marker appears on the named stream; returns (process, outputs)."""
    process = subprocess.Popen([sys.executable, str(HELPERS / "probe.py"), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stream = process.stdout if stream_name == "stdout" else process.stderr
        seen = read_until(stream, marker)
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
    assert re.search(rf"faultput: error: worker process \d \(pid {children[0]}\) ended: killed by SIGKILL "
                     r"\(partial result kept: [1-9]\d* measured iterations\)", stderr)
    # The iterations that completed before the worker died are kept, marked partial.
    assert "PARTIAL: ended by an error" in stdout
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
    assert "zero-fill faults: separate-objects, 1 thread (threads mode), write touch, THP off" in out
    assert re.search(r"faults per page\s+1\.00", out)
    for label in ("pages / wall second", "pages / CPU second", "iterations", "wall time", "CPU time"):
        assert label in out


def test_run_form_read_access_says_it_measured_zero_page_faults():
    completed = faultput("run", "--threads", "1", "--access", "read", *SMALL)
    assert completed.returncode == 0, completed.stderr
    assert "zero-page faults" in completed.stdout
    assert "observed: zero page" in completed.stdout
    assert "shared zero page" in completed.stdout


def test_zero_page_note_points_to_the_fault_type_that_measures_zero_fill():
    completed = faultput("run", "--threads", "1", "--fault", "zero-page", *SMALL)
    assert completed.returncode == 0, completed.stderr
    assert "Use --fault zero-fill to measure zero fill faults" in completed.stdout
    assert "--access write" not in completed.stdout


def test_repeated_fault_options_add_up_and_all_skips_what_cannot_run_here(tmp_path):
    completed = faultput("run", "--threads", "1", "--fault", "zero-fill", "--fault", "shmem", *SMALL, "-q")
    assert completed.returncode == 0, completed.stderr
    assert "zero-fill separate-objects" in completed.stdout and "shmem separate-objects" in completed.stdout
    every = faultput("run", "--threads", "1", "--fault", "all", "--dir", str(tmp_path), *SMALL, "-q",
                     "--json", str(tmp_path / "all.json"))
    assert every.returncode == 0, every.stderr
    ran = {r["spec"]["fault_type"] for r in json.loads((tmp_path / "all.json").read_text())["results"]}
    from faultput.faults import all_fault_types
    skipped = set(all_fault_types()) - ran
    for name in skipped:
        assert re.search(rf"^faultput: skipped {name} separate-objects threads x1: .*cannot run here",
                         every.stderr, re.M), every.stderr
    assert "thp" in ran and "zero-fill" in ran


def test_listing_a_type_that_cannot_run_refuses_unless_asked_to_skip(tmp_path):
    if platform.hugetlb_free_pages() >= 8:
        pytest.skip("hugetlb pages are reserved here")
    args = ["run", "--threads", "1", "--fault", "zero-fill,hugetlb", *SMALL, "-q"]
    assert_one_line_error(faultput(*args), 2, "hugetlb cannot run here")
    completed = faultput(*args, "--skip-unavailable")
    assert completed.returncode == 0, completed.stderr
    assert "faultput: skipped hugetlb" in completed.stderr and "zero-fill" in completed.stdout


def test_modes_and_variants_are_dimensions(tmp_path):
    path = tmp_path / "r.json"
    completed = faultput("run", "--threads", "1", "--mode", "threads,processes", "--variant",
                         "separate-objects,share-objects", "--fault", "zero-fill,file-read", "--dir",
                         str(tmp_path), *SMALL, "-q", "--skip-unavailable", "--json", str(path))
    assert completed.returncode == 0, completed.stderr
    runs = [(r["spec"]["fault_type"], r["spec"]["mode"], r["spec"]["variant"])
            for r in json.loads(path.read_text())["results"]]
    assert ("zero-fill", "processes", "share-objects") not in runs
    assert "faultput: skipped zero-fill share-objects processes x1" in completed.stderr
    assert len(runs) == 7


def test_list_and_info_print_json():
    listed = json.loads(faultput("list", "--json").stdout)
    assert {entry["name"] for entry in listed} >= {"zero-fill", "cow", "hugetlb"}
    assert all(set(entry) == {"name", "summary", "modes", "runs_here", "reason"} for entry in listed)
    info = json.loads(faultput("info", "--json").stdout)
    assert info["facts"]["online_cpus"] == NCPU and isinstance(info["warnings"], list)


def test_processes_mode_names_the_fault_and_the_cpu_time_as_threads_mode_does():
    completed = faultput("run", "--threads", "1", "--mode", "processes", *SMALL)
    assert completed.returncode == 0, completed.stderr
    assert "observed: zero fill)" in completed.stdout
    assert "summed over worker processes, in the touch loop" in completed.stdout


def test_a_reader_that_closes_the_pipe_ends_the_run_quietly_and_the_results_are_kept(tmp_path):
    path = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, "-m", "faultput", "run", "--threads", "1", "--repeat", "50",
                                *SMALL, "--json", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert stderr == ""
    document = json.loads(path.read_text())
    assert 1 <= len(document["results"]) < 50


@pytest.mark.parametrize("redirect, code, message", [
    ("closed", 0, ""),
    ("/dev/full", 1, "faultput: error: cannot write to standard output: No space left on device\n"),
])
def test_a_closed_or_full_stdout_is_one_line_at_most_and_the_json_is_written(tmp_path, redirect, code, message):
    path = tmp_path / "r.json"
    command = [sys.executable, "-m", "faultput", "run", "--threads", "1", *SMALL, "--json", str(path)]
    if redirect == "closed":
        completed = subprocess.run(" ".join(command) + " >&-", shell=True, capture_output=True, text=True)
    else:
        with open(redirect, "w") as full:
            completed = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True)
    assert completed.returncode == code, completed.stderr
    assert completed.stderr == message
    assert json.loads(path.read_text())["results"]


def test_a_failed_write_is_one_line_and_the_other_outputs_are_still_written(tmp_path):
    import resource

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))

    json_path, perfdata_path = tmp_path / "r.json", tmp_path / "p.json"
    completed = subprocess.run([sys.executable, "-m", "faultput", "run", "--threads", "1", *SMALL,
                                "--json", str(json_path), "--perfdata", str(perfdata_path)],
                               capture_output=True, text=True, preexec_fn=limit_file_size)
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        f"faultput: error: cannot write --json {str(json_path)!r}: File too large"]
    assert json.loads(perfdata_path.read_text())["data"]
    assert not json_path.exists() and [p.name for p in tmp_path.iterdir()] == ["p.json"]
    assert "pages / wall second" in completed.stdout


def test_each_finished_run_is_written_before_the_next_starts(tmp_path):
    path = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, "-m", "faultput", "run", "--threads", "1", "--repeat", "3",
                                "--object-size", "4M", "--memory", "8M", "--warmup", "0", "--duration", "600",
                                "--json", str(path), "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        for line in process.stderr:
            if "Starting Iteration 3" in line:
                break
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_process_tree(process)
    assert process.returncode == 143
    document = json.loads(path.read_text())
    assert [r["interrupted"] for r in document["results"]] == [True]
    assert document["results"][0]["stopped_by"] == "SIGTERM"
    assert len(document["results"][0]["iterations"]) >= 2


def test_a_faultput_killed_by_sigkill_leaves_files_that_the_next_run_removes(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "faultput", "run", "--threads", "1", "--fault", "file-read",
                                "--dir", str(tmp_path), "--object-size", "4M", "--memory", "8M",
                                "--duration", "600", "-v"], stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if "Starting Iteration 2" in line:
            break
    process.kill()
    process.wait()
    left = [entry.name for entry in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith("faultput-")
    completed = faultput("run", "--threads", "1", "--fault", "file-read", "--dir", str(tmp_path), *SMALL)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == (f"faultput: removed {tmp_path / left[0]}, left by a faultput process that "
                                "was killed\n")
    assert list(tmp_path.iterdir()) == []


def test_a_directory_whose_owner_still_runs_is_left_alone(tmp_path):
    from faultput import platform as linux

    mine = linux.private_directory(str(tmp_path))
    try:
        assert linux.remove_stale_private_directories([str(tmp_path)]) == []
        assert mine.exists()
    finally:
        linux.remove_directory(mine)


def test_sweep_writes_json_and_perfdata(tmp_path):
    json_path, perfdata_path = tmp_path / "r.json", tmp_path / "p.json"
    completed = faultput("run", "--fast-sweep", "--threads", str(NCPU), *SMALL,
                         "--json", str(json_path), "--perfdata", str(perfdata_path))
    assert completed.returncode == 0, completed.stderr
    counts = [1, 2][:NCPU] if NCPU < 4 else None
    document = json.loads(json_path.read_text())
    assert document["schema"] == "faultput.result" and document["schema_version"] == 3
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
