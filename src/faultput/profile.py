"""Where a fault's time goes (--profile): call stacks sampled in the timed rounds, folded.

Plain data and pure functions: the engine drives the kernel's perf tool (platform.PerfRecorder)
around the measured rounds only and on the workers only, and hands its `perf script` text to
parse(); the outputs read the Profile. Stacks are kept folded (root first, frames joined by
';', kernel frames marked '_[k]' as stackcollapse-perf.pl marks them), the format flame
graph tools read.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

KERNEL_MARK = "_[k]"
# x86-64 and arm64 kernels live in the top half of the address space.
KERNEL_SPACE = 0xFFFF_8000_0000_0000
EVENT = "cpu-clock"
FREQUENCY_HZ = 4999


@dataclass(frozen=True)
class Function:
    """One function's share of the samples: as the leaf (self) and anywhere in the stack (total)."""

    name: str
    kernel: bool
    self_share: float
    total_share: float


@dataclass(frozen=True)
class Profile:
    """The folded stacks of one run's measured rounds: (stack, samples), most samples first.

    symbols_note says why kernel frames are unnamed, where they are.
    """

    event: str
    frequency_hz: int
    stacks: tuple[tuple[str, int], ...]
    symbols_note: str | None = None

    @property
    def samples(self) -> int:
        return sum(count for _, count in self.stacks)

    @classmethod
    def merge(cls, profiles) -> "Profile | None":
        """Returns the profiles' stacks added together (the repeats of one configuration), or None."""
        profiles = [profile for profile in profiles if profile is not None]
        if not profiles:
            return None
        stacks: Counter = Counter()
        for profile in profiles:
            for stack, count in profile.stacks:
                stacks[stack] += count
        return cls(event=profiles[0].event, frequency_hz=profiles[0].frequency_hz,
                   stacks=tuple(sorted(stacks.items(), key=lambda item: (-item[1], item[0]))),
                   symbols_note=next((p.symbols_note for p in profiles if p.symbols_note), None))

    def functions(self) -> list[Function]:
        """Returns every function's self and total share, by self share, then total share."""
        total = self.samples
        if not total:
            return []
        self_counts: Counter = Counter()
        total_counts: Counter = Counter()
        for stack, count in self.stacks:
            frames = stack.split(";")
            self_counts[frames[-1]] += count
            for frame in set(frames):
                total_counts[frame] += count
        functions = [Function(name=_bare(frame), kernel=frame.endswith(KERNEL_MARK),
                              self_share=self_counts[frame] / total, total_share=count / total)
                     for frame, count in total_counts.items()]
        return sorted(functions, key=lambda f: (-f.self_share, -f.total_share, f.name))

    def top(self, kernel: bool, count: int) -> list[Function]:
        """Returns the count functions of kernel (or user) space with the largest self share."""
        return [f for f in self.functions() if f.kernel == kernel and f.self_share > 0][:count]

    def folded(self, root: str | None = None) -> str:
        """Returns the stacks in the collapsed format ('frame;frame;leaf count' per line), under
        a root frame where given."""
        prefix = f"{root};" if root else ""
        return "".join(f"{prefix}{stack} {count}\n" for stack, count in self.stacks)


def _bare(frame: str) -> str:
    return frame[:-len(KERNEL_MARK)] if frame.endswith(KERNEL_MARK) else frame


def parse(script: str, symbols) -> Profile:
    """Returns the Profile of `perf script -F tid,ip,sym,dso` text: a header line per sample,
    then its frames, leaf first, one per line, each led by a tab ('address symbol (object)'). Kernel frames perf
    could not name are named from symbols (platform.KernelSymbols)."""
    stacks: Counter = Counter()
    frames: list[str] = []
    unnamed_kernel = False

    def flush():
        if frames:
            stacks[";".join(reversed(frames))] += 1
            frames.clear()

    for line in script.splitlines():
        if not line.strip():
            flush()
            continue
        if not line.startswith("\t"):
            # A sample's header: its thread id, right-aligned (so perhaps led by spaces).
            flush()
            continue
        frame, kernel_unnamed = _frame(line.strip(), symbols)
        unnamed_kernel |= kernel_unnamed
        if frame is not None:
            frames.append(frame)
    flush()
    note = None
    if unnamed_kernel and symbols.hidden:
        from .platform import kernel_symbols_hint
        note = kernel_symbols_hint()
    return Profile(event=EVENT, frequency_hz=FREQUENCY_HZ,
                   stacks=tuple(sorted(stacks.items(), key=lambda item: (-item[1], item[0]))), symbols_note=note)


def _frame(text: str, symbols) -> tuple[str | None, bool]:
    """Returns (the folded name of one frame line, whether it was a kernel frame left unnamed)."""
    address_text, _, rest = text.partition(" ")
    try:
        address = int(address_text, 16)
    except ValueError:
        return None, False
    symbol, _, dso = rest.rpartition(" (")
    symbol, dso = symbol.strip(), dso.rstrip(")")
    if dso == "[kernel.kallsyms]" or address >= KERNEL_SPACE:
        # perf names what it can; what it cannot is looked up in /proc/kallsyms.
        name = symbol if symbol and symbol != "[unknown]" else None
        if name is None and symbols is not None:
            name = symbols.name_of(address)
        if name is None:
            return f"[kernel]{KERNEL_MARK}", True
        return f"{name}{KERNEL_MARK}", False
    if not symbol or symbol == "[unknown]":
        return f"[{os.path.basename(dso)}]" if dso and dso != "[unknown]" else "[unknown]", False
    return symbol, False
