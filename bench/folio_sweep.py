#!/usr/bin/env python3
"""Folio-size sweep: zero fill (and shmem) fault throughput at every large folio size, by threads.

Runs `faultput run --folio-size ... --threads ... --repeat N` (interleaved repeats, so that
drift spreads over every size) and prints faultput's own folio table: per folio size and
thread count, the median pages per wall second, faults per page, and the change against
the base page in the same run. Needs root: each run changes the mTHP settings, and
faultput puts every one back.

    sudo python bench/folio_sweep.py [--sizes 4K,16K,64K,2M] [--threads 1,N] [--repeat 3]
                                      [--duration 2] [--fault zero-fill,shmem]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4K,16K,64K,2M")
    parser.add_argument("--threads", default=f"1,{os.sysconf('SC_NPROCESSORS_ONLN')}")
    parser.add_argument("--repeat", default="3")
    parser.add_argument("--duration", default="2")
    parser.add_argument("--fault", default="zero-fill,shmem")
    parser.add_argument("--json", help="also keep the result file")
    args = parser.parse_args()
    command = [sys.executable, "-m", "faultput", "run", "--fault", args.fault, "--folio-size", args.sizes,
               "--threads", args.threads, "--repeat", args.repeat, "--duration", args.duration,
               "--object-size", "16M", "--memory", "256M", "-q"]
    if args.json:
        command += ["--json", args.json]
    print("$ faultput " + " ".join(command[3:]), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
