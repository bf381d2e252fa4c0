"""faultput's result file: its schema, writing it and reading it back, in one place.

The schema is documented in docs/result-format.md; SCHEMA_VERSION goes up on any
change a reader could notice. render() writes what load() reads, field for field.

Every field is checked once, here, where the format is read: a file that is not a
regular file, is too large, is not UTF-8 JSON, holds NaN or Infinity, a number out of
range, a value of the wrong kind or an unknown name, is refused with one line naming
the file and the field. Nothing past this module sees an unchecked value.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import stat
from dataclasses import dataclass

from . import __version__
from .errors import UsageError
from .latency import LAYOUT, BUCKETS, CLOCKS, Histogram, Latency, SlowFault
from .profile import EVENT, Profile
from .result import COUNTER_NAMES, LAST_WORKER_CLOCK, MAIN_THREAD_CLOCK, Iteration, RunResult, WorkerRound
from .spec import RunSpec

SCHEMA = "faultput.result"
SCHEMA_VERSION = 3
# Version 2 files (before --latency) read as results without latency.
READABLE_VERSIONS = (2, 3)

# A result file of a week-long sweep is a few megabytes; anything far larger is not one.
MAX_FILE_BYTES = 256 << 20
MAX_INT = (1 << 63) - 1
_HUGE_PAGE_POLICIES = ("off", "allow", "request", "hugetlb")
_TOUCHES = ("read", "write", "populate")


@dataclass(frozen=True)
class ResultFile:
    """A result file as read: its path, the whole document, and its results."""

    path: str
    document: dict
    results: tuple[RunResult, ...]

    @property
    def system(self) -> dict:
        """Returns the system facts recorded with the results."""
        return self.document["system"]


def document(results: list[RunResult], command_line: list[str]) -> dict:
    """Returns the result document for one invocation's results."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "faultput", "version": __version__},
        "command_line": command_line,
        "started_at": results[0].started_at if results else None,
        "ended_at": results[-1].ended_at if results else None,
        # The first run's facts, for a reader that wants one set; each result holds its own.
        "system": results[0].system if results else {},
        "results": [result_data(result) for result in results],
        "scaling": _scaling_data(results),
    }


def _scaling_data(results: list[RunResult]) -> list[dict]:
    """Returns the USL fit of every configuration swept over enough thread counts (none
    without scipy); derived from the results, stored for readers of the file."""
    from . import scaling

    return [{"configuration": label, "figure": "pages_per_wall_second", **fit.to_data(),
             "efficiency": {str(t): e for t, e in (wall or {}).items()},
             "cpu_efficiency": {str(t): e for t, e in (cpu or {}).items()}}
            for label, fit, wall, cpu in scaling.fits(results)]


def render(results: list[RunResult], command_line: list[str]) -> str:
    """Returns the result file's text."""
    return json.dumps(document(results, command_line), indent=2) + "\n"


def spec_data(spec: RunSpec) -> dict:
    """Returns a specification as the document holds it."""
    data = dataclasses.asdict(spec)
    data["worker_cpus"] = list(spec.worker_cpus) if spec.worker_cpus is not None else None
    data["memory_bytes"] = spec.memory_bytes
    return data


def result_data(result: RunResult) -> dict:
    """Returns one result as the document holds it (see docs/result-format.md)."""
    return {
        "spec": spec_data(result.spec),
        "tool_version": result.tool_version,
        "system": result.system,
        "repeat": result.repeat,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "interrupted": result.interrupted,
        "stopped_by": result.stopped_by,
        "error": result.error,
        "summary": {
            "iterations": len(result.measured),
            "warmup_iterations": len(result.iterations) - len(result.measured),
            "pages": result.pages,
            "wall_ns": result.wall_ns,
            "cpu_ns": result.cpu_ns,
            "workers_cpu_ns": result.workers_cpu_ns,
            "helper_cpu_ns": result.helper_cpu_ns,
            "writer_ops_per_second": result.writer_ops_per_second,
            "idle_share": result.idle_share,
            "pages_per_wall_second": result.pages_per_wall_second,
            "pages_per_cpu_second": result.pages_per_cpu_second,
            "minor_faults": result.minor_faults,
            "major_faults": result.major_faults,
            "faults_per_page": result.faults_per_page,
            "resident_pages_per_page": result.resident_pages_per_page,
            "observed_fault": result.observed_fault,
            **result.per_fault(),
        },
        "counter_status": result.counter_status,
        "cgroup": result.cgroup,
        "vmstat": result.vmstat,
        "memcg": result.memcg,
        "findings": list(result.findings),
        "page_cache_folios": (None if result.page_cache_folios is None else
                              {str(pages): count for pages, count in sorted(result.page_cache_folios.items())}),
        "latency": _latency_data(result),
        "profile": None if result.profile is None else {
            "event": result.profile.event,
            "frequency_hz": result.profile.frequency_hz,
            "samples": result.profile.samples,
            "symbols_note": result.profile.symbols_note,
            "stacks": [[stack, count] for stack, count in result.profile.stacks],
        },
        "iterations": [
            {
                "index": iteration.index,
                "warmup": iteration.warmup,
                "start_ns": iteration.start_ns,
                "end_ns": iteration.end_ns,
                "main_end_ns": iteration.main_end_ns,
                "wall_ns": iteration.wall_ns_by(result.spec.wall_clock),
                "resident_added_bytes": iteration.resident_added_bytes,
                "helper_cpu_ns": iteration.helper_cpu_ns,
                "writer_ops": iteration.writer_ops,
                "idle_ticks": iteration.idle_ticks,
                "cpu_ticks": iteration.cpu_ticks,
                "vmstat": iteration.vmstat,
                "memcg": iteration.memcg,
                "folio_counters": (None if iteration.folio_counters is None else
                                   {str(size): counters for size, counters in iteration.folio_counters.items()}),
                "workers": [
                    {
                        "cpu_ns": worker.cpu_ns,
                        "minor_faults": worker.minor_faults,
                        "major_faults": worker.major_faults,
                        "items": worker.items,
                        "pages": worker.pages,
                        "end_ns": worker.end_ns,
                        "counters": dict(zip(COUNTER_NAMES, worker.counters)),
                    }
                    for worker in iteration.workers
                ],
            }
            for iteration in result.iterations
        ],
    }


def _histogram_data(histogram: Histogram) -> dict:
    return {"samples": histogram.samples, "dropped": histogram.dropped, "sum_ns": histogram.sum_ns,
            "max_ns": histogram.max_ns, "counts": [list(pair) for pair in histogram.counts]}


def _latency_data(result: RunResult) -> dict | None:
    """Returns what --latency measured as the document holds it: the raw histograms with their
    layout (so that files merge exactly), and the figures derived from them for readers."""
    from .checks import latency_cross_check

    latency = result.latency
    if latency is None:
        return None
    raw = latency.histogram.percentiles()
    return {
        "every": latency.every,
        "chosen": latency.chosen,
        "auto_cost": latency.auto_cost,
        "clock": latency.clock,
        "clock_note": latency.clock_note,
        "ticks_per_second": latency.ticks_per_second,
        "calibration_spread": latency.calibration_spread,
        "sample_cost_ns": latency.sample_cost_ns,
        "layout": dict(LAYOUT),
        "histogram": _histogram_data(latency.histogram),
        "timer_floor": _histogram_data(latency.timer_floor),
        "mapped_floor": _histogram_data(latency.mapped_floor),
        "slowest": [dataclasses.asdict(fault) for fault in latency.slowest],
        "mean_ns": latency.histogram.mean_ns,
        "percentiles_ns": raw,
        "net_percentiles_ns": {label: latency.net(value) for label, value in raw.items()},
        "cross_check": latency_cross_check(result),
    }


def _histogram_from_data(data: dict) -> Histogram:
    return Histogram(counts=tuple((index, count) for index, count in data["counts"]), samples=data["samples"],
                     dropped=data["dropped"], sum_ns=data["sum_ns"], max_ns=data["max_ns"])


def _latency_from_data(data: dict | None) -> Latency | None:
    if data is None:
        return None
    return Latency(every=data["every"], chosen=data["chosen"], clock=data["clock"],
                   ticks_per_second=data["ticks_per_second"], calibration_spread=data["calibration_spread"],
                   histogram=_histogram_from_data(data["histogram"]),
                   slowest=tuple(SlowFault(**fault) for fault in data["slowest"]),
                   timer_floor=_histogram_from_data(data["timer_floor"]),
                   mapped_floor=_histogram_from_data(data["mapped_floor"]),
                   sample_cost_ns=data["sample_cost_ns"], auto_cost=data["auto_cost"],
                   clock_note=data["clock_note"])


def result_from_data(data: dict) -> RunResult:
    """Returns the RunResult that result_data() wrote, from a document check_document() passed."""
    spec_data = dict(data["spec"])
    spec_data.pop("memory_bytes", None)
    if spec_data.get("worker_cpus") is not None:
        spec_data["worker_cpus"] = tuple(spec_data["worker_cpus"])
    iterations = tuple(
        Iteration(index=it["index"], warmup=it["warmup"], start_ns=it["start_ns"], end_ns=it["end_ns"],
                  main_end_ns=it["main_end_ns"], resident_added_bytes=it["resident_added_bytes"],
                  helper_cpu_ns=it["helper_cpu_ns"], writer_ops=it["writer_ops"],
                  idle_ticks=it["idle_ticks"], cpu_ticks=it["cpu_ticks"],
                  vmstat=it.get("vmstat"), memcg=it.get("memcg"),
                  folio_counters=(None if it["folio_counters"] is None else
                                  {int(size): dict(counters) for size, counters in it["folio_counters"].items()}),
                  workers=tuple(_worker_from_data(worker) for worker in it["workers"]))
        for it in data["iterations"]
    )
    return RunResult(spec=RunSpec(**spec_data), tool_version=data["tool_version"], system=data["system"],
                     started_at=data["started_at"], ended_at=data["ended_at"], iterations=iterations,
                     interrupted=data["interrupted"], stopped_by=data["stopped_by"], error=data["error"],
                     repeat=data["repeat"],
                     observed_fault=data["summary"]["observed_fault"], findings=tuple(data["findings"]),
                     page_cache_folios=(None if data["page_cache_folios"] is None else
                                        {int(pages): count for pages, count in data["page_cache_folios"].items()}),
                     latency=_latency_from_data(data.get("latency")),
                     counter_status=data.get("counter_status"), cgroup=data.get("cgroup"),
                     profile=_profile_from_data(data.get("profile")))


def _profile_from_data(data: dict | None) -> Profile | None:
    if data is None:
        return None
    return Profile(event=data["event"], frequency_hz=data["frequency_hz"],
                   stacks=tuple((stack, count) for stack, count in data["stacks"]), symbols_note=data["symbols_note"])


def _worker_from_data(data: dict) -> WorkerRound:
    counters = data.get("counters") or {}
    return WorkerRound(**{key: value for key, value in data.items() if key != "counters"},
                       counters=tuple(counters.get(name, 0) for name in COUNTER_NAMES))


class _Malformed(Exception):
    """A field of the document is wrong: where, and what it must be."""

    def __init__(self, where: str, must: str, value):
        text = json.dumps(value) if _json_safe(value) else repr(value)
        if len(text) > 40:
            text = text[:37] + "..."
        super().__init__(f"{where} must be {must}, got {text}")


def _json_safe(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(data: dict, key: str, where: str, minimum: int = 0, maximum: int = MAX_INT,
         nullable: bool = False):
    value = _get(data, key, where)
    if value is None and nullable:
        return None
    if not _is_int(value) or not minimum <= value <= maximum:
        raise _Malformed(f"{where}.{key}", f"a whole number from {minimum:,} to {maximum:,}"
                         + (" or null" if nullable else ""), value)
    return value


def _float(data: dict, key: str, where: str, positive: bool = True):
    value = _get(data, key, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (positive and value <= 0):
        raise _Malformed(f"{where}.{key}", "a finite positive number" if positive else "a finite number", value)
    return value


def _str(data: dict, key: str, where: str, choices=None, nullable: bool = False):
    value = _get(data, key, where)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        must = f"one of {', '.join(choices)}" if choices is not None else "a string"
        raise _Malformed(f"{where}.{key}", must + (" or null" if nullable else ""), value)
    return value


def _bool(data: dict, key: str, where: str):
    value = _get(data, key, where)
    if not isinstance(value, bool):
        raise _Malformed(f"{where}.{key}", "true or false", value)
    return value


def _timestamp(data: dict, key: str, where: str, nullable: bool = False):
    value = _str(data, key, where, nullable=nullable)
    if value is not None:
        try:
            datetime.datetime.fromisoformat(value)
        except ValueError:
            raise _Malformed(f"{where}.{key}", "an ISO 8601 timestamp", value) from None
    return value


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Malformed(where, "an object", value)
    return value


def _list(data: dict, key: str, where: str, nullable: bool = False):
    value = _get(data, key, where)
    if value is None and nullable:
        return None
    if not isinstance(value, list):
        raise _Malformed(f"{where}.{key}", "a list" + (" or null" if nullable else ""), value)
    return value


def _get(data: dict, key: str, where: str):
    if key not in data:
        raise _Malformed(f"{where}.{key}", "present", None)
    return data[key]


def _check_histogram(data, where: str) -> None:
    _object(data, where)
    samples = _int(data, "samples", where)
    _int(data, "dropped", where)
    _int(data, "sum_ns", where)
    _int(data, "max_ns", where)
    counts = _list(data, "counts", where)
    previous, total = -1, 0
    for k, pair in enumerate(counts):
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_int(v) for v in pair)
                and previous < pair[0] < BUCKETS and 0 < pair[1] <= MAX_INT):
            raise _Malformed(f"{where}.counts[{k}]", f"[bucket index below {BUCKETS}, count], in rising bucket "
                             "order", pair)
        previous = pair[0]
        total += pair[1]
    if total != samples:
        raise _Malformed(f"{where}.samples", f"the sum of the counts ({total})", samples)


def _check_latency(data, where: str) -> None:
    _object(data, where)
    _int(data, "every", where, 1)
    _str(data, "chosen", where, ("given", "auto"))
    if _get(data, "auto_cost", where) is not None:
        _float(data, "auto_cost", where, positive=False)
    _str(data, "clock", where, tuple(CLOCKS.values()))
    _str(data, "clock_note", where, nullable=True)
    _float(data, "ticks_per_second", where)
    _float(data, "calibration_spread", where, positive=False)
    _float(data, "sample_cost_ns", where, positive=False)
    layout = _get(data, "layout", where)
    if layout != LAYOUT:
        raise _Malformed(f"{where}.layout", f"this faultput's bucket layout {json.dumps(LAYOUT)}", layout)
    for key in ("histogram", "timer_floor", "mapped_floor"):
        _check_histogram(_get(data, key, where), f"{where}.{key}")
    slowest = _list(data, "slowest", where)
    for k, fault in enumerate(slowest):
        at = f"{where}.slowest[{k}]"
        _object(fault, at)
        if set(fault) != {field.name for field in dataclasses.fields(SlowFault)}:
            raise _Malformed(at, "an object of " + ", ".join(f.name for f in dataclasses.fields(SlowFault)),
                             sorted(fault))
        _int(fault, "ns", at)
        _int(fault, "object_index", at)
        _int(fault, "offset_bytes", at)
        _int(fault, "iteration", at)
        _float(fault, "at_s", at, positive=False)
    # What readers take without recomputing must be what the histograms say.
    histogram = _histogram_from_data(data["histogram"])
    timer = _histogram_from_data(data["timer_floor"]).percentile(0.5) or 0
    raw = histogram.percentiles()
    for key, derived in (("mean_ns", histogram.mean_ns), ("percentiles_ns", raw),
                         ("net_percentiles_ns", {label: None if value is None else max(0, value - timer)
                                                 for label, value in raw.items()})):
        if _get(data, key, where) != derived or type(data[key]) is not type(derived):
            raise _Malformed(f"{where}.{key}", f"what the histogram gives ({json.dumps(derived)[:60]})", data[key])
    check = _get(data, "cross_check", where)
    if check is not None:
        at = f"{where}.cross_check"
        _object(check, at)
        _int(check, "sampled_ns", at)
        _int(check, "touch_cpu_ns", at, 1)
        _float(check, "ratio", at, positive=False)
        _bool(check, "holds", at)
        _str(check, "note", at, nullable=True)


def _check_deltas(value, where: str) -> None:
    """A {counter: how far it rose} object (event counters only rise), or null."""
    if value is not None and not (isinstance(value, dict) and all(
            isinstance(name, str) and _is_int(delta) and 0 < delta <= MAX_INT for name, delta in value.items())):
        raise _Malformed(where, "null or {counter: how far it rose}", value)


def _check_counter_status(value, where: str) -> None:
    if value is None:
        return
    _object(value, where)
    if set(value) != set(COUNTER_NAMES):
        raise _Malformed(where, "an object of " + ", ".join(COUNTER_NAMES), sorted(value))
    for name in COUNTER_NAMES:
        at = f"{where}.{name}"
        _object(value[name], at)
        counted = _bool(value[name], "counted", at)
        _bool(value[name], "user_only", at)
        _str(value[name], "rounds", at, ("warmup", "measured"))
        if _str(value[name], "why", at, nullable=True) is None and not counted:
            raise _Malformed(f"{at}.why", "why the counter was not counted", None)


def _check_profile(data, where: str) -> None:
    _object(data, where)
    _str(data, "event", where, (EVENT,))
    _int(data, "frequency_hz", where, 1, 1_000_000)
    samples = _int(data, "samples", where)
    _str(data, "symbols_note", where, nullable=True)
    total = 0
    for k, pair in enumerate(_list(data, "stacks", where)):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and pair[0]
                and "\n" not in pair[0] and _is_int(pair[1]) and 0 < pair[1] <= MAX_INT):
            raise _Malformed(f"{where}.stacks[{k}]", "[folded stack, samples]", pair)
        total += pair[1]
    if total != samples:
        raise _Malformed(f"{where}.samples", f"the sum of the stacks' samples ({total})", samples)


def _check_spec(spec: dict, where: str) -> None:
    from .faults import all_fault_types
    from .spec import MAX_THREADS, MODES, VARIANTS, WRITER_OPS

    _object(spec, where)
    _str(spec, "fault_type", where, tuple(all_fault_types()))
    _str(spec, "touch", where, _TOUCHES)
    _str(spec, "mode", where, MODES)
    _str(spec, "variant", where, VARIANTS)
    threads = _int(spec, "threads", where, 1, MAX_THREADS)
    _float(spec, "duration_s", where)
    _int(spec, "warmup_iterations", where)
    _bool(spec, "thp", where)
    _str(spec, "huge_pages", where, _HUGE_PAGE_POLICIES)
    page = _int(spec, "page_size_bytes", where, 512, 1 << 30)
    if page & (page - 1):
        raise _Malformed(f"{where}.page_size_bytes", "a power of two", page)
    size = _int(spec, "object_size_bytes", where, page, 1 << 50)
    if size % page:
        raise _Malformed(f"{where}.object_size_bytes", f"a multiple of the page size {page}", size)
    count = _int(spec, "object_count", where, 1, 1 << 32)
    if _int(spec, "memory_bytes", where, 1) != size * count:
        raise _Malformed(f"{where}.memory_bytes", "object_size_bytes x object_count", spec["memory_bytes"])
    _int(spec, "first_cpu", where, 0, 1 << 20, nullable=True)
    cpus = _list(spec, "worker_cpus", where, nullable=True)
    if cpus is not None and (len(cpus) != threads or not all(_is_int(c) and 0 <= c < 1 << 20 for c in cpus)):
        raise _Malformed(f"{where}.worker_cpus", f"null or {threads} CPU numbers", cpus)
    _str(spec, "directory", where, nullable=True)
    _str(spec, "wall_clock", where, (LAST_WORKER_CLOCK, MAIN_THREAD_CLOCK))
    _int(spec, "mmap_writers", where, 0, MAX_THREADS)
    _str(spec, "writer_op", where, WRITER_OPS)
    if "latency_every" in spec:
        _int(spec, "latency_every", where, 0, 1 << 40, nullable=True)
    for key in ("counters", "profile"):
        if key in spec:
            _bool(spec, key, where)
    folio = _int(spec, "folio_size_bytes", where, page, 1 << 40, nullable=True)
    if folio is not None and (folio & (folio - 1)):
        raise _Malformed(f"{where}.folio_size_bytes", "a power of two", folio)


def _check_result(data, where: str) -> None:
    _object(data, where)
    _check_spec(_get(data, "spec", where), f"{where}.spec")
    threads = data["spec"]["threads"]
    _int(data, "repeat", where)
    _timestamp(data, "started_at", where)
    _timestamp(data, "ended_at", where)
    _bool(data, "interrupted", where)
    _str(data, "stopped_by", where, nullable=True)
    _str(data, "error", where, nullable=True)
    _str(data, "tool_version", where)
    summary = _object(_get(data, "summary", where), f"{where}.summary")
    at = f"{where}.summary"
    for key in ("iterations", "warmup_iterations", "pages", "wall_ns", "cpu_ns", "workers_cpu_ns",
                "minor_faults", "major_faults"):
        _int(summary, key, at)
    _int(summary, "helper_cpu_ns", at, nullable=True)
    for key in ("pages_per_wall_second", "pages_per_cpu_second", "faults_per_page", "resident_pages_per_page",
                "writer_ops_per_second", "idle_share"):
        value = _get(summary, key, at)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise _Malformed(f"{at}.{key}", "a finite number or null", value)
    _str(summary, "observed_fault", at, nullable=True)
    for key in ("traps_per_page", "cycles_per_fault", "instructions_per_fault", "context_switches_per_1000_faults",
                "migrations_per_1000_faults"):
        if key in summary and summary[key] is not None:
            _float(summary, key, at, positive=False)
    _check_counter_status(data.get("counter_status"), f"{where}.counter_status")
    cgroup = data.get("cgroup")
    if cgroup is not None:
        _object(cgroup, f"{where}.cgroup")
        _str(cgroup, "path", f"{where}.cgroup")
        _int(cgroup, "other_processes", f"{where}.cgroup", nullable=True)
    for key in ("vmstat", "memcg"):
        _check_deltas(data.get(key), f"{where}.{key}")
    findings = _list(data, "findings", where)
    for k, finding in enumerate(findings):
        if not isinstance(finding, str):
            raise _Malformed(f"{where}.findings[{k}]", "a string", finding)
    folios = _get(data, "page_cache_folios", where)
    if folios is not None and not (isinstance(folios, dict) and all(
            key.isascii() and key.isdigit() and 0 < int(key) < 1 << 30 and _is_int(count) and 0 < count <= MAX_INT
            for key, count in folios.items())):
        raise _Malformed(f"{where}.page_cache_folios", "null or {pages per folio: folios}", folios)
    if data.get("latency") is not None:
        _check_latency(data["latency"], f"{where}.latency")
    if data.get("profile") is not None:
        _check_profile(data["profile"], f"{where}.profile")
    for i, iteration in enumerate(_list(data, "iterations", where)):
        at = f"{where}.iterations[{i}]"
        _object(iteration, at)
        _int(iteration, "index", at)
        _bool(iteration, "warmup", at)
        start = _int(iteration, "start_ns", at)
        _int(iteration, "end_ns", at, start)
        _int(iteration, "main_end_ns", at, start)
        _int(iteration, "wall_ns", at)
        _int(iteration, "resident_added_bytes", at, -MAX_INT, MAX_INT, nullable=True)
        _int(iteration, "helper_cpu_ns", at, nullable=True)
        _int(iteration, "writer_ops", at, nullable=True)
        _int(iteration, "idle_ticks", at, nullable=True)
        _int(iteration, "cpu_ticks", at, nullable=True)
        for key in ("vmstat", "memcg"):
            _check_deltas(iteration.get(key), f"{at}.{key}")
        counters = _get(iteration, "folio_counters", at)
        if counters is not None and not (isinstance(counters, dict) and all(
                isinstance(size, str) and size.isascii() and size.isdigit() and isinstance(moved, dict)
                and all(isinstance(name, str) and _is_int(delta) and abs(delta) <= MAX_INT
                        for name, delta in moved.items())
                for size, moved in counters.items())):
            raise _Malformed(f"{at}.folio_counters", "null or {folio size: {counter: change}}", counters)
        workers = _list(iteration, "workers", at)
        if len(workers) != threads:
            raise _Malformed(f"{at}.workers", f"a list of {threads} workers (spec.threads)", len(workers))
        for w, worker in enumerate(workers):
            worker_at = f"{at}.workers[{w}]"
            _object(worker, worker_at)
            for key in ("cpu_ns", "minor_faults", "major_faults", "items", "pages", "end_ns"):
                _int(worker, key, worker_at)
            if "counters" in worker:  # from version 3
                counted = worker["counters"]
                if not isinstance(counted, dict) or set(counted) != set(COUNTER_NAMES):
                    raise _Malformed(f"{worker_at}.counters", "an object of " + ", ".join(COUNTER_NAMES), counted)
                for name in COUNTER_NAMES:
                    _int(counted, name, f"{worker_at}.counters")


# The system facts that outputs compute with: their kinds. Other facts need only be plain values.
_INT_FACTS = ("online_cpus", "numa_nodes", "page_size_bytes", "huge_page_bytes", "memory_total_bytes",
              "memory_available_bytes", "cgroup_memory_headroom_bytes", "aslr")
_STRING_LIST_FACTS = ("cpu_governors",)
_INT_LIST_FACTS = ("allowed_cpus",)


def _check_system(system, where: str) -> None:
    _object(system, where)
    for key in _INT_FACTS:
        if key in system:
            _int(system, key, where, 0, nullable=True)
    for key, kind in [(key, str) for key in _STRING_LIST_FACTS] + [(key, int) for key in _INT_LIST_FACTS]:
        values = system.get(key)
        if key in system and values is not None and not (
                isinstance(values, list) and all(isinstance(v, kind) and not isinstance(v, bool) for v in values)):
            raise _Malformed(f"{where}.{key}", f"a list of {'strings' if kind is str else 'whole numbers'}", values)
    settings = system.get("thp_settings")
    if settings is not None and not (isinstance(settings, dict) and all(
            isinstance(name, str) and isinstance(word, str) for name, word in settings.items())):
        raise _Malformed(f"{where}.thp_settings", "an object of setting names and words", settings)
    for key, value in system.items():
        if key == "thp_settings":
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise _Malformed(f"{where}.{key}", "finite", item)
            if _is_int(item) and abs(item) > MAX_INT:
                raise _Malformed(f"{where}.{key}", "a number in range", item)
            if item is not None and not isinstance(item, (str, int, float, bool)):
                raise _Malformed(f"{where}.{key}", "a plain value or a list of them", item)


def check_document(document) -> None:
    """Raises _Malformed naming the first field of a result document that is wrong."""
    _object(document, "the document")
    tool = _object(_get(document, "tool", "document"), "tool")
    _str(tool, "name", "tool")
    _str(tool, "version", "tool")
    command_line = _list(document, "command_line", "document")
    if not all(isinstance(word, str) for word in command_line):
        raise _Malformed("command_line", "a list of strings", command_line)
    # Null only in a document of no results: there was nothing to time.
    empty = document.get("results") == []
    _timestamp(document, "started_at", "document", nullable=empty)
    _timestamp(document, "ended_at", "document", nullable=empty)
    _check_system(_get(document, "system", "document"), "system")
    scaling = document.get("scaling", [])
    if not isinstance(scaling, list) or not all(isinstance(item, dict) for item in scaling):
        raise _Malformed("scaling", "a list of fits", scaling)
    for i, result in enumerate(_list(document, "results", "document")):
        _check_result(result, f"results[{i}]")
        _check_system(_get(result, "system", f"results[{i}]"), f"results[{i}].system")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _read_bytes(path: str) -> bytes:
    """Returns the bytes of a regular file of at most MAX_FILE_BYTES; raises UsageError."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise UsageError(f"cannot read result file {path!r}: {error.strerror}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"result file {path!r} is not a regular file")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read result file {path!r}: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"result file {path!r} is larger than {MAX_FILE_BYTES >> 20} MiB: not a faultput result")
    return data


def load(path: str) -> ResultFile:
    """Reads a result file written by `faultput run --json`; raises UsageError saying what is wrong."""
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"result file {path!r} is not UTF-8 text (byte {error.start})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise UsageError(f"result file {path!r} is not JSON: {error.msg} at line {error.lineno}, "
                         f"column {error.colno}") from None
    except ValueError as error:
        raise UsageError(f"result file {path!r} is not valid JSON: {error}") from None
    except RecursionError:
        raise UsageError(f"result file {path!r} is nested too deeply to be a faultput result") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise UsageError(f"{path!r} is not a faultput result file (no schema {SCHEMA!r}); "
                         "write one with faultput run --json")
    version = document.get("schema_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise UsageError(f"result file {path!r} has schema version {json.dumps(version)[:20]}; this "
                         f"faultput reads versions {READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}")
    try:
        check_document(document)
    except _Malformed as error:
        raise UsageError(f"result file {path!r} is malformed: {error}") from None
    except RecursionError:
        raise UsageError(f"result file {path!r} is nested too deeply to be a faultput result") from None
    results = tuple(result_from_data(result) for result in document["results"])
    return ResultFile(path=path, document=document, results=results)
