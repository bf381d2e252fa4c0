#!/usr/bin/env python3
"""What --latency costs: throughput with it against without, in the same run.

For each fault type and thread count, runs three forms in turn, PAIRS times, the order
rotated every round so that drift favours none: no --latency (the reference), --latency 1
(every page timed) and --latency (the default interval, chosen by the run). Prints, per
configuration, the median over rounds of the ratio of pages per wall second with latency
to without, the interval the default chose, and the cross-check of the every-page runs
(sampled mean latency x pages over the touch loop's CPU time).

    python bench/latency_overhead.py [--pairs 7] [--duration 1] [--fault zero-fill,zero-page,thp]
                                     [--threads 1,N]

The target: the default costs under 3% (ratio at least 0.97) at 1 thread and at all CPUs;
a ratio under it is marked (--strict makes that exit 3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faultput import engine, platform  # noqa: E402
from faultput.checks import latency_cross_check  # noqa: E402
from faultput.spec import make_spec  # noqa: E402
from interleave import median_ratio, rotated_rounds  # noqa: E402

TARGET_RATIO = 0.97
FORMS = {"none": None, "every page": 1, "default": 0}


def measure(fault: str, threads: int, duration: float, pairs: int) -> dict:
    """Returns, for one configuration, the ratios per form, the default's interval and the cross-checks."""
    spec = make_spec(variant="separate-objects", threads=threads, duration_s=duration, fault_type=fault,
                     warmup_iterations=1)
    chosen: list[int] = []
    checks: list[float] = []

    def run(form: str) -> float:
        result = engine.run(replace(spec, latency_every=FORMS[form]))
        if form == "default":
            chosen.append(result.latency.every)
        if form == "every page":
            check = latency_cross_check(result)
            if check:
                checks.append(check["ratio"])
        return result.pages_per_wall_second

    figures = rotated_rounds({form: (lambda form=form: run(form)) for form in FORMS}, pairs)
    ratios = {form: median_ratio(figures, form, "none") for form in FORMS if form != "none"}
    return {"ratios": ratios, "chosen": sorted(set(chosen)), "cross_check": statistics.median(checks) if checks else None,
            "reference": statistics.median(figures["none"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--fault", default="zero-fill,zero-page,thp")
    parser.add_argument("--threads", default=f"1,{platform.online_cpus()}")
    parser.add_argument("--strict", action="store_true", help="exit 3 if a default ratio misses the target")
    args = parser.parse_args()
    threads = sorted({int(t) for t in args.threads.split(",")})
    print(f"latency overhead: {args.pairs} rounds of {args.duration:g} s runs, medians of per-round ratios "
          f"(with --latency / without), pages per wall second; {platform.cpu_model()}, "
          f"{platform.online_cpus()} CPUs, Linux {platform.kernel_release()}")
    print(f"{'fault':<10} {'threads':>7} {'without':>12} {'every page':>11} {'default N':>10} {'default':>8} "
          f"{'cross-check':>12}")
    missed = False
    for fault in args.fault.split(","):
        for count in threads:
            measured = measure(fault, count, args.duration, args.pairs)
            ratios = measured["ratios"]
            mark = ""
            if ratios["default"] < TARGET_RATIO:
                mark, missed = "  < target 0.97", True
            check = "n/a" if measured["cross_check"] is None else f"{measured['cross_check']:.1%}"
            print(f"{fault:<10} {count:>7} {measured['reference']:>12,.0f} {ratios['every page']:>11.3f} "
                  f"{','.join(map(str, measured['chosen'])):>10} {ratios['default']:>8.3f} {check:>12}{mark}",
                  flush=True)
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
