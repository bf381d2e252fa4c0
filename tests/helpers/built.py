"""Results built by hand, for tests of what reads results (checks, outputs, compare)."""

from dataclasses import replace

from faultput.result import Iteration, RunResult, WorkerRound
from faultput.spec import make_spec


def result_of(fault_type="zero-fill", threads=1, wall_ns=1_000_000_000, cpu_ns_each=990_000_000,
              faults=None, iterations=1, folios=None, object_size_bytes=16 << 20, object_count=1,
              resident=None, helper_cpu_ns=None, repeat=0, system=None, **spec_changes):
    """Returns a RunResult of one configuration with every iteration alike."""
    spec = make_spec(variant="separate-objects", threads=threads, duration_s=1, oversubscribe=True,
                     object_size_bytes=object_size_bytes, memory_bytes=object_size_bytes * max(object_count, threads))
    spec = replace(spec, fault_type=fault_type, **spec_changes)
    pages = spec.pages_per_iteration
    faults = pages if faults is None else faults
    its = tuple(Iteration(index=i + 1, warmup=False, start_ns=0, end_ns=wall_ns, main_end_ns=wall_ns,
                          resident_added_bytes=resident, helper_cpu_ns=helper_cpu_ns,
                          workers=tuple(WorkerRound(cpu_ns_each, faults // threads, 0, 1, pages // threads, wall_ns)
                                        for _ in range(threads)))
                for i in range(iterations))
    return RunResult(spec=spec, tool_version="t", system=system or {}, started_at="2026-01-01T00:00:00",
                     ended_at="2026-01-01T00:00:01", iterations=its, page_cache_folios=folios, repeat=repeat)



