"""Outputs, in this process, against hand-built results: files written safely, exports, plots,
the report and the comparison text."""

import json
import os
import stat
import sys

import pytest

from conftest import faultput
from faultput import stats
from faultput.compare import compare
from faultput import resultfile
from faultput.files import write_atomically
from faultput.outputs import csv_export, perfdata, plot, pyperf_export, report
from faultput.outputs.compare_table import comparison_text, spread
from faultput.outputs.summary import format_interval
from faultput.resultfile import ResultFile
from helpers.built import result_of

SYSTEM = {"kernel_release": "6.18.0-test", "cpu_model": "Test CPU 9000", "online_cpus": 16}


def file_of(path, results):
    return ResultFile(path=path, document={"command_line": ["faultput", "run"], "started_at": None,
                                           "ended_at": None, "system": SYSTEM}, results=tuple(results))


# ---- writing files

def test_a_device_given_as_an_output_is_written_through_never_replaced():
    before = os.stat("/dev/null")
    write_atomically("/dev/null", "x" * 1000)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


def test_a_symlink_given_as_an_output_stays_a_symlink_and_its_target_is_written(tmp_path):
    target = tmp_path / "other" / "target.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_atomically(str(link), "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_fifo_given_as_an_output_is_written_through(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomically(str(fifo), "through")
        assert os.read(reader, 100) == b"through"
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    finally:
        os.close(reader)


def test_a_temporary_file_left_by_a_killed_faultput_is_removed_by_the_next_write(tmp_path):
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    left = tmp_path / f".r.json.{dead}.abc123.tmp"
    left.write_text("half")
    mine = tmp_path / f".r.json.{os.getpid()}.xyz.tmp"
    mine.write_text("in use")
    write_atomically(str(tmp_path / "r.json"), "{}")
    assert not left.exists() and mine.exists()


@pytest.mark.parametrize("command, suffix", [(["report", "{0}", "-o", "{1}"], ".html"),
                                             (["export", "{0}", "--csv", "{0}"], ".csv"),
                                             (["plot", "{0}", "-o", "{1}"], ".svg")])
def test_an_output_that_is_an_input_is_refused(tmp_path, command, suffix):
    source = tmp_path / "v.json"
    source.write_text("{}")
    alias = tmp_path / f"v{suffix}"
    alias.symlink_to(source)
    completed = faultput(*[word.format(source, alias) for word in command])
    assert completed.returncode == 2, completed.stderr
    assert "would overwrite the result file it reads" in completed.stderr
    assert source.read_text() == "{}"


def test_report_refuses_a_file_that_is_not_html(tmp_path):
    completed = faultput("report", "any.json", "-o", str(tmp_path / "r.txt"))
    assert completed.returncode == 2 and "report file" in completed.stderr and ".html" in completed.stderr


# ---- exports

@pytest.mark.parametrize("cell, written", [("=1+2", "'=1+2"), ("+SUM(A1)", "'+SUM(A1)"), ("-2", "'-2"),
                                           ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("zero-fill", "zero-fill"),
                                           (-2, -2), (1.5, 1.5)])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(cell, written):
    assert csv_export.safe_cell(cell) == written


def test_csv_rows_carry_the_figures_of_each_iteration(tmp_path):
    result = result_of(threads=2, wall_ns=2_000_000_000, cpu_ns_each=1_000_000_000, iterations=3)
    lines = csv_export.render([result]).splitlines()
    header = lines[0].split(",")
    assert len(lines) == 4
    row = dict(zip(header, lines[1].split(",")))
    pages = result.spec.pages_per_iteration
    assert int(row["pages"]) == pages and int(row["wall_ns"]) == 2_000_000_000
    assert float(row["pages_per_wall_second"]) == pages / 2
    assert float(row["pages_per_cpu_second"]) == pages / 2
    assert float(row["faults_per_page"]) == 1.0 and row["threads"] == "2"


def test_perfdata_has_one_record_per_figure_with_what_it_measured():
    document = json.loads(perfdata.render([result_of(threads=2, wall_ns=2_000_000_000)]))
    pages = result_of(threads=2).spec.pages_per_iteration
    assert [(r["metric"], r["value"]) for r in document["data"]] == [
        ("Throughput (pages / wall second)", pages / 2), ("Throughput (pages / CPU second)", pages / 1.98)]
    variables = document["data"][0]["variables"]
    assert variables["threads"] == 2 and variables["fault_type"] == "zero-fill" and variables["partial"] is False


def test_pyperf_has_seconds_per_page_of_each_iteration_per_configuration_and_clock():
    results = [result_of(threads=1, iterations=3, wall_ns=1_000_000_000, repeat=k) for k in range(2)]
    document = json.loads(pyperf_export.render(results))
    names = [benchmark["metadata"]["name"] for benchmark in document["benchmarks"]]
    assert names == ["zero-fill separate-objects threads x1 wall seconds per page",
                     "zero-fill separate-objects threads x1 cpu seconds per page"]
    wall = document["benchmarks"][0]["runs"]
    pages = results[0].spec.pages_per_iteration
    assert len(wall) == 2 and wall[0]["values"] == [1.0 / pages] * 3


def test_json_holds_every_iteration_and_the_facts_of_each_result():
    results = [result_of(system={"kernel_release": "a"}), result_of(system={"kernel_release": "b"})]
    document = resultfile.document(results, ["faultput", "run"])
    assert [r["system"]["kernel_release"] for r in document["results"]] == ["a", "b"]
    assert document["results"][0]["tool_version"] == "t"


# ---- statistics as text

def test_intervals_are_labelled_with_the_confidence_they_reach():
    assert format_interval(stats.summarize([1.0])) == "CI n/a (1 run)"
    five = format_interval(stats.summarize([205_288.0, 230_000.0, 240_000.0, 250_000.0, 278_182.0]))
    assert five == "94% CI 205,288 to 278,182"
    assert format_interval(stats.summarize([float(v) for v in range(100, 120)])).startswith("95% CI ")
    assert spread(stats.summarize([5.0])) == "(1 run)"


# ---- comparisons

def test_compare_of_different_thread_counts_labels_both_and_says_unpinned_not_none():
    base = file_of("base.json", [result_of(threads=1, first_cpu=0, repeat=k) for k in range(5)])
    new = file_of("new.json", [result_of(threads=2, repeat=k) for k in range(5)])
    text = comparison_text(compare(base, new))
    assert "differs: threads 1 -> 2" in text
    assert "differs: first_cpu 0 -> unpinned" in text
    assert "None" not in text
    assert " 1 -> 2 " in text
    assert "± the half-width of the median's confidence interval" in text


# ---- plots

def sixteen_series():
    names = ["zero-fill", "zero-page", "shmem", "cow", "file-read", "file-cow", "file-shared-write", "populate"]
    results = []
    for index, name in enumerate(names):
        for variant in ("separate-objects", "share-objects"):
            for threads in (1, 2, 4):
                scale = 1 + 700 * index  # 24k to 16M pages per second: a log axis is called for
                results.append(result_of(name, threads=threads, variant=variant,
                                         wall_ns=int(1e9 / scale), cpu_ns_each=int(1e9 / scale)))
    return [file_of("r.json", results)]


def test_sixteen_series_each_get_their_own_colour_and_marker_and_a_legend_outside_the_data():
    pytest.importorskip("matplotlib")
    fig = plot.figure(sixteen_series())
    try:
        wall = fig.axes[0]
        lines = [line for line in wall.get_lines() if line.get_linestyle() == "-"]
        styles = {(line.get_color(), line.get_marker()) for line in lines}
        assert len(lines) >= 16 and len(styles) == len(lines)
        assert wall.get_legend() is None and fig.legends
        assert wall.get_yscale() == "log"
        title = fig._suptitle.get_text()
        assert "zero-fill" in title and "file-shared-write" in title
        assert "6.18.0-test" in title and "Test CPU 9000" in title
        texts = " ".join(text.get_text() for text in fig.texts)
        assert "Error bars" in texts or "no error bars" in texts
        assert fig.axes[2].get_title() == "parallel efficiency (wall)"
    finally:
        plot._pyplot().close(fig)


def test_a_single_thread_count_is_drawn_as_bars():
    pytest.importorskip("matplotlib")
    fig = plot.figure([file_of("r.json", [result_of(threads=2), result_of("shmem", threads=2)])])
    try:
        assert len(fig.axes[0].patches) == 2 and len(fig.axes) == 2
    finally:
        plot._pyplot().close(fig)


def test_the_caption_says_what_the_error_bars_are():
    series = plot.series([file_of("r.json", [result_of(repeat=k) for k in range(5)])])
    assert plot.caption(series) == ("Points: medians of 5 runs. Error bars: confidence interval of the median "
                                    "(95%, or min to max where fewer runs cannot reach it).")


# ---- the report

def test_the_report_shows_the_facts_once_notes_by_row_and_faults_per_page_as_the_terminal_does():
    results = [result_of("thp", faults=(16 << 20) // (2 << 20)), result_of(threads=1)]
    results[0] = results[0].__class__(**{**results[0].__dict__, "findings": ("THP folded pages",)})
    html = report.render([file_of("a.json", results), file_of("b.json", results)])
    assert "padding: 0 2em" in html
    assert html.count(">Test CPU 9000<") == 1
    assert "note (thp separate-objects threads x1): THP folded pages" in html
    assert ">0.0020<" in html and ">1.00<" in html


def test_the_report_without_matplotlib_is_written_without_plots_and_says_so(tmp_path):
    source = tmp_path / "r.json"
    completed = faultput("run", "--threads", "1", "--object-size", "4M", "--memory", "8M", "--duration", "0.05",
                         "--json", str(source), "-q")
    assert completed.returncode == 0, completed.stderr
    import subprocess
    code = ("import sys; sys.modules['matplotlib'] = None; from faultput.cli import main; "
            f"sys.exit(main(['report', {str(source)!r}, '-o', {str(tmp_path / 'r.html')!r}]))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ("faultput: note: the report has no plots: they need matplotlib "
                                "(pip install 'faultput[plot]')\n")
    assert "No plot: plots need matplotlib" in (tmp_path / "r.html").read_text()


def test_dev_stdout_as_an_output_writes_into_the_pipe(tmp_path):
    completed = faultput("run", "--threads", "1", "--object-size", "4M", "--memory", "8M", "--duration", "0.05",
                         "-q", "--csv", "/dev/stdout")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("fault_type,variant,mode,threads,touch,")
    assert "pages / wall second" in completed.stdout
