"""The wrapper's perfdata: one record per figure, metrics named after the seed's CSV header."""

from __future__ import annotations

import json

from .. import __version__
from ..result import RunResult
from .seed import CPU_METRIC, WALL_METRIC

BENCHMARK_NAME = "faultput.fault_throughput"
BENCHMARK_VERSION = 1
UNIT = "pages/sec"


def _record(metric: str, value: float, result: RunResult) -> dict:
    spec = result.spec
    return {
        "metric": metric,
        "unit": UNIT,
        "larger_better": True,
        "value": value,
        "variables": {
            "threads": spec.threads,
            "variant": spec.variant,
            "fault_type": spec.fault_type,
            "mode": spec.mode,
            "touch": spec.touch,
            "thp": spec.thp,
            "huge_pages": spec.huge_pages,
            "faults_per_page": result.faults_per_page,
            "partial": result.interrupted,
        },
    }


def document(results: list[RunResult]) -> dict:
    """Returns the perfdata document: one record per figure of every result that measured something."""
    system = results[0].system if results else {}
    data = []
    for result in results:
        for metric, value in ((WALL_METRIC, result.pages_per_wall_second),
                              (CPU_METRIC, result.pages_per_cpu_second)):
            if value is not None:
                data.append(_record(metric, value, result))
    return {
        "name": BENCHMARK_NAME,
        "version": BENCHMARK_VERSION,
        "tool_version": __version__,
        "start": results[0].started_at if results else None,
        "end": results[-1].ended_at if results else None,
        "configuration": {
            "logical_cpus": system.get("online_cpus"),
            "page_size_bytes": system.get("page_size_bytes"),
            "kernel_release": system.get("kernel_release"),
        },
        "data": data,
    }


def render(results: list[RunResult], command_line: list[str] | None = None) -> str:
    """Returns the perfdata file."""
    return json.dumps(document(results), indent=2) + "\n"
