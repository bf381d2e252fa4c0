"""How a scaling curve bends: the Universal Scalability Law fitted to a sweep.

    X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1))

sigma is contention (the share of the work that serialises), kappa coherency (the cost
each thread adds to every other), and the throughput peaks at N* = sqrt((1 - sigma) /
kappa). The fit uses scipy's least squares (the optional extra faultput[fit], imported
only here, only when a fit is made); intervals come from a bootstrap: over the repeats
where there are repeats, else over the residuals.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

from .errors import UsageError

MIN_POINTS = 4
BOOTSTRAP_SAMPLES = 200


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95% bootstrap interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class UslFit:
    """The law's parameters for one curve, with 95% intervals; peak_threads is inf where the
    fitted curve never turns down (kappa 0)."""

    lambda_: float
    sigma: Interval
    kappa: Interval
    peak_threads: Interval
    points: int

    def to_data(self) -> dict:
        """Returns the fit as JSON-ready data (an unbounded peak as null)."""
        def interval(i: Interval) -> dict:
            return {name: (None if math.isinf(v) else v) for name, v in (("value", i.value), ("low", i.low),
                                                                         ("high", i.high))}
        return {"lambda": self.lambda_, "sigma": interval(self.sigma), "kappa": interval(self.kappa),
                "peak_threads": interval(self.peak_threads), "points": self.points}


def usl(threads, lambda_, sigma, kappa):
    """Returns the law's throughput at threads (a number or a numpy array)."""
    return lambda_ * threads / (1 + sigma * (threads - 1) + kappa * threads * (threads - 1))


# Below this the coherency cost puts the peak past any machine's thread count: no peak.
KAPPA_FLOOR = 1e-7
# Above this contention the curve is flat: adding threads adds nothing, and where it "peaks"
# is noise.
FLAT_SIGMA = 0.95


def peak(sigma: float, kappa: float) -> float:
    """Returns N*, where the fitted throughput peaks: 1 for a flat curve (sigma 1), inf
    without coherency cost."""
    if kappa < KAPPA_FLOOR:
        return math.inf
    return max(1.0, math.sqrt(max(0.0, 1 - sigma) / kappa))


def available() -> bool:
    """Returns whether fits can be made here (scipy is installed)."""
    try:
        import scipy.optimize  # noqa: F401  (imported to see that it can be)
    except ImportError:
        return False
    return True


def _fit_once(threads: list[int], values: list[float]) -> tuple[float, float, float]:
    """Returns (lambda, sigma, kappa) fitted to (threads, value) pairs, in log space: the noise
    of throughput is relative, a few percent of the figure whatever its size."""
    import numpy
    from scipy.optimize import curve_fit

    xs = numpy.array(threads, dtype=float)
    ys = numpy.array(values, dtype=float)
    scale = float(numpy.median(ys[xs == xs.min()] / xs.min())) or 1.0

    def log_usl(n, lambda_, sigma, kappa):
        return numpy.log(usl(n, lambda_, sigma, kappa))

    (lambda_, sigma, kappa), _ = curve_fit(log_usl, xs, numpy.log(ys / scale), p0=(1.0, 0.01, 0.0001),
                                           bounds=((1e-9, 0.0, 0.0), (numpy.inf, 1.0, 1.0)), maxfev=20000)
    return lambda_ * scale, float(sigma), float(kappa)


def fit(points: dict[int, list[float]], seed: int = 0) -> UslFit:
    """Returns the law fitted to {threads: throughputs of the repeats}, every run a point;
    raises UsageError with fewer than MIN_POINTS thread counts or without scipy."""
    threads = sorted(points)
    if len(threads) < MIN_POINTS:
        raise UsageError(f"a scalability fit needs at least {MIN_POINTS} thread counts, got {len(threads)}")
    if not available():
        raise UsageError("a scalability fit needs scipy: pip install 'faultput[fit]'")
    every_threads = [t for t in threads for _ in points[t]]
    every_value = [value for t in threads for value in points[t]]
    if min(every_value) <= 0:
        raise UsageError("a scalability fit needs positive throughputs")
    lambda_, sigma, kappa = _fit_once(every_threads, every_value)
    rng = random.Random(seed)
    repeats = min(len(points[t]) for t in threads) > 1
    ratios = [value / usl(t, lambda_, sigma, kappa) for t, value in zip(every_threads, every_value)]
    samples = []
    for _ in range(BOOTSTRAP_SAMPLES):
        if repeats:
            resampled = [value for t in threads for value in rng.choices(points[t], k=len(points[t]))]
        else:
            resampled = [usl(t, lambda_, sigma, kappa) * rng.choice(ratios) for t in every_threads]
        try:
            samples.append(_fit_once(every_threads, resampled))
        except (RuntimeError, ValueError):
            continue

    def interval(value: float, index: int | None) -> Interval:
        if not samples:
            return Interval(value, value, value)
        drawn = sorted(peak(s[1], s[2]) if index is None else s[index] for s in samples)
        return Interval(value, drawn[int(0.025 * (len(drawn) - 1))], drawn[int(0.975 * (len(drawn) - 1))])

    return UslFit(lambda_=lambda_, sigma=interval(sigma, 1), kappa=interval(kappa, 2),
                  peak_threads=interval(peak(sigma, kappa), None), points=len(threads))


def efficiency(points: dict[int, list[float]]) -> dict[int, float] | None:
    """Returns X(N) / (N X(1)) per thread count, from medians; None without a 1-thread point."""
    if 1 not in points:
        return None
    one = statistics.median(points[1])
    return {t: statistics.median(values) / (t * one) for t, values in sorted(points.items())} if one else None


def fits(results) -> list[tuple[str, UslFit, dict[int, float] | None, dict[int, float] | None]]:
    """Returns (configuration, fit of pages per wall second, wall efficiency, CPU efficiency)
    for every configuration of results swept over at least MIN_POINTS thread counts; empty
    where scipy is missing (say so with available())."""
    from .result import FIGURES, config_label, group_by_config

    curves: dict[str, dict[int, list]] = {}
    for runs in group_by_config(list(results)).values():
        spec = runs[0].spec
        curves.setdefault(config_label(spec, with_threads=False), {})[spec.threads] = runs
    found = []
    for label, by_threads in curves.items():
        if len(by_threads) < MIN_POINTS or not available():
            continue
        wall = {t: [FIGURES[0].value(run) for run in runs] for t, runs in by_threads.items()}
        cpu = {t: [FIGURES[1].value(run) for run in runs] for t, runs in by_threads.items()}
        cpu_efficiency = None
        if 1 in cpu:
            one = statistics.median(cpu[1])
            cpu_efficiency = {t: statistics.median(v) / one for t, v in sorted(cpu.items())} if one else None
        found.append((label, fit(wall), efficiency(wall), cpu_efficiency))
    return found


def describe(fit_: UslFit) -> str:
    """Returns the fit in one line: sigma, kappa and the peak, each with its interval."""
    def number(value: float) -> str:
        if math.isinf(value):
            return "unbounded"
        return "0" if abs(value) < 1e-9 else f"{value:.3g}"

    if fit_.sigma.value > FLAT_SIGMA:
        peak_text = "no scaling: contention serialises the work (sigma near 1), so no peak can be told"
    elif math.isinf(fit_.peak_threads.value):
        peak_text = "no peak (kappa 0: the curve never turns down)"
    else:
        peak_text = (f"peak at {number(fit_.peak_threads.value)} threads "
                     f"[{number(fit_.peak_threads.low)} to {number(fit_.peak_threads.high)}]")
    return (f"sigma {number(fit_.sigma.value)} [{number(fit_.sigma.low)} to {number(fit_.sigma.high)}], "
            f"kappa {number(fit_.kappa.value)} [{number(fit_.kappa.low)} to {number(fit_.kappa.high)}], "
            f"{peak_text} (95% bootstrap intervals)")
