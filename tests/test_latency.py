"""Per-fault latency (--latency): the histogram's arithmetic, the native recording, and runs."""

import contextlib
import os
import io
import json
import random
from dataclasses import replace

import pytest

from conftest import SMALL
from faultput import _core, cli, engine
from faultput.errors import CannotRunHere
from faultput.faults import all_fault_types, check_runnable
from faultput.latency import (BUCKETS, Histogram, bucket_low, bucket_of, bucket_value, bucket_width,
                              choose_every, aliasing_note)
from faultput.resultfile import load, render
from faultput.spec import make_spec

NS_PER_S = 1_000_000_000


def _values():
    """Every value up to 70,000 ns, then powers of two and their neighbours, then random values, to 100 s."""
    yield from range(1, 70_000)
    for exponent in range(16, 37):
        for value in (1 << exponent, (1 << exponent) - 1, (1 << exponent) + 1):
            yield value
    rng = random.Random(7)
    for _ in range(20_000):
        yield int(10 ** rng.uniform(0, 11))
    yield 100 * NS_PER_S


def test_every_value_lands_in_a_bucket_that_holds_it_within_1_in_128():
    for value in _values():
        index = bucket_of(value)
        assert index == _core.latency_bucket(value), value
        low, width = bucket_low(index), bucket_width(index)
        assert low <= value < low + width, (value, index, low, width)
        assert (value - low) / value <= 1 / 128, value
        assert abs(bucket_value(index) - value) / value <= 1 / 128, value


def test_the_python_and_native_layouts_agree_on_every_bucket():
    assert _core.latency_buckets() == BUCKETS
    for index in range(BUCKETS):
        assert _core.latency_bucket_low(index) == bucket_low(index)
        assert bucket_of(bucket_low(index)) == index
        if index + 1 < BUCKETS:
            assert bucket_low(index) + bucket_width(index) == bucket_low(index + 1)
    # Beyond the last power of two everything shares the last bucket.
    assert bucket_of(1 << 45) == _core.latency_bucket(1 << 45) == BUCKETS - 1


def _histogram_of(values):
    counts = {}
    for value in values:
        counts[bucket_of(value)] = counts.get(bucket_of(value), 0) + 1
    return Histogram(tuple(sorted(counts.items())), len(values), 0, sum(values), max(values, default=0))


def test_merging_is_exact_and_does_not_depend_on_order():
    rng = random.Random(3)
    parts = [[int(rng.lognormvariate(7, 1.5)) + 1 for _ in range(rng.randint(1, 3000))] for _ in range(12)]
    whole = _histogram_of([value for part in parts for value in part])
    histograms = [_histogram_of(part) for part in parts]
    merged = Histogram.merge(histograms)
    assert merged == whole
    for _ in range(5):
        rng.shuffle(histograms)
        halves = [Histogram.merge(histograms[:5]), Histogram.merge(histograms[5:])]
        assert Histogram.merge(halves) == whole
        assert Histogram.merge(reversed(halves)).percentiles() == whole.percentiles()


def test_percentiles_come_from_the_buckets_and_never_pass_the_maximum():
    values = list(range(1, 1001))
    histogram = _histogram_of(values)
    assert histogram.percentile(0.5) == 500
    # Above 256 ns a percentile is its bucket's middle: 990 lies in [988, 992).
    assert bucket_of(histogram.percentile(0.99)) == bucket_of(990) and histogram.percentile(0.99) == 989
    assert histogram.percentile(1.0) == 1000
    assert histogram.mean_ns == 500.5
    one = _histogram_of([123_456_789])
    assert one.percentile(0.5) == 123_456_789  # the bucket's middle, capped at the exact maximum
    assert Histogram().percentile(0.5) is None and Histogram().mean_ns is None


@pytest.mark.parametrize("plain, sampled, expected", [
    (1000, 1007, 1),     # 0.7%: every page
    (1000, 1025, 1),     # 2.5%: every page, at the margin
    (1000, 1026, 3),     # 2.6%: 2 would do, made odd
    (1000, 1060, 3),     # 6%
    (360, 460, 13),      # 28%: a THP touch
    (1000, 990, 1),      # timing cannot make it faster: noise, costs nothing
    (0, 0, 1),
])
def test_the_default_interval_keeps_the_cost_under_3_percent_and_is_odd(plain, sampled, expected):
    every, measured = choose_every(plain, sampled)
    assert every == expected
    assert every % 2 == 1
    assert measured >= 0 and measured / every <= 0.025 + 1e-12


def test_intervals_are_said_as_ordinals():
    from faultput.latency import every_nth
    assert [every_nth(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "every page", "every 2nd page", "every 3rd page", "every 4th page", "every 11th page", "every 12th page",
        "every 13th page", "every 21st page", "every 22nd page", "every 23rd page", "every 101st page",
        "every 111th page"]


def test_an_interval_in_step_with_huge_pages_is_named():
    assert aliasing_note(1, 512) is None and aliasing_note(7, 512) is None
    assert "shares a factor" in aliasing_note(8, 512)


def _gate_with_samples(samples):
    gate = _core.Gate(2, 1, latency=True)
    gate.set_latency(_core.LAT_CLOCK_MONOTONIC, 1, 1 << 32)
    for worker, before, cpu_before, after, cpu_after in samples:
        gate.inject_latency_sample(worker, before, cpu_before, after, cpu_after, 0x1000 * (after - before))
    return gate


def test_a_sample_whose_cpu_changed_is_dropped_and_counted():
    gate = _gate_with_samples([(0, 100, 3, 1100, 3), (0, 100, 3, 900, 4), (0, 500, 1, 400, 1), (1, 0, 0, 70, 0)])
    first, second = gate.latency_rounds()
    samples, dropped, sum_ns, max_ns, slowest, buckets = first
    assert (samples, dropped, sum_ns, max_ns) == (1, 2, 1000, 1000)
    assert buckets == [(bucket_of(1000), 1)]
    assert slowest == [(1000, 100, 0x1000 * 1000)]
    assert second[:4] == (1, 0, 70, 70)
    # Taking the records empties them.
    assert [record[:4] for record in gate.latency_rounds()] == [(0, 0, 0, 0), (0, 0, 0, 0)]


def test_the_slowest_ten_are_kept_in_a_worker_record():
    gate = _gate_with_samples([(0, 0, 0, value, 0) for value in range(1, 101)])
    slowest = gate.latency_rounds()[0][4]
    assert sorted(ns for ns, _, _ in slowest) == list(range(91, 101))


def test_ticks_become_nanoseconds_by_the_multiplier():
    gate = _core.Gate(1, 1, latency=True)
    gate.set_latency(_core.LAT_CLOCK_MONOTONIC, 1, 1 << 31)  # half a nanosecond per tick
    gate.inject_latency_sample(0, 0, 0, 2000, 0, 0)
    assert gate.latency_rounds()[0][:4] == (1, 0, 1000, 1000)


def test_a_gate_without_latency_refuses_latency_calls():
    gate = _core.Gate(1, 1)
    with pytest.raises(RuntimeError):
        gate.latency_rounds()
    with pytest.raises(ValueError):
        _core.Gate(1, 1, latency=True).set_latency(99, 1, 1 << 32)


def test_a_clock_pair_and_the_floors_are_measured():
    clock = engine.platform.latency_clock()[0]
    first = _core.clock_pair(clock)
    second = _core.clock_pair(clock)
    assert second[0] >= first[0] and second[1] >= first[1]
    elapsed_ns, (samples, dropped, sum_ns, max_ns, _, buckets) = _core.latency_floor(clock, 1 << 32, 1000, 0, 1)
    assert samples + dropped == 1000 and elapsed_ns > 0
    assert sum(count for _, count in buckets) == samples


def _spec(fault_type, **changes):
    values = dict(variant="separate-objects", threads=1, duration_s=0.05, fault_type=fault_type,
                  object_size_bytes=4 << 20, memory_bytes=8 << 20, warmup_iterations=1, latency_every=1)
    values.update(changes)
    return make_spec(**values)


def _runnable(name):
    try:
        spec = _spec(name)
        check_runnable(spec)
    except CannotRunHere as refusal:
        pytest.skip(str(refusal))
    return spec


def _assert_every_page_timed(result):
    latency = result.latency
    touched = sum(iteration.pages_touched for iteration in result.measured)
    histogram = latency.histogram
    assert touched > 0
    assert histogram.samples + histogram.dropped == touched
    assert sum(count for _, count in histogram.counts) == histogram.samples
    assert 0 < histogram.percentile(0.5) <= histogram.percentile(0.99) <= histogram.max_ns
    assert latency.timer_floor.samples > 0 and latency.mapped_floor.samples > 0
    assert latency.ticks_per_second > 0
    assert 0 < len(latency.slowest) <= 10
    assert [fault.ns for fault in latency.slowest] == sorted((fault.ns for fault in latency.slowest), reverse=True)
    for fault in latency.slowest:
        assert 0 <= fault.object_index < result.spec.object_count
        assert 0 <= fault.offset_bytes < result.spec.object_size_bytes
        assert fault.iteration in {iteration.index for iteration in result.measured}


@pytest.mark.parametrize("fault_type", [name for name, kind in all_fault_types().items() if kind.touch != "populate"])
def test_latency_times_every_page_of_each_fault_type(fault_type):
    result = engine.run(_runnable(fault_type))
    assert not result.interrupted
    _assert_every_page_timed(result)


def test_latency_in_processes_mode_comes_from_every_worker_process():
    spec = _spec("zero-fill", threads=2, mode="processes", oversubscribe=True)
    result = engine.run(spec)
    _assert_every_page_timed(result)


def test_every_nth_page_is_timed():
    result = engine.run(_spec("zero-fill", latency_every=7))
    touched_per_round = result.spec.pages_per_iteration
    histogram = result.latency.histogram
    # The sampling phase starts afresh each round: page 0, then every 7th.
    expected = -(-touched_per_round // 7) * len(result.measured)
    assert histogram.samples + histogram.dropped == expected


def test_the_default_interval_is_chosen_and_said():
    result = engine.run(_spec("zero-fill", latency_every=0, warmup_iterations=0))
    assert result.spec.warmup_iterations == 3  # the rounds that choose
    latency = result.latency
    assert latency.chosen == "auto" and latency.auto_cost is not None
    assert latency.every == choose_every(1, 1 + latency.auto_cost)[0]
    # Only measured rounds are in the histogram, each sampled every Nth page from its first.
    per_round = -(-result.spec.pages_per_iteration // latency.every)
    assert latency.histogram.samples + latency.histogram.dropped == per_round * len(result.measured)


def test_populate_refuses_latency():
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", "--fault", "populate", "--latency", *SMALL])
    assert code == 2
    assert "--latency does not apply to populate" in stderr.getvalue()
    assert len(stderr.getvalue().strip().splitlines()) == 1


def test_without_latency_nothing_is_sampled():
    result = engine.run(replace(_spec("zero-fill"), latency_every=None))
    assert result.latency is None
    assert json.loads(render([result], []))["results"][0]["latency"] is None


def test_the_json_round_trips_the_histogram_bit_for_bit(tmp_path):
    result = engine.run(_spec("zero-fill"))
    text = render([result], ["faultput"])
    path = tmp_path / "r.json"
    path.write_text(text)
    loaded = load(str(path)).results[0]
    assert loaded.latency == result.latency
    assert render([loaded], ["faultput"]) == text


def test_merging_runs_from_files_is_exact(tmp_path):
    results = [engine.run(_spec("zero-page", latency_every=1)) for _ in range(2)]
    paths = []
    for k, result in enumerate(results):
        paths.append(tmp_path / f"{k}.json")
        paths[-1].write_text(render([result], []))
    loaded = [load(str(path)).results[0].latency.histogram for path in paths]
    assert Histogram.merge(loaded) == Histogram.merge(r.latency.histogram for r in results)
    assert Histogram.merge(loaded).samples == sum(r.latency.histogram.samples for r in results)


def test_the_summary_prints_percentiles_floors_and_the_cross_check(tmp_path):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["run", "--latency", "1", "--threads", "1", *SMALL, "--warmup", "1",
                         "--json", str(tmp_path / "r.json")])
    assert code == 0
    text = stdout.getvalue()
    for fragment in ("latency", "every page (--latency 1)", "p99.99", "minus timer", "floors", "timer",
                     "cross-check", "slowest"):
        assert fragment in text, text
    document = json.loads((tmp_path / "r.json").read_text())
    latency = document["results"][0]["latency"]
    assert latency["cross_check"]["touch_cpu_ns"] > 0
    assert set(latency["percentiles_ns"]) == {"p50", "p90", "p99", "p99.9", "p99.99"}


@pytest.fixture(scope="module")
def latency_files(tmp_path_factory):
    """Two result files of zero-fill with --latency, two runs each."""
    folder = tmp_path_factory.mktemp("latency")
    paths = []
    for name in ("base", "new"):
        path = folder / f"{name}.json"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli.main(["run", "--latency", "1", "--threads", "1", *SMALL[:4], "--duration", "0.05",
                             "--repeat", "2", "--json", str(path), "-q"]) == 0
        paths.append(path)
    return paths


def _main(args):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(args)
    return code, stdout.getvalue()


def test_compare_compares_p50_and_p99_and_shows_the_shift(latency_files):
    from faultput.compare import compare, regressions

    base, new = (load(str(path)) for path in latency_files)
    comparison = compare(base, new)
    metrics = [row.metric for row in comparison.rows]
    assert metrics.count("p50") == 1 and metrics.count("p99") == 1
    p50 = next(row for row in comparison.rows if row.metric == "p50")
    from faultput import stats
    # Each run's own p50, compared across runs: never a percentile of averages.
    assert p50.base == stats.summarize([r.latency.histogram.percentile(0.5) for r in base.results])
    assert len(comparison.shifts) == 1
    shift = comparison.shifts[0]
    assert shift.base == Histogram.merge(r.latency.histogram for r in base.results)
    # Latency rows are not throughput: --fail-above never counts them.
    assert all(row.metric in ("wall", "cpu") for row in regressions(comparison, -1000))
    code, text = _main(["compare", *map(str, latency_files)])
    assert code == 0
    assert "latency p50 in ns" in text and "latency p99 in ns" in text
    assert "latency distribution shift" in text and "p99.9" in text
    assert all(len(line) <= 80 for line in text.splitlines() if "->" in line)


def test_csv_carries_the_percentiles(latency_files, tmp_path):
    import csv

    out = tmp_path / "r.csv"
    assert _main(["export", str(latency_files[0]), "--csv", str(out)])[0] == 0
    rows = list(csv.DictReader(out.open()))
    result = load(str(latency_files[0])).results[0]
    first = rows[0]
    assert int(first["latency_p99_ns"]) == result.latency.histogram.percentile(0.99)
    assert int(first["latency_samples"]) == result.latency.histogram.samples
    assert first["latency_every"] == "1"


def test_plot_and_report_draw_the_latency_cdf(latency_files, tmp_path):
    pytest.importorskip("matplotlib")
    from faultput.outputs import plot

    files = [load(str(path)) for path in latency_files]
    fig = plot.figure(files)
    try:
        titles = [axis.get_title() for axis in fig.axes]
        cdf = next(axis for axis in fig.axes if axis.get_title().startswith("latency CDF"))
        assert cdf.get_xscale() == "log" and cdf.get_yscale() == "logit"
        # One line per file's configuration and thread count.
        assert len(cdf.get_legend().get_texts()) == 2, titles
    finally:
        import matplotlib.pyplot
        matplotlib.pyplot.close(fig)
    out = tmp_path / "r.html"
    assert _main(["report", *map(str, latency_files), "-o", str(out)])[0] == 0
    page = out.read_text()
    assert "Latency of one touch" in page and "latency CDF" in page


def test_without_an_invariant_tsc_the_clock_times_the_touches_and_says_so(monkeypatch):
    from faultput import platform

    monkeypatch.setattr(platform, "cpu_flags", lambda: {"rdtscp"})
    clock, note = platform.latency_clock()
    if os.uname().machine == "x86_64":
        assert clock == _core.LAT_CLOCK_MONOTONIC
        assert "constant_tsc, nonstop_tsc" in note and "CLOCK_MONOTONIC_RAW" in note
    result = engine.run(_spec("zero-fill"))
    latency = result.latency
    assert latency.clock == ("monotonic-raw" if clock == _core.LAT_CLOCK_MONOTONIC else latency.clock)
    # Nanoseconds are ticks: the calibration finds one tick per nanosecond.
    if clock == _core.LAT_CLOCK_MONOTONIC:
        assert latency.ticks_per_second == pytest.approx(1e9, rel=1e-3)
        assert any("CLOCK_MONOTONIC_RAW" in finding for finding in result.findings)
    _assert_every_page_timed(result)
