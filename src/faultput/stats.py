"""Statistics over repeated measurements: medians with distribution-free confidence
intervals, spread, and the Mann-Whitney U test for comparisons.

Standard library only, so that the core needs nothing installed; the tests
check every figure here against scipy.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.95
ALPHA = 0.05
# A coefficient of variation above this makes a figure too noisy to trust.
NOISY_CV = 0.05


@dataclass(frozen=True)
class Summary:
    """The statistics of one figure over repeated runs.

    ci_low and ci_high bound the median with confidence ci_level (the binomial
    order-statistic interval; with under six samples the widest one, min to max,
    falls short of 95% and ci_level says by how much). cv is the sample standard
    deviation over the mean, None for a single sample.
    """

    n: int
    median: float
    ci_low: float
    ci_high: float
    ci_level: float
    minimum: float
    maximum: float
    cv: float | None

    @property
    def noisy(self) -> bool:
        """Returns whether the spread is too wide to trust the median."""
        return self.cv is not None and self.cv > NOISY_CV


def _binomial_cdf(k: int, n: int) -> float:
    """Returns P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def median_confidence_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Returns (low, high, achieved confidence) bounding the median of values.

    The interval is [x(k), x(n-k+1)] of the sorted values for the largest k whose
    coverage 1 - 2 P(X < k), X ~ Binomial(n, 1/2), is at least confidence; where
    even min to max falls short, that interval and its coverage.
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    best_k = 1
    for k in range(1, n // 2 + 1):
        coverage = 1 - 2 * _binomial_cdf(k - 1, n)
        if coverage >= confidence:
            best_k = k
        else:
            break
    coverage = 1 - 2 * _binomial_cdf(best_k - 1, n)
    return ordered[best_k - 1], ordered[n - best_k], coverage


def summarize(values: list[float]) -> Summary:
    """Returns the Summary of a figure's values over repeated runs."""
    low, high, level = median_confidence_interval(values)
    mean = statistics.fmean(values)
    cv = statistics.stdev(values) / mean if len(values) > 1 and mean else None
    return Summary(n=len(values), median=statistics.median(values), ci_low=low, ci_high=high,
                   ci_level=level, minimum=min(values), maximum=max(values), cv=cv)


def _ranks(values: list[float]) -> tuple[list[float], bool]:
    """Returns (mid-ranks of values, 1-based; whether any values tie)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = False
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        ties |= j > i
        for position in range(i, j + 1):
            ranks[order[position]] = (i + j) / 2 + 1
        i = j + 1
    return ranks, ties


@lru_cache(maxsize=None)
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """Returns how many orderings give each U from 0 to n1*n2 (no ties)."""
    if n1 == 0 or n2 == 0:
        return (1,)
    with_last_of_first = _u_counts(n1 - 1, n2)   # the largest value is from the first sample: U grows by n2
    with_last_of_second = _u_counts(n1, n2 - 1)
    counts = [0] * (n1 * n2 + 1)
    for u, count in enumerate(with_last_of_first):
        counts[u + n2] += count
    for u, count in enumerate(with_last_of_second):
        counts[u] += count
    return tuple(counts)


# Exact p-values up to this many values in all, where there are no ties.
EXACT_LIMIT = 40


def mann_whitney_u(x: list[float], y: list[float]) -> tuple[float, float, str]:
    """Returns (U of x, two-sided p-value, method) of the Mann-Whitney U test.

    method is "exact" without ties for small samples, else "asymptotic": the
    normal approximation with tie and continuity corrections, as scipy does.
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need values")
    ranks, ties = _ranks(list(x) + list(y))
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    if not ties and n1 + n2 <= EXACT_LIMIT:
        counts = _u_counts(n1, n2)
        total = math.comb(n1 + n2, n1)
        u = int(round(max(u1, n1 * n2 - u1)))
        p = 2 * sum(counts[u:]) / total
        return u1, min(1.0, p), "exact"
    n = n1 + n2
    tie_sizes: dict[float, int] = {}
    for rank in ranks:
        tie_sizes[rank] = tie_sizes.get(rank, 0) + 1
    tie_term = sum(t ** 3 - t for t in tie_sizes.values())
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0:
        return u1, 1.0, "asymptotic"
    u = max(u1, n1 * n2 - u1)
    z = (u - n1 * n2 / 2 - 0.5) / sigma
    p = math.erfc(z / math.sqrt(2))
    return u1, min(1.0, max(0.0, p)), "asymptotic"


def smallest_p(n1: int, n2: int) -> float:
    """Returns the smallest two-sided p-value any samples of these sizes can give."""
    return min(1.0, 2 / math.comb(n1 + n2, n1))
