#!/usr/bin/env python3
"""Fidelity benchmark: faultput against the plain C reference, on the same machine, in the same run.

Builds the C yardstick: ../shared/reference/fault_throughput_linux.c (the seed with
the smallest Linux changes) where it is beside the checkout, else the project's own
minimal harness bench/harness.c (written here, so that a clone can run this too);
then runs it (the reference with `-w`: write, a zero fill fault on Linux) and
faultput's seed form (which writes by default) alternately, PAIRS pairs per
configuration, the order flipped every pair so that drift favours neither.
Prints, per variant and thread count, the median over pairs of the ratio
faultput / C of pages per wall second and of pages per CPU second.

    python bench/fidelity.py [--pairs 7] [--duration 3] [--threads 1,N] [--reference PATH]

Exits 1 if the reference is not found or does not build; 0 otherwise, with
each ratio under the 0.97 target marked (--strict makes that exit 3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_RATIO = 0.97
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "fault_throughput_linux.c"
HARNESS = Path(__file__).resolve().parent / "harness.c"
RESULTS_LINE = "-----Results-----"


def parse_figures(stdout: str) -> tuple[float, float]:
    """Returns (pages per wall second, pages per CPU second) from the seed's result block."""
    lines = stdout.splitlines()
    start = lines.index(RESULTS_LINE)
    wall, cpu = lines[start + 2].split(",")
    return float(wall), float(cpu)


def measure(command: list[str]) -> tuple[float, float]:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"fidelity: {' '.join(command)} failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_figures(completed.stdout)


def machine_description() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    hypervisor = ""
    try:
        if " hypervisor" in Path("/proc/cpuinfo").read_text():
            hypervisor = ", virtual machine"
    except OSError:
        pass
    return (f"{model}, {os.sysconf('SC_NPROCESSORS_ONLN')} online CPUs{hypervisor}, "
            f"Linux {os.uname().release}, Python {sys.version.split()[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--duration", default="3", help="seconds per run (default: 3)")
    parser.add_argument("--threads", help="thread counts (default: 1 and all online CPUs)")
    parser.add_argument("--variants", default="separate-objects,share-objects")
    parser.add_argument("--reference", type=Path,
                        help="the C file to compare against (default: the shared reference where it is "
                             "there, else bench/harness.c)")
    parser.add_argument("--strict", action="store_true", help="exit 3 if any median ratio is under the target")
    args = parser.parse_args()

    if args.reference is None:
        args.reference = DEFAULT_REFERENCE if DEFAULT_REFERENCE.is_file() else HARNESS
    if not args.reference.is_file():
        print(f"fidelity: the C reference {args.reference} is not there; it lives in shared/reference/ "
              "beside the checkout (or pass --reference PATH)", file=sys.stderr)
        return 1
    ncpu = os.sysconf("SC_NPROCESSORS_ONLN")
    thread_counts = ([int(t) for t in args.threads.split(",")] if args.threads
                     else sorted({1, ncpu}))

    with tempfile.TemporaryDirectory(prefix="faultput-fidelity-") as build_dir:
        binary = Path(build_dir) / "fault_throughput_linux"
        build = subprocess.run(["cc", "-O2", "-pthread", "-o", str(binary), str(args.reference)],
                               capture_output=True, text=True)
        if build.returncode != 0:
            print(f"fidelity: building {args.reference} failed:\n{build.stderr}", file=sys.stderr)
            return 1

        print(f"machine: {machine_description()}")
        print(f"yardstick: {args.reference}")
        print(f"{args.pairs} interleaved pairs of {args.duration} s runs per row; "
              f"ratio = faultput / C, median over pairs\n")
        print(f"{'variant':<17} {'threads':>7}  {'C wall':>12}  {'C CPU':>12}  {'faultput wall':>13}  "
              f"{'faultput CPU':>12}  {'wall ratio':>10}  {'CPU ratio':>9}")
        below = False
        for variant in args.variants.split(","):
            for threads in thread_counts:
                commands = {
                    "c": [str(binary), *([] if args.reference.resolve() == HARNESS else ["-w"]), variant,
                          args.duration, str(threads)],
                    "faultput": [sys.executable, "-m", "faultput", variant, args.duration, str(threads)],
                }
                pairs = []
                for pair in range(args.pairs):
                    order = ("c", "faultput") if pair % 2 == 0 else ("faultput", "c")
                    figures = {name: measure(commands[name]) for name in order}
                    pairs.append((figures["c"], figures["faultput"]))
                wall_ratio = statistics.median(f[0] / c[0] for c, f in pairs)
                cpu_ratio = statistics.median(f[1] / c[1] for c, f in pairs)
                marks = ["" if ratio >= TARGET_RATIO else " <" for ratio in (wall_ratio, cpu_ratio)]
                below |= any(marks)
                print(f"{variant:<17} {threads:>7}  {statistics.median(c[0] for c, _ in pairs):>12,.0f}  "
                      f"{statistics.median(c[1] for c, _ in pairs):>12,.0f}  "
                      f"{statistics.median(f[0] for _, f in pairs):>13,.0f}  "
                      f"{statistics.median(f[1] for _, f in pairs):>12,.0f}  "
                      f"{wall_ratio:>10.3f}{marks[0]:2}{cpu_ratio:>9.3f}{marks[1]}", flush=True)
        print(f"\ntarget: every median ratio at least {TARGET_RATIO}"
              + ("; '<' marks a ratio under it" if below else "; all met"))
    return 3 if below and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
