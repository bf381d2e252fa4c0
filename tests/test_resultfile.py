"""Reading result files: every malformed file is one line and exit 2, never a traceback.

The fuzz test takes a real result file and, field by field, puts in each kind of value
that field must not hold (a string for a number, null where null is not allowed, NaN,
1e400, 10**400, a negative count, an object for a list...), then feeds every mutated
file to compare, export, plot and report, in this process.
"""

import contextlib
import copy
import io
import json
import os

import pytest

from conftest import SMALL
from faultput import cli
from faultput.resultfile import MAX_FILE_BYTES, load

# Fields where null is a valid value, and the one count that may be negative.
NULLABLE = {"first_cpu", "worker_cpus", "directory", "stopped_by", "error", "observed_fault",
            "resident_added_bytes", "helper_cpu_ns", "resident_pages_per_page", "pages_per_wall_second",
            "pages_per_cpu_second", "faults_per_page", "writer_ops_per_second", "idle_share", "writer_ops",
            "idle_ticks", "cpu_ticks", "folio_size_bytes", "folio_counters", "page_cache_folios",
            "latency_every", "latency", "auto_cost", "clock_note", "cross_check", "note",
            "traps_per_page", "cycles_per_fault", "instructions_per_fault", "context_switches_per_1000_faults",
            "migrations_per_1000_faults", "vmstat", "memcg", "counter_status", "cgroup", "other_processes", "why"}
SIGNED = {"resident_added_bytes"}
COMMANDS = ("compare", "export", "plot", "report")


@pytest.fixture(scope="module")
def valid_document(tmp_path_factory):
    path = tmp_path_factory.mktemp("valid") / "valid.json"
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", "--threads", "1", *SMALL[:4], "--duration", "0.02", "--warmup", "1",
                         "--latency", "--json", str(path), "-q"])
    assert code == 0
    document = json.loads(path.read_text())
    assert document["results"][0]["latency"]["histogram"]["counts"]
    return document


def _paths(value, path=()):
    """Yields the path of every value in a document, containers and leaves."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            if path[:1] == ("system",) or path[-1:] == ("system",):
                continue  # the facts are checked by kind below, not one by one
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from _paths(item, path + (index,))


def _wrong_values(path, value):
    """Returns values the field at path must not hold, as JSON text."""
    key = next((part for part in reversed(path) if isinstance(part, str)), "")
    nullable = key in NULLABLE and isinstance(path[-1], str)
    wrong = ['{"a": 1}'] if not isinstance(value, dict) else ['"x"', "[]"]
    if value is not None and not nullable:
        wrong.append("null")
    if isinstance(value, bool):
        wrong += ['"true"', "1"]
    elif isinstance(value, int):
        wrong += ['"2"', "true", "NaN", "1e400", "10" + "0" * 400, "1.5"]
        if key not in SIGNED:
            wrong.append("-1")
    elif isinstance(value, float):
        wrong += ['"2.5"', "true", "NaN", "Infinity", "-Infinity", "1e400"]
    elif isinstance(value, str):
        wrong += ["7", "[]"]
        if key in ("started_at", "ended_at"):
            wrong.append('"yesterday"')
        if key in ("fault_type", "mode", "variant", "touch", "huge_pages", "wall_clock"):
            wrong.append('"bogus"')
    elif isinstance(value, list):
        wrong += ['"x"']
    if key in ("threads", "object_size_bytes", "object_count", "page_size_bytes", "duration_s"):
        wrong.append("0")
    return wrong


# Written into the file as they are: JSON has no such numbers, or Python would rewrite them.
RAW = ("NaN", "Infinity", "-Infinity", "1e400")


def _set(document, path, text):
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = f"__raw__{text}__" if text in RAW else json.loads(text)


def _dumps(document) -> str:
    raw = json.dumps(document)
    for text in RAW:
        raw = raw.replace(f'"__raw__{text}__"', text)
    return raw


def _mutations(document):
    for path in _paths(document):
        if not path or path[-1] in ("schema", "schema_version"):
            continue
        target = document
        for part in path:
            target = target[part]
        for text in _wrong_values(path, target):
            yield path, text
    for fact, text in (("online_cpus", '"two"'), ("memory_total_bytes", "-5"), ("numa_nodes", "NaN"),
                       ("cpu_governors", '"performance"'), ("allowed_cpus", '["0"]'), ("kernel_release", "{}")):
        for where in (("system",), ("results", 0, "system")):
            yield where + (fact,), text


def _run(args):
    """Runs faultput in this process; returns (exit code, stderr). A traceback fails the test."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(args)
    return code, stderr.getvalue()


def test_hundreds_of_malformed_result_files_get_one_line_and_exit_2(valid_document, tmp_path):
    valid = tmp_path / "valid.json"
    valid.write_text(json.dumps(valid_document))
    mutations = list(_mutations(valid_document))
    assert len(mutations) >= 300
    for number, (path, text) in enumerate(mutations):
        document = copy.deepcopy(valid_document)
        _set(document, path, text)
        bad = tmp_path / f"bad{number}.json"
        bad.write_text(_dumps(document))
        for command in COMMANDS:
            args = {"compare": ["compare", str(valid), str(bad)],
                    "export": ["export", str(bad), "--csv", str(tmp_path / "out.csv")],
                    "plot": ["plot", str(bad), "-o", str(tmp_path / "out.svg")],
                    "report": ["report", str(bad), "-o", str(tmp_path / "out.html")]}[command]
            code, stderr = _run(args)
            lines = stderr.strip().splitlines()
            context = f"{command} with {'.'.join(map(str, path))} = {text}: {stderr}"
            assert code == 2, context
            assert len(lines) == 1 and lines[0].startswith("faultput: error: result file"), context
            assert str(bad) in lines[0], context
        bad.unlink()


@pytest.mark.parametrize("content, fragment", [
    (b"", "is not JSON"),
    (b'{"schema": "faultput.result", "schema_version": 3' + b'[' * 100000, "is not JSON"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b'{"schema": "faultput.result", "schema_version": 3, "x": "\xff\xfe"}', "not UTF-8"),
    (b'{"schema": "faultput.result", "schema_version": 3, "results": NaN}', "not valid JSON"),
    (b'{"schema": "faultput.result", "schema_version": 3, "results": {}}', "is malformed"),
])
def test_broken_files_are_refused_in_one_line(tmp_path, content, fragment):
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    code, stderr = _run(["export", str(path), "--csv", str(tmp_path / "o.csv")])
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and fragment in stderr, stderr


def test_what_is_not_a_regular_file_is_refused_without_reading_it(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        code, stderr = _run(["compare", path, path])
        assert code == 2 and "is not a regular file" in stderr, stderr


def test_a_file_over_the_size_bound_is_refused(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    code, stderr = _run(["report", str(path), "-o", str(tmp_path / "r.html")])
    assert code == 2 and "larger than" in stderr, stderr


def test_every_field_of_a_real_result_reads_back_equal(valid_document, tmp_path):
    from faultput.resultfile import document

    path = tmp_path / "r.json"
    path.write_text(json.dumps(valid_document))
    results = list(load(str(path)).results)
    rewritten = document(results, valid_document["command_line"])
    for key in ("started_at", "ended_at", "results", "system", "command_line"):
        assert rewritten[key] == valid_document[key], key
