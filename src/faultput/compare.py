"""Comparing result files: which configurations they share, and whether each figure changed.

Rows pair a base and a new file's runs of one configuration. A field that is the
same throughout each file but differs between them (the fault type of a zero
fill file against a zero page file, the kernel of two otherwise equal runs) is
what the comparison is about: it is left out of the pairing and named instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import stats
from .latency import Histogram, merged
from .result import CONFIG_FIELDS, FIGURES, LATENCY_FIGURES, RunResult, config_key, config_label
from .resultfile import ResultFile


@dataclass(frozen=True)
class Row:
    """One configuration's figure in base and new, and the verdict on the change."""

    label: str
    threads: str
    metric: str
    base: stats.Summary
    new: stats.Summary
    change_percent: float
    p_value: float
    significant: bool
    too_few: bool
    base_runs: tuple[RunResult, ...] = ()
    new_runs: tuple[RunResult, ...] = ()

    @property
    def regression_percent(self) -> float:
        """Returns how much lower the new throughput is, in percent (negative if higher)."""
        return -self.change_percent


@dataclass(frozen=True)
class Shift:
    """How one configuration's latency distribution moved: base and new runs' histograms,
    each merged over its runs."""

    label: str
    threads: str
    base: Histogram
    new: Histogram


@dataclass(frozen=True)
class Comparison:
    """A base file against a new one: what differs between the files, the rows (throughput
    figures, then the latency percentiles where both have them), and the latency shifts."""

    base_path: str
    new_path: str
    differences: tuple[tuple[str, object, object], ...]
    rows: tuple[Row, ...]
    shifts: tuple[Shift, ...] = ()


def describe_value(field: str, value) -> str:
    """Returns a configuration value as a reader says it: no Python None."""
    if value is None:
        return {"first_cpu": "unpinned"}.get(field, "none")
    return str(value)


def _field_values(results: tuple[RunResult, ...], field: str) -> set:
    return {getattr(result.spec, field) for result in results}


def _usable(results: tuple[RunResult, ...]) -> tuple[RunResult, ...]:
    return tuple(result for result in results if result.measured and not result.interrupted)


def compare(base: ResultFile, new: ResultFile) -> Comparison:
    """Returns the comparison of new against base, one row per shared configuration and metric."""
    base_results, new_results = _usable(base.results), _usable(new.results)
    differences = []
    for field in CONFIG_FIELDS:
        base_values, new_values = _field_values(base_results, field), _field_values(new_results, field)
        if len(base_values) == 1 and len(new_values) == 1 and base_values != new_values:
            differences.append((field, describe_value(field, next(iter(base_values))),
                                describe_value(field, next(iter(new_values)))))
    ignored = {field for field, _, _ in differences}
    kept = [i for i, field in enumerate(CONFIG_FIELDS) if field not in ignored]

    def grouped(results):
        groups: dict[tuple, list[RunResult]] = {}
        for result in results:
            key = tuple(config_key(result.spec)[i] for i in kept)
            groups.setdefault(key, []).append(result)
        return groups

    base_groups, new_groups = grouped(base_results), grouped(new_results)
    rows = []
    shifts = []
    for figure in FIGURES + LATENCY_FIGURES:
        for key, base_runs in base_groups.items():
            new_runs = new_groups.get(key)
            if not new_runs:
                continue
            base_values = [figure.value(result) for result in base_runs]
            new_values = [figure.value(result) for result in new_runs]
            if None in base_values or None in new_values:
                continue  # a latency figure of runs without --latency
            base_summary, new_summary = stats.summarize(base_values), stats.summarize(new_values)
            _, p_value, _ = stats.mann_whitney_u(base_values, new_values)
            spec = new_runs[0].spec
            label = config_label(spec, with_threads=False, leave_out=ignored)
            base_threads = base_runs[0].spec.threads
            threads = str(spec.threads) if base_threads == spec.threads else f"{base_threads} -> {spec.threads}"
            rows.append(Row(
                label=label, threads=threads, metric=figure.key, base=base_summary, new=new_summary,
                change_percent=(new_summary.median / base_summary.median - 1) * 100,
                p_value=p_value, significant=p_value < stats.ALPHA,
                too_few=stats.smallest_p(len(base_values), len(new_values)) >= stats.ALPHA,
                base_runs=tuple(base_runs), new_runs=tuple(new_runs)))
            if figure is LATENCY_FIGURES[0]:
                shifts.append(Shift(label, threads, merged(run.latency for run in base_runs),
                                    merged(run.latency for run in new_runs)))
    return Comparison(base_path=base.path, new_path=new.path, differences=tuple(differences),
                      rows=tuple(rows), shifts=tuple(shifts))


def regressions(comparison: Comparison, threshold_percent: float) -> list[Row]:
    """Returns the rows whose throughput fell significantly by more than threshold_percent
    (latency rows, where higher is slower, are not throughput and are left out)."""
    throughput = {figure.key for figure in FIGURES}
    return [row for row in comparison.rows
            if row.metric in throughput and row.significant and row.regression_percent > threshold_percent]
