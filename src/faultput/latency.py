"""Per-fault latency (--latency): the histogram, its arithmetic, and what a run reports of it.

Plain data and pure functions, like result.py: the engine fills them from the native core,
the outputs read them. The bucket layout is the native core's (native/core.h), restated
here so that files can be merged and read without it; a test holds the two to each other.

A histogram is log-linear (HDR-style): values below 256 ns have a bucket each; each power
of two from 2^8 ns up is split into 2^7 linear sub-buckets, so a bucket is at most 1/128
of its lower bound wide. Histograms with the same layout merge exactly, in any order, by
adding counts bucket by bucket: so do runs, repeats and files. Percentiles are always read
from a (merged) histogram, never averaged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SUB_BITS = 7
SUB_BUCKETS = 1 << SUB_BITS
MAX_EXPONENT = 40
BUCKETS = (MAX_EXPONENT - SUB_BITS + 1) * SUB_BUCKETS
# The layout, as the JSON result stores it beside the counts.
LAYOUT = {"unit": "ns", "sub_bucket_bits": SUB_BITS, "max_exponent": MAX_EXPONENT, "buckets": BUCKETS}

# The percentiles every latency result reports, as (label, quantile).
PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999), ("p99.99", 0.9999))
SLOWEST = 10

# The timer sources, by the native core's numbers, and the names results give them.
CLOCKS = {0: "monotonic-raw", 1: "tsc", 2: "cntvct"}

# --latency without N samples every page unless that costs more than this share of throughput;
# the cost is measured in one round each way, so the choice keeps a margin for that noise.
OVERHEAD_TARGET = 0.03
OVERHEAD_MARGIN = 0.005


def bucket_of(ns: int) -> int:
    """Returns the bucket a value in nanoseconds falls in."""
    if ns < 2 * SUB_BUCKETS:
        return ns
    exponent = ns.bit_length() - 1
    if exponent >= MAX_EXPONENT:
        return BUCKETS - 1
    return (exponent - SUB_BITS + 1) * SUB_BUCKETS + (ns >> (exponent - SUB_BITS)) - SUB_BUCKETS


def bucket_low(index: int) -> int:
    """Returns the smallest value of a bucket, in nanoseconds."""
    if index < 2 * SUB_BUCKETS:
        return index
    exponent = index // SUB_BUCKETS + SUB_BITS - 1
    return (SUB_BUCKETS + index % SUB_BUCKETS) << (exponent - SUB_BITS)


def bucket_width(index: int) -> int:
    """Returns how many nanoseconds a bucket spans (the last one also holds everything above)."""
    if index < 2 * SUB_BUCKETS:
        return 1
    return 1 << (index // SUB_BUCKETS - 1)


def bucket_value(index: int) -> int:
    """Returns the value a percentile in this bucket is reported as: its middle (exact below 256 ns)."""
    return bucket_low(index) + (bucket_width(index) - 1) // 2


@dataclass(frozen=True)
class Histogram:
    """Samples of one or more workers, rounds, runs or files.

    counts holds the non-empty buckets as (index, count), in index order; sum_ns and
    max_ns are exact, so that the mean and the maximum are too.
    """

    counts: tuple[tuple[int, int], ...] = ()
    samples: int = 0
    dropped: int = 0
    sum_ns: int = 0
    max_ns: int = 0

    @classmethod
    def merge(cls, histograms) -> "Histogram":
        """Returns the exact union of histograms: counts added bucket by bucket."""
        counts: dict[int, int] = {}
        samples = dropped = sum_ns = max_ns = 0
        for histogram in histograms:
            for index, count in histogram.counts:
                counts[index] = counts.get(index, 0) + count
            samples += histogram.samples
            dropped += histogram.dropped
            sum_ns += histogram.sum_ns
            max_ns = max(max_ns, histogram.max_ns)
        return cls(tuple(sorted(counts.items())), samples, dropped, sum_ns, max_ns)

    @property
    def mean_ns(self) -> float | None:
        return self.sum_ns / self.samples if self.samples else None

    def percentile(self, quantile: float) -> int | None:
        """Returns the value below which `quantile` of the samples fall (a bucket's middle,
        never above the exact maximum), or None without samples."""
        if not self.samples:
            return None
        rank = quantile * self.samples
        seen = 0
        for index, count in self.counts:
            seen += count
            if seen >= rank:
                return min(bucket_value(index), self.max_ns)
        return self.max_ns

    def percentiles(self) -> dict[str, int | None]:
        return {label: self.percentile(quantile) for label, quantile in PERCENTILES}

    def cdf(self) -> list[tuple[int, float]]:
        """Returns (upper bound of a bucket in ns, share of samples at or below it) per non-empty bucket."""
        points = []
        seen = 0
        for index, count in self.counts:
            seen += count
            points.append((bucket_low(index) + bucket_width(index), seen / self.samples))
        return points


@dataclass(frozen=True)
class SlowFault:
    """One of a run's slowest sampled touches: how long, where, and when."""

    ns: int
    object_index: int
    offset_bytes: int
    iteration: int
    at_s: float   # seconds since the run's first calibration point, just before its first round


@dataclass(frozen=True)
class Latency:
    """What --latency measured in one run.

    every is the sampling interval used (every Nth page), chosen "given" by the user or
    "auto" (every page unless that costs more than OVERHEAD_TARGET; auto_cost is the cost of
    timing every page as the probe rounds measured it: touch-loop CPU time per page timing
    every page over that without timing, less one). clock names the counter; ticks_per_second is its rate as
    calibrated against CLOCK_MONOTONIC_RAW over this run, calibration_spread the largest
    relative difference between the rate a round converted with and the run's.
    histogram holds the measured iterations' samples. timer_floor is the empty timed region
    (the timer's own cost), mapped_floor a touch of a page already mapped (no fault), both
    measured in this run through the loop's own code; sample_cost_ns is what one sample
    costs the loop, bookkeeping included.
    """

    every: int
    chosen: str
    clock: str
    ticks_per_second: float
    calibration_spread: float
    histogram: Histogram
    slowest: tuple[SlowFault, ...]
    timer_floor: Histogram
    mapped_floor: Histogram
    sample_cost_ns: float
    auto_cost: float | None = None
    clock_note: str | None = None

    @property
    def timer_ns(self) -> int:
        """Returns the timer floor's median, the amount subtracted from "net" percentiles."""
        return self.timer_floor.percentile(0.5) or 0

    def net(self, value: int | None) -> int | None:
        """Returns a raw percentile with the timer floor subtracted (never below zero)."""
        return None if value is None else max(0, value - self.timer_ns)


def merged(latencies) -> Histogram | None:
    """Returns the histogram of every run's latency that has one, merged; None if none has."""
    histograms = [latency.histogram for latency in latencies if latency is not None]
    return Histogram.merge(histograms) if histograms else None


def choose_every(plain_ns_per_page: float, sampled_ns_per_page: float) -> tuple[int, float]:
    """Returns (N, measured cost of timing every page) from the touch loop's CPU time per page
    in a round without sampling and in one timing every page: 1 where that costs at most
    OVERHEAD_TARGET less OVERHEAD_MARGIN, else the smallest odd N that keeps the cost under it
    (odd, so that sampling never falls in step with 512-page huge pages)."""
    cost = max(0.0, sampled_ns_per_page / plain_ns_per_page - 1) if plain_ns_per_page > 0 else 0.0
    limit = OVERHEAD_TARGET - OVERHEAD_MARGIN
    if cost <= limit:
        return 1, cost
    every = int(cost / limit) + 1
    return every + (every % 2 == 0), cost


def every_nth(every: int) -> str:
    """Returns 'every page', 'every 3rd page', 'every 11th page'."""
    if every == 1:
        return "every page"
    suffix = "th" if every % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(every % 10, "th")
    return f"every {every}{suffix} page"


def aliasing_note(every: int, pages_per_huge_page: int) -> str | None:
    """Returns a warning when sampling every Nth page falls in step with huge pages."""
    if every > 1 and math.gcd(every, pages_per_huge_page) > 1:
        return (f"sampling {every_nth(every)} shares a factor with the {pages_per_huge_page} pages of a "
                "huge page, so the pages sampled sit at the same places in each: an odd N samples them evenly")
    return None
