"""Every Linux-specific call faultput makes, in one place.

A port to another kernel (the seed's home is XNU) replaces this module: the
engine, the fault types and the outputs only call what is defined here and the
portable primitives of the native core.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import _core

PROC = Path("/proc")
SYS_THP = Path("/sys/kernel/mm/transparent_hugepage")
CGROUP_ROOT = Path("/sys/fs/cgroup")

# Where one PMD-sized transparent huge page maps this many base pages (x86-64, arm64 4K).
DEFAULT_HUGE_PAGE_BYTES = 2 * 1024 * 1024


def page_size_bytes() -> int:
    """Returns the base page size in bytes (the seed's vm.pagesize)."""
    return os.sysconf("SC_PAGESIZE")


def online_cpus() -> int:
    """Returns the number of online CPUs (the seed's hw.ncpu)."""
    return os.sysconf("SC_NPROCESSORS_ONLN")


def allowed_cpus() -> frozenset[int]:
    """Returns the CPUs this process may run on (its affinity mask)."""
    return frozenset(os.sched_getaffinity(0))


def kernel_release() -> str:
    """Returns the running kernel's release string."""
    return os.uname().release


def _bracketed_choice(path: Path) -> str | None:
    """Returns the [selected] word of a sysfs choice file, or None if unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return text.strip() or None


def thp_enabled() -> str | None:
    """Returns the transparent huge page mode (always, madvise, never), or None without THP."""
    return _bracketed_choice(SYS_THP / "enabled")


def thp_defrag() -> str | None:
    """Returns the transparent huge page defrag mode, or None without THP."""
    return _bracketed_choice(SYS_THP / "defrag")


def huge_page_bytes() -> int:
    """Returns the PMD huge page size in bytes."""
    try:
        return int((SYS_THP / "hpage_pmd_size").read_text())
    except (OSError, ValueError):
        return DEFAULT_HUGE_PAGE_BYTES


def _meminfo_bytes(field: str) -> int | None:
    """Returns a /proc/meminfo field in bytes, or None if absent."""
    try:
        for line in (PROC / "meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == field:
                return int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _cgroup_headroom_bytes() -> tuple[int, str] | None:
    """Returns (bytes left under the tightest cgroup memory limit, its path), or None."""
    try:
        lines = (PROC / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None
    tightest: tuple[int, str] | None = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            directory = CGROUP_ROOT / path.lstrip("/")
            limit_name, usage_name = "memory.max", "memory.current"
            top = CGROUP_ROOT
        elif "memory" in controllers.split(","):
            directory = CGROUP_ROOT / "memory" / path.lstrip("/")
            limit_name, usage_name = "memory.limit_in_bytes", "memory.usage_in_bytes"
            top = CGROUP_ROOT / "memory"
        else:
            continue
        while True:
            limit = _read_int(directory / limit_name)
            usage = _read_int(directory / usage_name)
            # cgroup v1 reports "no limit" as a huge number.
            if limit is not None and limit < (1 << 60):
                headroom = max(0, limit - (usage or 0))
                if tightest is None or headroom < tightest[0]:
                    tightest = (headroom, f"cgroup {directory}")
            if directory == top or directory == directory.parent:
                break
            directory = directory.parent
    return tightest


def memory_available() -> tuple[int | None, str]:
    """Returns (bytes this process can still allocate, where that figure came from).

    The figure is the smaller of MemAvailable and the headroom under any cgroup
    memory limit; None when neither can be read.
    """
    candidates: list[tuple[int, str]] = []
    available = _meminfo_bytes("MemAvailable")
    if available is not None:
        candidates.append((available, "MemAvailable"))
    cgroup = _cgroup_headroom_bytes()
    if cgroup is not None:
        candidates.append(cgroup)
    if not candidates:
        return None, "unknown"
    return min(candidates)


def memory_total_bytes() -> int | None:
    """Returns MemTotal in bytes."""
    return _meminfo_bytes("MemTotal")


def map_anonymous(size_bytes: int, allow_thp: bool) -> int:
    """Maps private anonymous memory; returns its address.

    Without allow_thp the mapping gets MADV_NOHUGEPAGE, so one fault maps one base
    page even where THP is `always`. With allow_thp, where THP is in `madvise`
    mode the mapping asks for huge pages with MADV_HUGEPAGE, since in that mode
    merely allowing them would change nothing. Raises OSError if mmap fails.
    """
    address = _core.mmap(size_bytes, _core.PROT_READ | _core.PROT_WRITE,
                         _core.MAP_PRIVATE | _core.MAP_ANONYMOUS)
    try:
        set_thp_policy(address, size_bytes, allow_thp)
    except BaseException:
        _core.munmap(address, size_bytes)
        raise
    return address


def set_thp_policy(address: int, size_bytes: int, allow_thp: bool) -> None:
    """Applies faultput's THP policy to a mapping (see map_anonymous)."""
    if not allow_thp:
        advice = getattr(_core, "MADV_NOHUGEPAGE", None)
    elif thp_enabled() == "madvise":
        advice = getattr(_core, "MADV_HUGEPAGE", None)
    else:
        advice = None
    if advice is None:
        return
    try:
        _core.madvise(address, size_bytes, advice)
    except OSError as error:
        # EINVAL: a kernel built without THP, where there is nothing to disable.
        if error.errno != 22:
            raise


def unmap(address: int, size_bytes: int) -> None:
    """Unmaps a mapping made by map_anonymous."""
    _core.munmap(address, size_bytes)


def pin_current_thread(cpu: int) -> None:
    """Binds the calling thread to one CPU (the seed's kern.sched_thread_bind_cpu)."""
    os.sched_setaffinity(0, {cpu})


@dataclass(frozen=True)
class ResidentBytes:
    """This process's resident memory by kind, from /proc/self/status."""

    anonymous: int
    file: int
    shmem: int


def resident_bytes() -> ResidentBytes:
    """Returns this process's resident anonymous, file and shmem bytes."""
    values = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0}
    try:
        for line in (PROC / "self" / "status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in values:
                values[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return ResidentBytes(values["RssAnon"], values["RssFile"], values["RssShmem"])


def system_facts() -> dict:
    """Returns the facts about this machine that every result carries."""
    available, available_source = memory_available()
    return {
        "os": "Linux",
        "kernel_release": kernel_release(),
        "machine": os.uname().machine,
        "online_cpus": online_cpus(),
        "allowed_cpus": sorted(allowed_cpus()),
        "page_size_bytes": page_size_bytes(),
        "huge_page_bytes": huge_page_bytes(),
        "thp_enabled": thp_enabled(),
        "thp_defrag": thp_defrag(),
        "memory_total_bytes": memory_total_bytes(),
        "memory_available_bytes": available,
        "memory_available_source": available_source,
    }
