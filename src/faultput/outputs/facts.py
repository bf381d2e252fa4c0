"""The system facts of a result, and the warnings about them, as text."""

from __future__ import annotations

from ..checks import system_warnings
from ..spec import format_bytes

_LABELS = {
    "faultput_version": "faultput",
    "kernel_release": "kernel",
    "cpu_model": "CPU model",
    "hypervisor": "hypervisor",
    "online_cpus": "online CPUs",
    "allowed_cpus": "allowed CPUs",
    "numa_nodes": "NUMA nodes",
    "cpu_governors": "CPU governor",
    "page_size_bytes": "page size",
    "huge_page_bytes": "huge page size",
    "thp_enabled": "THP enabled",
    "thp_defrag": "THP defrag",
    "thp_settings": "THP sizes allowed",
    "memory_total_bytes": "memory total",
    "memory_available_bytes": "memory available",
    "cgroup_memory_headroom_bytes": "cgroup memory headroom",
    "aslr": "ASLR (randomize_va_space)",
    "python": "Python",
    "machine": "architecture",
}


def fact_rows(facts: dict) -> list[tuple[str, str]]:
    """Returns (label, value) for each fact, sizes in binary units and absent ones as 'none'."""
    rows = []
    for key, label in _LABELS.items():
        value = facts.get(key)
        if value is None or value == []:
            text = "none"
        elif key.endswith("_bytes"):
            text = format_bytes(value)
        elif isinstance(value, dict):
            allowed = [f"{name.split('/')[0].replace('hugepages-', '')} {name.split('/')[-1]}={word}"
                       for name, word in value.items() if "/" in name and word != "never"]
            text = ", ".join(allowed) or "every size never"
        elif isinstance(value, list):
            text = ", ".join(str(item) for item in value)
        else:
            text = str(value)
        rows.append((label, text))
    return rows


def facts_text(facts: dict) -> str:
    """Returns the facts as aligned lines, then a warning line for each that disturbs measurements."""
    lines = [f"  {label:<26} {value}" for label, value in fact_rows(facts)]
    lines += [f"warning: {warning}" for warning in system_warnings(facts)]
    return "\n".join(lines) + "\n"


def measurement_text(counters: dict[str, dict], profiling: dict) -> str:
    """Returns which perf_event counters and which profiling this machine allows, and why not
    where not (faultput info)."""
    lines = ["what faultput can count and profile here"]
    for name, state in counters.items():
        if state["counted"]:
            text = "counted" + (" (user time only: counting the kernel is not allowed)" if state["user_only"] else "")
        else:
            text = state["why"]
        lines.append(f"  {name.replace('_', ' '):<26} {text}")
    if profiling["refusal"]:
        lines.append(f"  {'--profile':<26} cannot run: {profiling['refusal']}")
    else:
        lines.append(f"  {'--profile':<26} {profiling['perf_version'] or 'perf'} ({profiling['perf_tool']}), "
                     "cpu-clock samples")
    lines.append(f"  {'kernel symbols':<26} {profiling['kernel_symbols']}")
    return "\n".join(lines) + "\n"
