"""The Universal Scalability Law fit: recovered from synthetic curves, refused below four
points, sane on flat and linear curves, and shown where a sweep has enough thread counts."""

import json
import math
import random
import subprocess
import sys

import pytest

from conftest import faultput
from faultput import scaling
from faultput.errors import UsageError

pytest.importorskip("scipy")


def synthetic(sigma, kappa, seed, noise=0.03, threads=range(1, 33), repeats=5):
    rng = random.Random(seed)
    return {n: [scaling.usl(n, 1e6, sigma, kappa) * (1 + rng.gauss(0, noise)) for _ in range(repeats)]
            for n in threads}


@pytest.mark.parametrize("seed", range(4))
def test_sigma_and_kappa_are_recovered_within_10_percent_from_3_percent_noise(seed):
    fit = scaling.fit(synthetic(0.05, 0.002, seed))
    assert fit.sigma.value == pytest.approx(0.05, rel=0.10)
    assert fit.kappa.value == pytest.approx(0.002, rel=0.10)
    assert fit.sigma.low <= fit.sigma.value <= fit.sigma.high
    assert fit.peak_threads.value == pytest.approx(math.sqrt(0.95 / 0.002), rel=0.10)


def test_fewer_than_four_thread_counts_are_refused():
    with pytest.raises(UsageError, match="a scalability fit needs at least 4 thread counts, got 3"):
        scaling.fit({1: [1.0], 2: [2.0], 4: [3.0]})


def test_a_flat_curve_peaks_at_one_thread_and_a_linear_one_never():
    flat = scaling.fit({n: [1e6, 1.01e6, 0.99e6] for n in (1, 2, 4, 8)})
    assert flat.sigma.value > 0.95
    assert "no scaling: contention serialises the work" in scaling.describe(flat)
    assert flat.peak_threads.low <= flat.peak_threads.value <= flat.peak_threads.high
    linear = scaling.fit({n: [1e6 * n] * 3 for n in (1, 2, 4, 8)})
    assert linear.sigma.value < 1e-3 and math.isinf(linear.peak_threads.value)
    assert "no peak" in scaling.describe(linear)
    assert all(value is None or math.isfinite(value) for value in linear.to_data()["peak_threads"].values())


def test_a_sweep_of_four_thread_counts_prints_stores_and_reports_its_fit(tmp_path):
    path = tmp_path / "sweep.json"
    completed = faultput("run", "--threads", "1-4", "--oversubscribe", "--repeat", "2", "--object-size", "4M",
                         "--memory", "16M", "--duration", "0.05", "--warmup", "0", "-q", "--json", str(path))
    assert completed.returncode == 0, completed.stderr
    assert "USL fit of pages per wall second, zero-fill separate-objects threads:" in completed.stdout
    assert "efficiency (wall)  x1 100%  x2 " in completed.stdout
    fits = json.loads(path.read_text())["scaling"]
    assert [fit["configuration"] for fit in fits] == ["zero-fill separate-objects threads"]
    assert set(fits[0]) >= {"lambda", "sigma", "kappa", "peak_threads", "efficiency"}
    report = tmp_path / "r.html"
    assert faultput("report", str(path), "-o", str(report)).returncode == 0
    assert "USL fit" in report.read_text()


def test_without_scipy_the_sweep_says_how_to_get_the_fit():
    code = ("import sys; sys.modules['scipy'] = None; from faultput.cli import main; "
            "sys.exit(main(['run', '--threads', '1-4', '--oversubscribe', '--object-size', '4M', '--memory', "
            "'16M', '--duration', '0.05', '--warmup', '0', '-q']))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "note: the scalability fit (USL) needs scipy: pip install 'faultput[fit]'" in completed.stdout
