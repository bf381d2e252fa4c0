"""The seed's own output: its result block, and its -v progress lines."""

from __future__ import annotations

import datetime
from typing import TextIO

from ..result import RunResult

RESULTS_LINE = "-----Results-----"
# The seed's CSV header; the wrapper names its perfdata metrics after these two fields.
WALL_METRIC = "Throughput (pages / wall second)"
CPU_METRIC = "Throughput (pages / CPU second)"
HEADER_LINE = f"{WALL_METRIC}, {CPU_METRIC}"

_PROGRESS_LINES = {
    "initialized": "Initialized global data structures.",
    "spawned": "Spawned workers.",
    "iteration_start": "----Starting Iteration {n}-----",
    "waiting": "Waiting for workers to catch up before starting next iteration.",
    "caught_up": "Workers are all caught up",
    "waking": "Initialized data structures for iteration. Waking workers.",
    "iteration_done": "----Completed Iteration {n}----",
    "budget": "Hit time budget\nJoining worker threads",
    "end": "----End Test Output----",
}


def results_block(result: RunResult) -> str:
    """Returns the seed's three result lines: marker, CSV header, 'wall,cpu' as %f,%f."""
    wall = result.pages_per_wall_second or 0.0
    cpu = result.pages_per_cpu_second or 0.0
    return f"{RESULTS_LINE}\n{HEADER_LINE}\n{wall:f},{cpu:f}\n"


class SeedProgress:
    """An engine event callback printing the seed's -v lines, each with a timestamp."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def __call__(self, name: str, iteration: int | None) -> None:
        template = _PROGRESS_LINES.get(name)
        if template is None:
            return
        stamp = datetime.datetime.now().strftime("[%Y-%m-%d %H:%M:%S.%f]")
        for line in template.format(n=iteration).splitlines():
            self.stream.write(f"{stamp} {line}\n")
        self.stream.flush()
