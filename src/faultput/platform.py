"""Every Linux-specific call faultput makes, in one place.

A port to another kernel (the seed's home is XNU) replaces this module: the
engine, the fault types and the outputs only call what is defined here and the
portable primitives of the native core.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import struct
import tempfile
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


_MTHP_PREFIX = "hugepages-"
# The per-size counters that say which folio sizes the kernel allocated on faults.
MTHP_COUNTERS = ("anon_fault_alloc", "anon_fault_fallback", "anon_fault_fallback_charge",
                 "shmem_alloc", "shmem_fallback", "shmem_fallback_charge")


def mthp_sizes() -> dict[int, Path]:
    """Returns {folio size in bytes: its sysfs directory} for every large folio size the kernel
    offers (Linux 6.8+: hugepages-16kB ... hugepages-2048kB), smallest first."""
    sizes = {}
    try:
        entries = list(SYS_THP.iterdir())
    except OSError:
        return {}
    for entry in entries:
        name = entry.name
        if name.startswith(_MTHP_PREFIX) and name.endswith("kB") and name[len(_MTHP_PREFIX):-2].isdigit():
            sizes[int(name[len(_MTHP_PREFIX):-2]) * 1024] = entry
    return dict(sorted(sizes.items()))


def thp_settings() -> dict[str, str]:
    """Returns every THP setting faultput may change or report, {path under
    /sys/kernel/mm/transparent_hugepage: selected word}: enabled, defrag, shmem_enabled and
    each size's enabled and shmem_enabled."""
    settings = {}
    names = ["enabled", "defrag", "shmem_enabled"]
    names += [f"{directory.name}/{leaf}" for directory in mthp_sizes().values()
              for leaf in ("enabled", "shmem_enabled")]
    for name in names:
        word = _bracketed_choice(SYS_THP / name)
        if word is not None:
            settings[name] = word
    return settings


def write_thp_setting(name: str, word: str) -> None:
    """Writes a THP setting (a path under /sys/kernel/mm/transparent_hugepage); raises OSError."""
    with open(SYS_THP / name, "w") as setting:
        setting.write(word)


def thp_settings_unchangeable_reason() -> str | None:
    """Returns why this process cannot change the THP settings, or None if it can."""
    if not SYS_THP.is_dir():
        return "this kernel has no transparent huge pages"
    if not mthp_sizes():
        return "this kernel offers no per-size large folio settings (mTHP, Linux 6.8 or newer)"
    if os.geteuid() != 0 or not os.access(SYS_THP / "enabled", os.W_OK):
        return "it changes /sys/kernel/mm/transparent_hugepage settings, which needs root"
    return None


def moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Returns how far each counter moved from before to after, those that moved only (a
    counter missing from either reading did not)."""
    return {name: value - before[name] for name, value in after.items() if name in before and value != before[name]}


def counter_deltas(before: dict[int, dict[str, int]], after: dict[int, dict[str, int]]) -> dict[int, dict[str, int]]:
    """Returns how far each folio size's counters moved from before to after, sizes that moved only."""
    deltas = {size: moved(before.get(size, {}), counters) for size, counters in after.items()}
    return {size: changes for size, changes in deltas.items() if changes}


def mthp_counters() -> dict[int, dict[str, int]]:
    """Returns {folio size in bytes: {counter: value}} of each size's fault counters."""
    counters = {}
    for size, directory in mthp_sizes().items():
        values = {}
        for name in MTHP_COUNTERS:
            value = _read_int(directory / "stats" / name)
            if value is not None:
                values[name] = value
        counters[size] = values
    return counters


def cpu_ticks(cpus) -> tuple[int, int]:
    """Returns (idle ticks, all ticks) summed over the given CPUs since boot, from /proc/stat
    (idle counts idle and iowait; all counts every state but guest time, which is in user)."""
    wanted = {f"cpu{cpu}" for cpu in cpus}
    idle = total = 0
    try:
        lines = (PROC / "stat").read_text().splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] in wanted:
            values = [int(value) for value in fields[1:9]]
            idle += values[3] + values[4]
            total += sum(values)
    return idle, total


# The perf_event counters each worker opens for itself: (name, perf type, config), in the
# native core's slot order. Software events work in any virtual machine; the hardware ones
# need a PMU the guest can use.
PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE = 0, 1
COUNTER_EVENTS = (
    ("traps", PERF_TYPE_SOFTWARE, 2),             # PERF_COUNT_SW_PAGE_FAULTS: faults that trapped
    ("context_switches", PERF_TYPE_SOFTWARE, 3),  # PERF_COUNT_SW_CONTEXT_SWITCHES
    ("migrations", PERF_TYPE_SOFTWARE, 4),        # PERF_COUNT_SW_CPU_MIGRATIONS
    ("cycles", PERF_TYPE_HARDWARE, 0),            # PERF_COUNT_HW_CPU_CYCLES
    ("instructions", PERF_TYPE_HARDWARE, 1),      # PERF_COUNT_HW_INSTRUCTIONS
)


# Counting traps puts perf's software event in every fault's path: it costs a zero page fault
# about 9% on this project's test machine (BENCHMARKS.md). So traps are counted in the warmup
# rounds only, and the measured rounds run without it.
WARMUP_ONLY_COUNTERS = ("traps",)
NO_WARMUP_WHY = "counted in warmup rounds only, since counting it slows every fault, and --warmup 0 left none"


def counter_events(warmup_rounds: int) -> list[tuple[int, int, int] | None]:
    """Returns the (perf type, config, rounds) of each counter in COUNTER_EVENTS, for
    Gate.open_counters: rounds is 0 for a counter counted in every round, else the number of
    warmup rounds that the counters of WARMUP_ONLY_COUNTERS count in (None, not opened, where
    there is no warmup round)."""
    events = []
    for name, kind, config in COUNTER_EVENTS:
        if name not in WARMUP_ONLY_COUNTERS:
            events.append((kind, config, 0))
        else:
            events.append((kind, config, warmup_rounds) if warmup_rounds else None)
    return events


def perf_event_paranoid() -> int | None:
    return _read_int(PROC / "sys" / "kernel" / "perf_event_paranoid")


def counter_refusal(name: str, error: int) -> str:
    """Returns why a counter could not be opened, in a few words, from the errno of its open."""
    if error in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV, errno.EINVAL):
        where = " in this virtual machine" if hypervisor() else ""
        return f"not supported here (no PMU{where})"
    if error in (errno.EACCES, errno.EPERM):
        return (f"not allowed (kernel.perf_event_paranoid = {perf_event_paranoid()}; "
                "run as root or lower it to count)")
    if error == errno.ENOSYS:
        return "not supported by this kernel (no perf_event_open)"
    return f"could not be opened: {os.strerror(error)}"


def counter_state(name: str, error: int, user_only: bool) -> dict:
    """Returns what a result records of one counter: {"counted", "user_only", "why"}, from the
    errno its open returned (0: opened; -1: never asked)."""
    if error == -1 and name in WARMUP_ONLY_COUNTERS:
        why = NO_WARMUP_WHY
    elif error == -1:
        why = "not opened (the workers ended before they opened it)"
    else:
        why = None if error == 0 else counter_refusal(name, error)
    return {"counted": error == 0, "user_only": bool(user_only), "why": why,
            "rounds": "warmup" if name in WARMUP_ONLY_COUNTERS else "measured"}


def counter_availability() -> dict[str, dict]:
    """Returns which counters a thread of this process can open, as counter_state says: opens
    each for the calling thread and closes it again."""
    gate = _core.Gate(1, 1)
    try:
        opened = gate.open_counters(0, counter_events(1))
    finally:
        gate.close_counters(0)
    return {name: counter_state(name, error, user_only)
            for (name, _, _), (error, user_only) in zip(COUNTER_EVENTS, opened)}


def profiling_facts() -> dict:
    """Returns what --profile would use here: the perf tool and its version, whether kernel
    symbols are visible, and why profiling cannot run where it cannot."""
    import subprocess

    tool = perf_tool()
    version = None
    if tool is not None:
        try:
            version = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            version = None
    hidden = kernel_symbols().hidden
    return {"perf_tool": tool, "perf_version": version, "refusal": profiling_refusal(),
            "kernel_symbols": kernel_symbols_hint() if hidden else "visible (/proc/kallsyms)"}


# /proc/vmstat counters of faults and of what faults cause, by prefix; the others are left out.
VMSTAT_PREFIXES = ("pgfault", "pgmajfault", "pgalloc_", "pgfree", "thp_", "compact_", "numa_", "pgscan", "pgsteal",
                   "workingset_", "pswp", "swap_ra", "zone_reclaim", "pgdemote", "pgpromote", "pgmigrate",
                   "pgrefill", "allocstall", "cow_ksm", "zswp", "ksm_")


# Of those, the ones that are sizes, not event counts: they can fall, and are left out.
GAUGES = frozenset({"workingset_nodes"})


def vmstat(mthp: dict[int, dict[str, int]] | None = None) -> dict[str, int]:
    """Returns the fault-related counters of /proc/vmstat (system-wide, since boot), and each
    large folio size's fault counters (hugepages-*/stats, mthp_counters(), or mthp where the
    caller read them already), named like 'mthp_64kB_anon_fault_alloc'."""
    counters = {f"mthp_{size >> 10}kB_{name}": value
                for size, values in (mthp_counters() if mthp is None else mthp).items()
                for name, value in values.items()}
    for line in (_read_text(PROC / "vmstat") or "").splitlines():
        name, _, value = line.partition(" ")
        if name.startswith(VMSTAT_PREFIXES) and name not in GAUGES and value.strip().isdigit():
            counters[name] = int(value)
    return counters


def own_cgroup() -> Path | None:
    """Returns the directory of this process's memory cgroup, the one whose memory.stat counts
    its faults: cgroup v2's (unified, or unified beside v1 controllers), else v1's memory
    controller's; None where neither has a memory.stat."""
    candidates = []
    for line in (_read_text(PROC / "self" / "cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2].lstrip("/")
        if parts[1] == "":
            candidates += [CGROUP_ROOT / path, CGROUP_ROOT / "unified" / path]
        elif "memory" in parts[1].split(","):
            candidates.append(CGROUP_ROOT / "memory" / path)
    return next((directory for directory in candidates if (directory / "memory.stat").is_file()), None)


# memory.stat's event counters (the rest are sizes of what is held now).
MEMCG_PREFIXES = ("pgfault", "pgmajfault", "thp_", "pgscan", "pgsteal", "workingset_", "pgactivate",
                  "pgdeactivate", "pglazyfree", "pgrefill", "zswp", "pgpromote", "pgdemote")


def cgroup_memory_stat(directory: Path | None) -> dict[str, int]:
    """Returns the event counters of a cgroup's memory.stat ({} where there is none)."""
    if directory is None:
        return {}
    counters = {}
    for line in (_read_text(directory / "memory.stat") or "").splitlines():
        name, _, value = line.partition(" ")
        if name.startswith(MEMCG_PREFIXES) and name not in GAUGES and value.strip().isdigit():
            counters[name] = int(value)
    return counters


def cgroup_processes(directory: Path | None) -> set[int] | None:
    """Returns the processes in a cgroup (cgroup.procs), or None where it cannot be read."""
    text = _read_text(directory / "cgroup.procs") if directory is not None else None
    if text is None:
        return None
    return {int(pid) for pid in text.split() if pid.isdigit()}


def perf_tool() -> str | None:
    """Returns the path of the kernel's perf tool, or None where it is not installed."""
    return shutil.which("perf")


def profiling_refusal() -> str | None:
    """Returns why --profile cannot run here, or None where it can."""
    if perf_tool() is None:
        return ("it needs the kernel's perf tool, which is not installed (apt-get install linux-perf, or "
                "linux-tools-$(uname -r) on Ubuntu)")
    paranoid = perf_event_paranoid()
    if os.geteuid() != 0 and paranoid is not None and paranoid > 1:
        return (f"sampling kernel stacks is not allowed (kernel.perf_event_paranoid = {paranoid}): run as root "
                "or sysctl kernel.perf_event_paranoid=1")
    return None


@dataclass(frozen=True)
class KernelSymbols:
    """/proc/kallsyms's text symbols, sorted by address, to name kernel addresses."""

    addresses: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def hidden(self) -> bool:
        """Whether the kernel hid its addresses (kptr_restrict): every one reads as 0."""
        return not self.addresses

    def name_of(self, address: int) -> str | None:
        """Returns the symbol whose range holds address, or None."""
        import bisect

        index = bisect.bisect_right(self.addresses, address) - 1
        return self.names[index] if index >= 0 else None


def kernel_symbols(path: Path = PROC / "kallsyms") -> KernelSymbols:
    """Reads the kernel's text symbols (types t and T) from kallsyms."""
    symbols = []
    for line in (_read_text(path) or "").splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] in ("t", "T", "w", "W"):
            try:
                address = int(fields[0], 16)
            except ValueError:
                continue
            if address:
                symbols.append((address, fields[2]))
    symbols.sort()
    return KernelSymbols(tuple(a for a, _ in symbols), tuple(n for _, n in symbols))


def kernel_symbols_hint() -> str:
    """Returns how to let perf and faultput see kernel symbols where they are hidden."""
    return (f"kernel symbols are hidden (kernel.kptr_restrict = {_read_int(PROC / 'sys' / 'kernel' / 'kptr_restrict')}):"
            " run as root with sysctl kernel.kptr_restrict=0 to name kernel functions")


class PerfRecorder:
    """The kernel's perf tool sampling call stacks (cpu-clock, so that it works in virtual
    machines) of the given threads or processes only, started disabled and enabled only
    while asked, through its control FIFOs. A context manager: on any exit the perf process
    is stopped and reaped and its directory removed.

    start() waits until perf answers; enable() and disable() return once perf acknowledged.
    finish() stops it and returns `perf script`'s text of the samples.
    """

    ACK_TIMEOUT_S = 10.0
    ACK_SLICE_S = 0.05
    STOP_TIMEOUT_S = 60.0

    def __init__(self, ids: list[int], processes: bool, frequency: int):
        self.ids = ids
        self.processes = processes
        self.frequency = frequency
        self.directory: Path | None = None
        self.process = None
        self.control = self.acknowledge = -1

    def __enter__(self) -> "PerfRecorder":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        import subprocess

        self.directory = Path(tempfile.mkdtemp(prefix="faultput-profile-"))
        control, acknowledge = self.directory / "control", self.directory / "ack"
        os.mkfifo(control, 0o600)
        os.mkfifo(acknowledge, 0o600)
        # Opened for reading and writing, neither end blocks for want of the other.
        self.control = os.open(control, os.O_RDWR | os.O_CLOEXEC)
        self.acknowledge = os.open(acknowledge, os.O_RDWR | os.O_CLOEXEC)
        target = ["-p" if self.processes else "-t", ",".join(str(i) for i in self.ids)]
        self.process = subprocess.Popen(
            [perf_tool() or "perf", "record", "-e", "cpu-clock", "-F", str(self.frequency), "-g", "-q",
             "--control", f"fifo:{control},{acknowledge}", "-D", "-1", "-o", str(self.directory / "perf.data"),
             *target],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            # Its own session: a Ctrl-C at the terminal is faultput's to handle, not perf's.
            start_new_session=True, preexec_fn=_core.die_with_parent)
        self._command("disable")

    def _command(self, word: str) -> None:
        import select

        os.write(self.control, f"{word}\n".encode())
        # In slices, so that a perf that ended (its targets gone) is noticed at once.
        for _ in range(int(self.ACK_TIMEOUT_S / self.ACK_SLICE_S)):
            ready, _, _ = select.select([self.acknowledge], [], [], self.ACK_SLICE_S)
            if ready or self.process.poll() is not None:
                break
        if not ready or self.process.poll() is not None:
            raise OSError(errno.EIO, f"perf did not answer {word!r}: {self._stderr()}")
        os.read(self.acknowledge, 64)

    def _stderr(self) -> str:
        if self.process is None or self.process.poll() is None:
            return "no answer"
        text = self.process.stderr.read().decode(errors="replace").strip().splitlines()
        return text[-1] if text else f"perf exited with status {self.process.returncode}"

    def enable(self) -> None:
        self._command("enable")

    def disable(self) -> None:
        self._command("disable")

    def finish(self) -> str:
        """Stops perf and returns `perf script`'s text: per sample a header line, then one
        line per frame, leaf first: address, symbol and object."""
        import subprocess

        self._stop()
        completed = subprocess.run([perf_tool() or "perf", "script", "-i", str(self.directory / "perf.data"),
                                    "-F", "tid,ip,sym,dso"], capture_output=True, text=True, errors="replace",
                                   timeout=self.STOP_TIMEOUT_S)
        if completed.returncode != 0:
            raise OSError(errno.EIO, f"perf script failed: {completed.stderr.strip()[-200:]}")
        return completed.stdout

    def _stop(self) -> None:
        import subprocess

        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(self.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        for descriptor in (self.control, self.acknowledge):
            if descriptor >= 0:
                os.close(descriptor)
        self.control = self.acknowledge = -1
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def use_zero_page() -> bool:
    """Returns whether reads of anonymous memory may map the huge zero page."""
    return _read_int(SYS_THP / "use_zero_page") == 1


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


def cgroup_memory_headroom() -> tuple[int, str] | None:
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
    cgroup = cgroup_memory_headroom()
    if cgroup is not None:
        candidates.append(cgroup)
    if not candidates:
        return None, "unknown"
    return min(candidates)


def memory_total_bytes() -> int | None:
    """Returns MemTotal in bytes."""
    return _meminfo_bytes("MemTotal")


def map_memory(size_bytes: int, *, shared: bool = False, writable: bool = True, fd: int = -1,
               offset: int = 0, huge_pages: str = "off", address: int | None = None) -> int:
    """Maps an object to fault in; returns its address. Raises OSError if mmap fails.

    address, if given, is where the mapping must go (MAP_FIXED), inside a region
    made by reserve_address_space.
    fd -1 maps anonymous memory, private or shared; otherwise that file from offset.
    huge_pages: "off" gives the mapping MADV_NOHUGEPAGE, so one fault maps one base
    page even where THP is `always`; "allow" leaves THP to the system, asking with
    MADV_HUGEPAGE where THP is in `madvise` mode (where merely allowing them would
    change nothing); "request" always asks with MADV_HUGEPAGE; "hugetlb" maps
    MAP_HUGETLB memory from the reserved pool.
    """
    prot = _core.PROT_READ | (_core.PROT_WRITE if writable else 0)
    flags = _core.MAP_SHARED if shared else _core.MAP_PRIVATE
    if fd < 0:
        flags |= _core.MAP_ANONYMOUS
    if huge_pages == "hugetlb":
        flags |= _core.MAP_HUGETLB
    if address is not None:
        flags |= _core.MAP_FIXED
    address = _core.mmap(size_bytes, prot, flags, fd, offset, address or 0)
    try:
        _set_thp_policy(address, size_bytes, huge_pages)
    except BaseException:
        _core.munmap(address, size_bytes)
        raise
    return address


def _set_thp_policy(address: int, size_bytes: int, huge_pages: str) -> None:
    """Applies a huge_pages policy of map_memory to a mapping."""
    if huge_pages == "off":
        advice = getattr(_core, "MADV_NOHUGEPAGE", None)
    elif huge_pages == "request" or (huge_pages == "allow" and thp_enabled() == "madvise"):
        advice = getattr(_core, "MADV_HUGEPAGE", None)
    else:
        advice = None
    if advice is None:
        return
    try:
        _core.madvise(address, size_bytes, advice)
    except OSError as error:
        # EINVAL: a kernel built without THP, where there is nothing to disable.
        if error.errno != errno.EINVAL:
            raise


def unmap(address: int, size_bytes: int) -> None:
    """Unmaps a mapping made by map_memory."""
    _core.munmap(address, size_bytes)


def reserve_address_space(size_bytes: int, alignment_bytes: int) -> int:
    """Reserves (PROT_NONE, no memory) size_bytes of address space aligned to alignment_bytes;
    returns its start. Forked children inherit it, so each can map there at the same address."""
    span = size_bytes + alignment_bytes
    start = _core.mmap(span, 0, _core.MAP_PRIVATE | _core.MAP_ANONYMOUS | _core.MAP_NORESERVE)
    aligned = -(-start // alignment_bytes) * alignment_bytes
    if aligned > start:
        _core.munmap(start, aligned - start)
    tail = start + span - (aligned + size_bytes)
    if tail:
        _core.munmap(aligned + size_bytes, tail)
    return aligned


def re_reserve(address: int, size_bytes: int) -> None:
    """Puts the reservation back over an object unmapped from a reserved region."""
    _core.mmap(size_bytes, 0, _core.MAP_PRIVATE | _core.MAP_ANONYMOUS | _core.MAP_NORESERVE | _core.MAP_FIXED,
               -1, 0, address)


def open_process_descriptor(pid: int) -> int:
    """Returns a pidfd for a child: it becomes readable when the child ends (Linux 5.3+)."""
    return os.pidfd_open(pid)


def die_with_parent() -> None:
    """Makes this (forked) process receive SIGKILL if the process that forked it dies."""
    _core.die_with_parent()


def advise_random(address: int, size_bytes: int) -> None:
    """Turns off readahead for a file mapping (MADV_RANDOM): each fault reads its own page."""
    _core.madvise(address, size_bytes, _core.MADV_RANDOM)


def drop_cached_pages(fd: int) -> None:
    """Drops a file's clean pages from the page cache (POSIX_FADV_DONTNEED)."""
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def create_data_file(path: Path, size_bytes: int) -> int:
    """Creates path (mode 0600, never an existing file) holding size_bytes of real data,
    written and fsynced so that it is on disk and in the page cache; returns an open
    read-write descriptor."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        chunk = bytes(range(256)) * 4096
        written = 0
        while written < size_bytes:
            written += os.write(fd, chunk[: min(len(chunk), size_bytes - written)])
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


PRIVATE_DIRECTORY_PREFIX = "faultput-"
# Written in each private directory: the pid and start time of the faultput that made it,
# so that a later faultput can tell a directory whose owner was killed from one in use.
OWNER_FILE = ".faultput-owner"


def process_alive(pid: int) -> bool:
    """Returns whether a process with this pid exists (a zombie counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start_ticks(pid: int) -> str | None:
    """Returns a process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()[19]


def private_directory(parent: str | None) -> Path:
    """Creates a new directory only this user can enter (mode 0700), marked with its owner
    process; returns its path."""
    path = Path(tempfile.mkdtemp(prefix=PRIVATE_DIRECTORY_PREFIX, dir=parent))
    try:
        (path / OWNER_FILE).write_text(f"{os.getpid()} {_process_start_ticks(os.getpid())}\n")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def remove_stale_private_directories(parents: list[str | None] | None = None) -> list[Path]:
    """Removes the private directories, under the system temporary directory (and parents),
    whose owner process is gone (a faultput killed by SIGKILL); returns those removed. Only
    directories faultput made, with an owner file naming a process that no longer runs."""
    removed = []
    places = {os.path.realpath(place or tempfile.gettempdir()) for place in (parents or [None])}
    for place in sorted(places):
        try:
            entries = list(Path(place).iterdir())
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(PRIVATE_DIRECTORY_PREFIX) or entry.is_symlink() or not entry.is_dir():
                continue
            try:
                if entry.stat().st_uid != os.getuid():
                    continue
                pid_text, _, ticks = (entry / OWNER_FILE).read_text().strip().partition(" ")
                pid = int(pid_text)
            except (OSError, ValueError):
                continue
            if _process_start_ticks(pid) == ticks:
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def remove_directory(path: Path) -> None:
    """Removes a directory made by private_directory, with everything in it."""
    shutil.rmtree(path, ignore_errors=True)


def free_disk_bytes(path: str) -> int:
    """Returns the bytes an unprivileged user may still write under path."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


# Filesystems that keep file pages in memory only: no major fault can come from them.
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs", "hugetlbfs"})


def filesystem_type(path: str) -> str | None:
    """Returns the type of the filesystem holding path (from /proc/self/mountinfo)."""
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    try:
        lines = (PROC / "self" / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        try:
            separator = fields.index("-")
        except ValueError:
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) >= best[0]):
            best = (len(mount_point), fields[separator + 1])
    return best[1] if best else None


# Filesystems whose mapped file pages the kernel counts as shmem (RssShmem), not RssFile.
SHMEM_FILESYSTEMS = frozenset({"tmpfs"})

_KPF_COMPOUND_TAIL = 1 << 16
_PAGEMAP_PRESENT = 1 << 63
_PAGEMAP_PFN_MASK = (1 << 55) - 1


def page_cache_folios(fd: int, size_bytes: int, chunk_bytes: int) -> dict[int, int] | None:
    """Returns how the page cache holds a file, {pages per folio: folios}, read from
    /proc/self/pagemap and /proc/kpageflags after mapping and reading it chunk by chunk;
    None where the page frame numbers are hidden (they need CAP_SYS_ADMIN)."""
    page = page_size_bytes()
    folios: dict[int, int] = {}
    try:
        pagemap = open(PROC / "self" / "pagemap", "rb", buffering=0)
        kpageflags = open(PROC / "kpageflags", "rb", buffering=0)
    except OSError:
        return None
    current = 0
    try:
        with pagemap, kpageflags:
            for offset in range(0, size_bytes, chunk_bytes):
                length = min(chunk_bytes, size_bytes - offset)
                address = map_memory(length, shared=True, writable=False, fd=fd, offset=offset, huge_pages="allow")
                try:
                    _core.touch(address, length, page, _core.TOUCH_READ)
                    entries = os.pread(pagemap.fileno(), 8 * (length // page), 8 * (address // page))
                finally:
                    unmap(address, length)
                for (entry,) in struct.iter_unpack("Q", entries):
                    pfn = entry & _PAGEMAP_PFN_MASK
                    if not entry & _PAGEMAP_PRESENT or pfn == 0:
                        return None
                    (flags,) = struct.unpack("Q", os.pread(kpageflags.fileno(), 8, 8 * pfn))
                    if flags & _KPF_COMPOUND_TAIL and current:
                        current += 1
                        continue
                    if current:
                        folios[current] = folios.get(current, 0) + 1
                    current = 1
    except OSError:
        return None
    if current:
        folios[current] = folios.get(current, 0) + 1
    return folios


def fault_around_bytes() -> int:
    """Returns how much a read fault on a cached file page maps around it (default 64 KiB)."""
    try:
        return int(Path("/sys/kernel/debug/fault_around_bytes").read_text())
    except (OSError, ValueError):
        return 65536


def hugetlb_page_bytes() -> int | None:
    """Returns the default hugetlb page size in bytes, or None without hugetlb."""
    return _meminfo_bytes("Hugepagesize")


def _meminfo_count(field: str) -> int:
    """Returns a /proc/meminfo count (no unit), or 0 if absent."""
    try:
        for line in (PROC / "meminfo").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def hugetlb_free_pages() -> int:
    """Returns the reserved hugetlb pages that are free."""
    return _meminfo_count("HugePages_Free")


def hugetlb_total_pages() -> int:
    """Returns the hugetlb pages reserved in all (vm.nr_hugepages)."""
    return _meminfo_count("HugePages_Total")


def max_map_count() -> int | None:
    """Returns vm.max_map_count, the most mappings one process may hold."""
    return _read_int(PROC / "sys" / "vm" / "max_map_count")


def mapping_count() -> int:
    """Returns how many mappings this process holds now."""
    try:
        with open(PROC / "self" / "maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return 0


def userfaultfd_unavailable_reason() -> str | None:
    """Returns why this process cannot use userfaultfd, or None if it can."""
    try:
        _core.Uffd(True).close()
    except OSError as error:
        if error.errno == errno.ENOSYS:
            return "this kernel was built without userfaultfd"
        if error.errno == errno.EPERM:
            try:
                setting = (PROC / "sys" / "vm" / "unprivileged_userfaultfd").read_text().strip()
            except OSError:
                setting = "unknown"
            return (f"userfaultfd is not permitted here (vm.unprivileged_userfaultfd is {setting}, "
                    "and this process lacks CAP_SYS_PTRACE, or a seccomp policy forbids it)")
        return f"userfaultfd failed: {error.strerror}"
    return None


def populate_unavailable_reason() -> str | None:
    """Returns why MADV_POPULATE_WRITE cannot be used here, or None if it can."""
    size = page_size_bytes()
    address = map_memory(size)
    try:
        _core.madvise(address, size, _core.MADV_POPULATE_WRITE)
    except OSError as error:
        return f"MADV_POPULATE_WRITE is not supported (Linux 5.14 or newer needed): {error.strerror}"
    finally:
        unmap(address, size)
    return None


def kill_and_reap(pid: int) -> None:
    """Kills a child with SIGKILL and waits for it, so that nothing is left running."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            return
        except InterruptedError:
            continue


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


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_model() -> str | None:
    """Returns the CPU model name from /proc/cpuinfo."""
    for line in (_read_text(PROC / "cpuinfo") or "").splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "Model", "cpu model"):
            return value.strip()
    return None


def cpu_flags() -> set[str]:
    """Returns the CPU feature flags /proc/cpuinfo lists (x86's "flags", arm64's "Features")."""
    for line in (_read_text(PROC / "cpuinfo") or "").splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def latency_clock() -> tuple[int, str | None]:
    """Returns the counter --latency times touches with, as the native core numbers it, and
    why not a cycle counter where it falls back to CLOCK_MONOTONIC_RAW (None where it does not):
    the TSC where it is invariant (constant_tsc and nonstop_tsc), arm64's virtual counter."""
    machine = os.uname().machine
    if machine == "x86_64" and _core.clock_available(_core.LAT_CLOCK_TSC):
        missing = {"constant_tsc", "nonstop_tsc", "rdtscp"} - cpu_flags()
        if not missing:
            return _core.LAT_CLOCK_TSC, None
        return _core.LAT_CLOCK_MONOTONIC, (f"the TSC is not invariant or not readable with rdtscp here (no "
                                           f"{', '.join(sorted(missing))}): timed with CLOCK_MONOTONIC_RAW")
    if machine == "aarch64" and _core.clock_available(_core.LAT_CLOCK_CNTVCT):
        return _core.LAT_CLOCK_CNTVCT, None
    return _core.LAT_CLOCK_MONOTONIC, f"no cycle counter is read on {machine}: timed with CLOCK_MONOTONIC_RAW"


def hypervisor() -> str | None:
    """Returns the hypervisor this machine runs under ("KVM", "Xen"...), "unknown" if one is
    flagged but not named ("yes (type not exposed)"), or None on bare metal."""
    flagged = "hypervisor" in cpu_flags()
    named = _read_text(Path("/sys/hypervisor/type"))
    vendor = _read_text(Path("/sys/class/dmi/id/sys_vendor")) or ""
    product = _read_text(Path("/sys/class/dmi/id/product_name")) or ""
    for known in ("KVM", "QEMU", "VMware", "Xen", "Microsoft", "Amazon EC2", "Google", "Firecracker"):
        if known.lower() in f"{vendor} {product}".lower():
            return known
    if named:
        return named
    return "yes (type not exposed)" if flagged else None


def numa_nodes() -> int:
    """Returns the number of NUMA nodes (1 where the kernel shows none)."""
    nodes = Path("/sys/devices/system/node")
    try:
        return max(1, sum(1 for entry in nodes.iterdir() if entry.name[4:].isdigit() and entry.name.startswith("node")))
    except OSError:
        return 1


def cpu_governors() -> list[str]:
    """Returns the distinct CPU frequency governors in use (empty where there is no cpufreq)."""
    governors = set()
    for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"):
        governor = _read_text(path)
        if governor:
            governors.add(governor)
    return sorted(governors)


def aslr() -> int | None:
    """Returns kernel.randomize_va_space (0 off, 1 partial, 2 full)."""
    value = _read_text(PROC / "sys" / "kernel" / "randomize_va_space")
    return int(value) if value and value.isdigit() else None


def system_facts() -> dict:
    """Returns the facts about this machine that every result carries, all readable without root."""
    import platform as python_platform

    from . import __version__

    available, available_source = memory_available()
    cgroup = cgroup_memory_headroom()
    return {
        "os": "Linux",
        "kernel_release": kernel_release(),
        "kernel_version": os.uname().version,
        "machine": os.uname().machine,
        "cpu_model": cpu_model(),
        "hypervisor": hypervisor(),
        "online_cpus": online_cpus(),
        "allowed_cpus": sorted(allowed_cpus()),
        "numa_nodes": numa_nodes(),
        "cpu_governors": cpu_governors(),
        "page_size_bytes": page_size_bytes(),
        "huge_page_bytes": huge_page_bytes(),
        "thp_enabled": thp_enabled(),
        "thp_defrag": thp_defrag(),
        "thp_settings": thp_settings(),
        "memory_total_bytes": memory_total_bytes(),
        "memory_available_bytes": available,
        "memory_available_source": available_source,
        "cgroup_memory_headroom_bytes": cgroup[0] if cgroup else None,
        "cgroup": cgroup[1] if cgroup else None,
        "aslr": aslr(),
        "python": python_platform.python_version(),
        "faultput_version": __version__,
    }
