"""faultput's statistics agree with scipy's."""

import random

import numpy as np
import pytest
from scipy import stats as scipy_stats

from faultput import stats


def samples(seed, n1, n2, ties):
    rng = random.Random(seed)
    draw = (lambda: rng.randint(0, 5)) if ties else rng.random
    return [draw() for _ in range(n1)], [draw() + (0 if ties else 0.3) for _ in range(n2)]


@pytest.mark.parametrize("seed", range(40))
def test_mann_whitney_matches_scipy(seed):
    rng = random.Random(seed)
    x, y = samples(seed, rng.randint(1, 12), rng.randint(1, 12), ties=seed % 3 == 0)
    u, p, method = stats.mann_whitney_u(x, y)
    expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided", method=method)
    assert u == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)


def test_mann_whitney_uses_the_normal_approximation_for_large_samples():
    x, y = samples(7, 30, 30, ties=False)
    u, p, method = stats.mann_whitney_u(x, y)
    assert method == "asymptotic"
    assert p == pytest.approx(scipy_stats.mannwhitneyu(x, y, method="asymptotic").pvalue, rel=1e-9)


@pytest.mark.parametrize("n", [6, 7, 9, 10, 15, 20, 31, 40])
def test_median_confidence_interval_matches_scipy(n):
    values = [random.Random(n * 7 + i).gauss(1e6, 5e4) for i in range(n)]
    low, high, level = stats.median_confidence_interval(values)
    interval = scipy_stats.quantile_test(values, q=float(np.median(values)), p=0.5).confidence_interval(0.95)
    assert (low, high) == (interval.low, interval.high)
    assert level >= 0.95


@pytest.mark.parametrize("n, coverage", [(1, 0.0), (2, 0.5), (3, 0.75), (4, 0.875), (5, 0.9375)])
def test_too_few_samples_give_min_to_max_with_their_true_coverage(n, coverage):
    values = [float(v) for v in range(n, 0, -1)]
    low, high, level = stats.median_confidence_interval(values)
    assert (low, high) == (min(values), max(values))
    assert level == pytest.approx(coverage)
    if n > 1:
        scipy_interval = scipy_stats.quantile_test(values, q=float(np.median(values))).confidence_interval(0.95)
        assert np.isnan(scipy_interval.low) or np.isnan(scipy_interval.high)


def test_summary_spread_and_noise():
    calm = stats.summarize([100.0, 101.0, 99.0, 100.5, 99.5])
    assert calm.median == 100.0 and calm.minimum == 99.0 and calm.maximum == 101.0
    assert calm.cv == pytest.approx(np.std([100, 101, 99, 100.5, 99.5], ddof=1) / 100)
    assert not calm.noisy
    assert stats.summarize([100.0, 130.0, 80.0]).noisy
    assert stats.summarize([5.0]).cv is None


def test_smallest_p_says_when_samples_are_too_few():
    assert stats.smallest_p(3, 3) == pytest.approx(0.1)
    assert stats.smallest_p(5, 5) < 0.05
    x, y = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    assert stats.mann_whitney_u(x, y)[1] == pytest.approx(stats.smallest_p(3, 3))
