"""CSV: one row per measured iteration of every run, with what it measured."""

from __future__ import annotations

import csv
import io

from ..latency import PERCENTILES
from ..result import RunResult

COLUMNS = ("fault_type", "variant", "mode", "threads", "touch", "huge_pages", "folio_size_bytes", "object_size_bytes",
           "memory_bytes", "repeat", "iteration", "wall_ns", "cpu_ns", "pages", "minor_faults",
           "major_faults", "pages_per_wall_second", "pages_per_cpu_second", "faults_per_page",
           # The run's latency (--latency), on each of its rows; empty without it.
           "latency_every", "latency_samples", "latency_mean_ns",
           *(f"latency_{label}_ns" for label, _ in PERCENTILES), "latency_max_ns")


def _latency_cells(result: RunResult) -> dict:
    latency = result.latency
    if latency is None:
        return {}
    histogram = latency.histogram
    cells = {"latency_every": latency.every, "latency_samples": histogram.samples,
             "latency_mean_ns": "" if histogram.mean_ns is None else round(histogram.mean_ns, 1),
             "latency_max_ns": histogram.max_ns}
    cells.update({f"latency_{label}_ns": "" if value is None else value
                  for label, value in histogram.percentiles().items()})
    return cells


def rows(results: list[RunResult]) -> list[dict]:
    """Returns one row per measured iteration."""
    table = []
    for result in results:
        spec = result.spec
        for iteration in result.measured:
            pages = spec.pages_per_iteration
            wall_ns = result.iteration_wall_ns(iteration)
            figures = result.iteration_figures(iteration)
            minor = sum(worker.minor_faults for worker in iteration.workers)
            major = sum(worker.major_faults for worker in iteration.workers)
            table.append({
                "fault_type": spec.fault_type, "variant": spec.variant, "mode": spec.mode,
                "threads": spec.threads, "touch": spec.touch, "huge_pages": spec.huge_pages,
                "folio_size_bytes": "" if spec.folio_size_bytes is None else spec.folio_size_bytes,
                "object_size_bytes": spec.object_size_bytes, "memory_bytes": spec.memory_bytes,
                "repeat": result.repeat, "iteration": iteration.index, "wall_ns": wall_ns,
                "cpu_ns": iteration.cpu_ns, "pages": pages, "minor_faults": minor, "major_faults": major,
                **{name: "" if value is None else value for name, value in figures.items()},
                **_latency_cells(result),
            })
    return table


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Returns value, a text cell that a spreadsheet would run as a formula prefixed with a
    quote, as OWASP recommends; numbers unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def render(results: list[RunResult], command_line: list[str] | None = None) -> str:
    """Returns the CSV: a header, then a row per measured iteration."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows({key: safe_cell(value) for key, value in row.items()} for row in rows(results))
    return buffer.getvalue()
