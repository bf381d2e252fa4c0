#!/usr/bin/env python3
"""What counting and profiling cost: throughput with the workers' perf_event counters against
without (--no-counters), and with --profile against without, in the same run.

For each fault type and thread count, runs three forms in turn, ROUNDS times, the order
rotated every round so that drift favours none: --no-counters (the reference), the default
(each worker's counters open, read around each item), and --profile (perf record sampling
the workers at 4,999 Hz in the measured rounds). Prints the median over rounds of the ratio
of pages per wall second: counters / no counters (target: at least 0.99, under 1%) and
profile / counters (reported).

    python bench/counters_overhead.py [--rounds 7] [--duration 1] [--fault zero-fill,zero-page]
                                      [--threads 1,N]
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
from faultput.spec import make_spec  # noqa: E402
from interleave import median_ratio as ratio, rotated_rounds  # noqa: E402

TARGET_RATIO = 0.99
FORMS = {"no counters": {"counters": False}, "counters": {}, "profile": {"profile": True}}


def measure(fault: str, threads: int, duration: float, rounds: int, profile: bool) -> dict[str, list[float]]:
    spec = make_spec(variant="separate-objects", threads=threads, duration_s=duration, fault_type=fault,
                     warmup_iterations=1)
    forms = {name: (lambda changes=changes: engine.run(replace(spec, **changes)).pages_per_wall_second)
             for name, changes in FORMS.items() if profile or name != "profile"}
    return rotated_rounds(forms, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--fault", default="zero-fill,zero-page")
    parser.add_argument("--threads", default=f"1,{platform.online_cpus()}")
    parser.add_argument("--strict", action="store_true", help="exit 3 if the counters miss the target")
    args = parser.parse_args()
    profile = platform.profiling_refusal() is None
    if not profile:
        print(f"note: --profile cannot run here ({platform.profiling_refusal()}); counters only")
    counted = [name for name, state in platform.counter_availability().items() if state["counted"]]
    print(f"counters and profile overhead: {args.rounds} rounds of {args.duration:g} s runs, medians of per-round "
          f"ratios of pages per wall second; counters open here: {', '.join(counted) or 'none'}; "
          f"{platform.cpu_model()}, {platform.online_cpus()} CPUs, Linux {platform.kernel_release()}")
    print(f"{'fault':<10} {'threads':>7} {'no counters':>12} {'counters':>9} {'profile':>8}")
    missed = False
    for fault in args.fault.split(","):
        for threads in sorted({int(t) for t in args.threads.split(",")}):
            figures = measure(fault, threads, args.duration, args.rounds, profile)
            counters = ratio(figures, "counters", "no counters")
            profiled = ratio(figures, "profile", "counters")
            mark = ""
            if counters < TARGET_RATIO:
                mark, missed = "  < target 0.99", True
            print(f"{fault:<10} {threads:>7} {statistics.median(figures['no counters']):>12,.0f} {counters:>9.3f} "
                  f"{'n/a' if profiled is None else f'{profiled:.3f}':>8}{mark}", flush=True)
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
