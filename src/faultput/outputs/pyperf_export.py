"""A pyperf-compatible file, for `python -m pyperf stats` and `compare_to`.

pyperf reads lower values as better, so each value is seconds per page (the
inverse of throughput): one benchmark per configuration and clock, one pyperf
run per faultput run, one value per measured iteration, warmups as warmups.
"""

from __future__ import annotations

import json

from ..result import NS_PER_S, RunResult, config_label

PYPERF_FORMAT_VERSION = "1.0"


def _seconds_per_page(ns: int, pages: int) -> float:
    return ns / NS_PER_S / pages


def document(results: list[RunResult]) -> dict:
    """Returns the pyperf suite for the results that measured something."""
    benchmarks: dict[str, dict] = {}
    for result in results:
        if not result.measured:
            continue
        pages = result.spec.pages_per_iteration
        for clock, ns_of in (("wall", result.iteration_wall_ns), ("cpu", lambda it: it.cpu_ns)):
            name = f"{config_label(result.spec)} {clock} seconds per page"
            benchmark = benchmarks.setdefault(name, {"metadata": {"name": name}, "runs": []})
            benchmark["runs"].append({
                "metadata": {"faultput_repeat": result.repeat, "date": result.started_at},
                "warmups": [[1, _seconds_per_page(ns_of(it), pages)]
                            for it in result.iterations if it.warmup and ns_of(it)],
                "values": [_seconds_per_page(ns_of(it), pages) for it in result.measured if ns_of(it)],
            })
    return {
        "version": PYPERF_FORMAT_VERSION,
        "metadata": {"unit": "second", "loops": 1,
                     "description": "faultput: seconds per page faulted (lower is better)"},
        "benchmarks": list(benchmarks.values()),
    }


def render(results: list[RunResult], command_line: list[str] | None = None) -> str:
    """Returns the pyperf file."""
    return json.dumps(document(results)) + "\n"
