"""Where the time goes: per-worker perf_event counters, system-wide and cgroup counters, info."""

import contextlib
import io
import json
import subprocess
import sys

import pytest

from conftest import HELPERS, SMALL
from faultput import cli, engine, platform
from faultput.result import COUNTER_NAMES
from faultput.resultfile import load, render
from faultput.spec import make_spec


def _spec(fault_type="zero-fill", **changes):
    values = dict(variant="separate-objects", threads=2, duration_s=0.1, fault_type=fault_type,
                  object_size_bytes=4 << 20, memory_bytes=8 << 20, warmup_iterations=1, oversubscribe=True)
    values.update(changes)
    return make_spec(**values)


def _software_counters_open() -> bool:
    return platform.counter_availability()["traps"]["counted"]


needs_counters = pytest.mark.skipif(not _software_counters_open(), reason="perf_event_open is refused here")


@needs_counters
@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_each_worker_counts_its_own_traps(mode):
    result = engine.run(_spec(mode=mode, warmup_iterations=2))
    assert result.counter_status["traps"] == {"counted": True, "user_only": False, "why": None, "rounds": "warmup"}
    assert result.counter_status["context_switches"]["rounds"] == "measured"
    traps = COUNTER_NAMES.index("traps")
    warmups = [iteration for iteration in result.iterations if iteration.warmup]
    assert len(warmups) == 2 and result.counted_iterations("traps") == tuple(warmups)
    for iteration in result.iterations:
        for worker in iteration.workers:
            # A worker that woke late may find the queue empty: it counted nothing.
            assert worker.minor_faults > 0 or worker.items == 0
            if iteration.warmup:
                # A trap per fault the kernel counted for this worker, give or take a stray one.
                assert abs(worker.counters[traps] - worker.minor_faults - worker.major_faults) <= 4, worker
            else:
                # Counting traps slows every fault: the measured rounds run without it.
                assert worker.counters[traps] == 0, worker
    assert result.per_fault()["traps_per_page"] == pytest.approx(1.0, abs=0.01)


def test_without_a_warmup_round_traps_are_not_counted_and_why_is_said():
    result = engine.run(_spec(threads=1, warmup_iterations=0))
    state = result.counter_status["traps"]
    assert not state["counted"] and "--warmup 0" in state["why"]
    assert result.per_fault()["traps_per_page"] is None
    assert not any("traps" in finding for finding in result.findings)  # asked for: no finding
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["run", "--threads", "1", *SMALL]) == 0
    assert "traps not counted (only in warmup rounds, and --warmup 0 left none)" in stdout.getvalue()


@needs_counters
def test_populate_faults_without_trapping():
    result = engine.run(_spec("populate", threads=1))
    assert result.faults_per_page == pytest.approx(1.0, abs=0.01)
    assert result.per_fault()["traps_per_page"] < 0.01
    assert any("perf_event counted 0.00 traps per page" in finding for finding in result.findings)


def test_counters_that_cannot_open_say_why_in_one_line():
    result = engine.run(_spec(threads=1))
    for name, state in result.counter_status.items():
        assert state["counted"] or (state["why"] and "\n" not in state["why"]), (name, state)
        if not state["counted"]:
            assert any(name.replace("_", " ") in finding.lower() and state["why"] in finding
                       for finding in result.findings)
    if not result.counter_status["cycles"]["counted"]:
        assert result.per_fault()["cycles_per_fault"] is None


def test_without_counters_nothing_is_opened():
    result = engine.run(_spec(threads=1, counters=False))
    assert result.counter_status is None
    assert all(worker.counters == (0,) * len(COUNTER_NAMES) for it in result.iterations for worker in it.workers)


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_a_refused_perf_event_open_leaves_the_run_whole(tmp_path, mode):
    out = tmp_path / "r.json"
    completed = subprocess.run(
        [sys.executable, str(HELPERS / "no_perf_events.py"), "run", "--threads", "2", "--oversubscribe",
         "--mode", mode, *SMALL, "--warmup", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    result = load(str(out)).results[0]
    for name in COUNTER_NAMES:
        state = result.counter_status[name]
        assert not state["counted"]
        assert state["why"].startswith("not allowed (kernel.perf_event_paranoid = "), state
    assert result.pages_per_wall_second > 0 and result.faults_per_page == pytest.approx(1.0, abs=0.01)
    assert ("The perf_event counters of traps, context switches, migrations, cycles and instructions: not allowed"
            in completed.stdout)
    assert "traps per page" not in completed.stdout


def test_vmstat_and_cgroup_counters_are_parsed_and_only_risers_kept(tmp_path, monkeypatch):
    (tmp_path / "vmstat").write_text("nr_free_pages 100\npgfault 10\npgmajfault 2\nthp_fault_alloc 0\n"
                                     "workingset_nodes 7\ncompact_stall 1\nbogus x\n")
    monkeypatch.setattr(platform, "PROC", tmp_path)
    monkeypatch.setattr(platform, "mthp_counters", lambda: {65536: {"anon_fault_alloc": 4}})
    before = platform.vmstat()
    assert before == {"pgfault": 10, "pgmajfault": 2, "thp_fault_alloc": 0, "compact_stall": 1,
                      "mthp_64kB_anon_fault_alloc": 4}
    (tmp_path / "vmstat").write_text("nr_free_pages 50\npgfault 25\npgmajfault 2\nthp_fault_alloc 3\n"
                                     "workingset_nodes 1\ncompact_stall 1\n")
    assert platform.moved(before, platform.vmstat()) == {"pgfault": 15, "thp_fault_alloc": 3}
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    (cgroup / "memory.stat").write_text("anon 4096\npgfault 7\nthp_fault_alloc 1\nfile 0\n")
    (cgroup / "cgroup.procs").write_text("1\n2\n3\n")
    assert platform.cgroup_memory_stat(cgroup) == {"pgfault": 7, "thp_fault_alloc": 1}
    assert platform.cgroup_processes(cgroup) == {1, 2, 3}


def test_vmstat_deltas_cover_the_runs_own_faults_and_reach_the_json(tmp_path):
    result = engine.run(_spec(threads=1))
    assert result.vmstat["pgfault"] >= result.minor_faults
    data = json.loads(render([result], []))["results"][0]
    assert data["vmstat"]["pgfault"] == result.vmstat["pgfault"]
    assert data["iterations"][-1]["vmstat"]["pgfault"] > 0
    path = tmp_path / "r.json"
    path.write_text(render([result], []))
    loaded = load(str(path)).results[0]
    assert loaded.vmstat == result.vmstat and loaded.counter_status == result.counter_status
    assert loaded.per_fault() == result.per_fault()
    assert render([loaded], []) == render([result], [])


def test_a_busy_machine_is_named(monkeypatch):
    from dataclasses import replace

    from faultput import checks
    from faultput.faults import get_fault_type

    result = engine.run(_spec(threads=1))
    busy = replace(result, iterations=tuple(replace(it, vmstat={"pgfault": 50 * result.spec.pages_per_iteration})
                                            for it in result.iterations))
    _, findings = checks.judge(busy, get_fault_type("zero-fill"), platform.thp_enabled())
    assert any("a busy machine" in finding for finding in findings)
    _, quiet = checks.judge(result, get_fault_type("zero-fill"), platform.thp_enabled())
    assert not any("a busy machine" in finding for finding in quiet)


def test_info_says_what_can_be_counted_and_profiled():
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli.main(["info"]) == 0
    text = stdout.getvalue()
    assert "what faultput can count and profile here" in text
    for name in ("traps", "context switches", "migrations", "cycles", "instructions", "--profile",
                 "kernel symbols"):
        assert f"  {name}" in text
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli.main(["info", "--json"]) == 0
    document = json.loads(stdout.getvalue())
    assert set(document["counters"]) == set(COUNTER_NAMES)
    assert "perf_tool" in document["profiling"]
