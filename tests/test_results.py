"""Repeats, result files, exports, comparison, plots and the report, end to end."""

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from conftest import assert_one_line_error, faultput
from faultput import platform
from faultput.errors import UsageError
from faultput.files import write_atomically
from faultput.resultfile import load

NCPU = platform.online_cpus()
SIZES = ["--object-size", "4M", "--memory", "8M", "--duration", "0.15", "--warmup", "1"]


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """Writes the result files the tests read: a zero fill sweep with 5 repeats, and a zero page one."""
    directory = tmp_path_factory.mktemp("results")
    threads = "1,2" if NCPU >= 2 else "1"
    for name, extra in (("zero_fill", []), ("zero_page", ["--access", "read"])):
        completed = faultput("run", "--threads", threads, "--repeat", "5", "-q", *SIZES, *extra,
                             "--json", str(directory / f"{name}.json"))
        assert completed.returncode == 0, completed.stderr
        (directory / f"{name}.stdout").write_text(completed.stdout)
    return directory


def test_repeats_hold_every_sample_and_the_system_facts(results_dir):
    document = json.loads((results_dir / "zero_fill.json").read_text())
    counts = [1, 2] if NCPU >= 2 else [1]
    assert [r["spec"]["threads"] for r in document["results"]] == counts * 5
    assert [r["repeat"] for r in document["results"]] == [k for k in range(5) for _ in counts]
    for result in document["results"]:
        assert result["iterations"] and all(it["workers"] for it in result["iterations"])
    for fact in ("kernel_release", "cpu_model", "online_cpus", "allowed_cpus", "page_size_bytes",
                 "thp_enabled", "thp_defrag", "hypervisor", "memory_total_bytes", "memory_available_bytes",
                 "numa_nodes", "cpu_governors", "aslr", "faultput_version"):
        assert fact in document["system"]
    assert document["command_line"][:2] == ["faultput", "run"]
    assert document["started_at"] and document["ended_at"]


def test_repeats_summary_gives_medians_with_confidence_intervals(results_dir):
    stdout = (results_dir / "zero_fill.stdout").read_text()
    assert re.search(r"zero-fill separate-objects threads x1: 5 runs", stdout)
    # Five runs reach 93.75% confidence, and the label says so rather than claim 95%.
    assert re.search(r"pages / wall second\s+median\s+[\d,]+\s+94% CI [\d,]+ to [\d,]+\s+"
                     r"min [\d,]+\s+max [\d,]+\s+CV \d+\.\d%", stdout)


def test_noisy_figures_get_a_warning_with_what_to_do(results_dir, tmp_path):
    from faultput.outputs.summary import repeats_table
    results = list(load(str(results_dir / "zero_fill.json")).results)
    from dataclasses import replace
    noisy = [replace(r, iterations=r.iterations[:1] + tuple(
        replace(it, end_ns=it.start_ns + it.wall_ns * (1 + k % 3)) for it in r.iterations[1:]))
        for k, r in enumerate(results)]
    table = repeats_table(noisy)
    assert "warning: pages / wall second of zero-fill separate-objects threads x1 varies" in table
    assert "--repeat 10" in table and "--duration" in table and "--first-cpu" in table


def test_compare_of_the_same_configuration_reports_no_significant_change(results_dir, tmp_path):
    document = json.loads((results_dir / "zero_fill.json").read_text())
    document["results"].reverse()
    other = tmp_path / "same.json"
    other.write_text(json.dumps(document))
    completed = faultput("compare", str(results_dir / "zero_fill.json"), str(other), "--fail-above", "1")
    assert completed.returncode == 0, completed.stderr
    rows = [line for line in completed.stdout.splitlines() if "(p=" in line]
    assert rows and all(re.search(r"\s~\s+\(p=1\.000 n=5\+5\)", row) for row in rows)


def test_compare_of_zero_fill_against_zero_page_reports_a_significant_change(results_dir):
    completed = faultput("compare", str(results_dir / "zero_fill.json"), str(results_dir / "zero_page.json"))
    assert completed.returncode == 0, completed.stderr
    assert "differs: fault_type zero-fill -> zero-page" in completed.stdout
    changes = re.findall(r"([+-]\d+\.\d\d)%  \(p=(\d\.\d+) n=5\+5\)", completed.stdout)
    assert changes and all(float(change) > 30 and float(p) < 0.05 for change, p in changes)


def test_compare_fails_above_a_threshold_on_a_significant_regression(results_dir):
    completed = faultput("compare", str(results_dir / "zero_page.json"), str(results_dir / "zero_fill.json"),
                         "--fail-above", "10")
    assert completed.returncode == 1
    assert re.search(r"faultput: regression: separate-objects threads x1 wall fell \d+\.\d\d% in .*zero_fill",
                     completed.stderr)


def test_compare_warns_when_there_are_too_few_runs(results_dir, tmp_path):
    document = json.loads((results_dir / "zero_fill.json").read_text())
    document["results"] = [r for r in document["results"] if r["repeat"] < 3]
    few = tmp_path / "few.json"
    few.write_text(json.dumps(document))
    completed = faultput("compare", str(few), str(few))
    assert "~  (n=3+3: too few runs)" in completed.stdout
    assert "too few runs: so few can never reach significance; --repeat 5 or more" in completed.stdout


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "is not JSON"),
    ('{"some": "thing"}', "is not a faultput result file"),
    ('[1, 2]', "is not a faultput result file"),
    ('{"schema": "faultput.result", "schema_version": 99, "results": []}', "schema version 99"),
    ('{"schema": "faultput.result", "schema_version": 2, "results": [{"spec": {}}]}', "is malformed"),
])
def test_malformed_or_foreign_result_files_are_refused_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=re.escape(repr(str(path))) + ".*" + re.escape(fragment)
                       if "not a" not in fragment else re.escape(fragment)):
        load(str(path))
    assert_one_line_error(faultput("compare", str(path), str(path)), 2, str(path), fragment)


def test_a_missing_result_file_is_refused(tmp_path):
    assert_one_line_error(faultput("report", str(tmp_path / "none.json"), "-o", str(tmp_path / "r.html")),
                          2, "cannot read result file", "No such file")


def test_an_interrupted_write_keeps_the_earlier_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_text('{"earlier": true}')

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(str(target), '{"later": true}' * 1000)
    assert target.read_text() == '{"earlier": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_csv_has_one_row_per_measured_iteration(results_dir, tmp_path):
    csv_path = tmp_path / "r.csv"
    completed = faultput("export", str(results_dir / "zero_fill.json"), "--csv", str(csv_path))
    assert completed.returncode == 0, completed.stderr
    lines = csv_path.read_text().splitlines()
    document = json.loads((results_dir / "zero_fill.json").read_text())
    measured = sum(r["summary"]["iterations"] for r in document["results"])
    assert len(lines) == 1 + measured
    assert lines[0].startswith("fault_type,variant,mode,threads,touch,huge_pages,")


def test_pyperf_reads_the_pyperf_export(results_dir, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for source, target in (("zero_fill", first), ("zero_fill", second)):
        completed = faultput("export", str(results_dir / f"{source}.json"), "--pyperf", str(target))
        assert completed.returncode == 0, completed.stderr
    stats_run = subprocess.run([sys.executable, "-m", "pyperf", "stats", str(first)],
                               capture_output=True, text=True, timeout=60)
    assert stats_run.returncode == 0, stats_run.stderr
    assert "zero-fill separate-objects threads x1 wall seconds per page" in stats_run.stdout
    compared = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", str(first), str(second)],
                              capture_output=True, text=True, timeout=60)
    assert compared.returncode == 0, compared.stderr
    import pyperf
    suite = pyperf.BenchmarkSuite.load(str(first))
    benchmark = suite.get_benchmark("zero-fill separate-objects threads x1 wall seconds per page")
    assert benchmark.get_nrun() == 5
    assert 1e-8 < benchmark.median() < 1e-4  # seconds per page: lower is better


@pytest.mark.parametrize("suffix, signature", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plots_are_written_as_png_and_svg(results_dir, tmp_path, suffix, signature):
    scaling, comparison = tmp_path / f"scaling{suffix}", tmp_path / f"comparison{suffix}"
    assert faultput("plot", str(results_dir / "zero_fill.json"), "-o", str(scaling)).returncode == 0
    assert faultput("plot", str(results_dir / "zero_fill.json"), str(results_dir / "zero_page.json"),
                    "-o", str(comparison)).returncode == 0
    for path in (scaling, comparison):
        assert path.read_bytes().startswith(signature) and path.stat().st_size > 10_000
    if suffix == ".svg":
        text = comparison.read_text()
        assert "zero_fill.json: zero-fill separate-objects threads" in text
        assert "pages per CPU second" in text


def test_plot_refuses_other_formats(results_dir, tmp_path):
    assert_one_line_error(faultput("plot", str(results_dir / "zero_fill.json"), "-o", str(tmp_path / "p.gif")),
                          2, "must end in .png or .svg")


def test_report_renders_in_headless_chromium(results_dir, tmp_path):
    from helpers.browser import chromium_or_skip, rendered_dom

    chromium_or_skip()
    report = tmp_path / "report.html"
    completed = faultput("report", str(results_dir / "zero_fill.json"), str(results_dir / "zero_page.json"),
                         "-o", str(report))
    assert completed.returncode == 0, completed.stderr
    html = report.read_text()
    assert not re.search(r"""(src|href)=["']https?:""", html), "the report must not need the network"
    rendered = rendered_dom(report)
    dom = rendered.stdout
    assert "faultput report" in dom
    # The facts once (and those that differ between the files, such as memory available, in a
    # table of their own), statistics per file, the comparison.
    assert dom.count("<table") == 4 + ("Facts that differ" in dom)
    assert dom.count(">kernel<") == 1
    assert dom.count("<svg") >= 3             # a scaling plot per file and the comparison plot
    assert "differs: fault_type zero-fill" in dom
    assert not re.search(r"CONSOLE.*(Uncaught|Error)|Failed to load resource", rendered.stderr)


def test_info_prints_the_facts_and_their_warnings():
    completed = faultput("info")
    assert completed.returncode == 0, completed.stderr
    for label in ("kernel", "CPU model", "online CPUs", "page size", "THP enabled", "THP defrag",
                  "memory available", "ASLR", "NUMA nodes", "CPU governor", "hypervisor"):
        assert re.search(rf"^  {re.escape(label)}\s", completed.stdout, re.M)


def test_system_warnings_name_what_disturbs_measurements():
    from faultput.checks import system_warnings
    quiet = {"hypervisor": None, "cpu_governors": ["performance"], "thp_enabled": "madvise",
             "thp_defrag": "madvise", "numa_nodes": 1, "memory_total_bytes": 100, "memory_available_bytes": 90,
             "memory_available_source": "MemAvailable"}
    assert system_warnings(quiet) == []
    noisy = dict(quiet, hypervisor="KVM", cpu_governors=["powersave"], thp_enabled="always", thp_defrag="always",
                 numa_nodes=2, memory_available_bytes=10, memory_available_source="cgroup /x", cgroup="/x")
    text = " ".join(system_warnings(noisy))
    for fragment in ("hypervisor (KVM)", "governor powersave", "'always'", "defrag", "2 NUMA nodes",
                     "quarter of memory", "cgroup memory limit"):
        assert fragment in text


def run_in_a_terminal(*args, columns=100):
    """Runs faultput with stderr on a pseudo-terminal of that width (None: the size a fresh one
    reports, zero); returns (stdout, what the terminal showed)."""
    leader, follower = pty.openpty()
    if columns is not None:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "faultput", *args], stdout=subprocess.PIPE,
                               stderr=follower, text=True)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate(timeout=120)
    os.close(leader)
    return stdout, shown.decode(errors="replace")


def test_progress_bar_shows_on_a_terminal_that_reports_no_width():
    _, shown = run_in_a_terminal("run", "--threads", "1", "--repeat", "2", *SIZES, columns=None)
    assert re.search(r"\d/2 \[", shown), shown


def test_progress_bar_shows_on_a_terminal_and_not_with_quiet():
    stdout, shown = run_in_a_terminal("run", "--threads", "1", "--repeat", "3", *SIZES)
    assert re.search(r"\d/3 \[", shown), shown
    assert "[3/3]" in stdout
    stdout, shown = run_in_a_terminal("run", "--threads", "1", "--repeat", "3", "--quiet", *SIZES)
    assert not re.search(r"\d/3 \[", shown)
    assert "[1/3]" not in stdout and "3 runs" in stdout


def test_no_progress_bar_when_stderr_is_not_a_terminal():
    completed = faultput("run", "--threads", "1", "--repeat", "2", *SIZES)
    assert completed.returncode == 0
    assert completed.stderr == ""
