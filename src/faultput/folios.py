"""Folio sizes: which large folio size (mTHP) the kernel may use for a run, set through
/sys/kernel/mm/transparent_hugepage, and every setting put back as it was.

A run with --folio-size S allows exactly S: that size's `enabled` (anonymous memory)
or `shmem_enabled` (shmem) becomes madvise / advise, every other size's never, and the
objects ask with MADV_HUGEPAGE; 4K, the base page, allows no large folio at all.
Before the first change the original settings are written to a journal; they are
restored when the command ends, on every exit path a process survives, and a later
faultput restores them from the journal after a SIGKILL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import platform
from .errors import UsageError
from .files import write_atomically

JOURNAL = Path("/run/faultput/thp-settings.json")
# The fault types whose faults allocate folios a folio size governs, and the per-size
# setting that governs them.
SETTING_OF = {"zero-fill": "enabled", "zero-page": "enabled", "populate": "enabled", "shmem": "shmem_enabled"}
ALLOWING = {"enabled": "madvise", "shmem_enabled": "advise"}


def offered_sizes(page_size_bytes: int) -> list[int]:
    """Returns the folio sizes a run may ask for: the base page and every size the kernel offers."""
    return [page_size_bytes, *platform.mthp_sizes()]


def unsupported_reason(fault_type: str) -> str | None:
    """Returns why --folio-size means nothing for a fault type, or None where it applies."""
    if fault_type in SETTING_OF:
        return None
    reasons = {
        "thp": "thp is zero-fill at the PMD size: use --fault zero-fill --folio-size 2M",
        "cow": "a write to a shared page copies it one base page per fault, whatever folio held it",
        "uffd": "UFFDIO_COPY resolves one base page per fault",
        "uffd-zeropage": "UFFDIO_ZEROPAGE resolves one base page per fault",
        "hugetlb": "hugetlb pages come from their own pool, not from the folio sizes",
    }
    return reasons.get(fault_type, f"{fault_type} faults file pages, whose folio sizes the page cache "
                                   "chooses, not these settings")


def wanted_settings(fault_type: str, folio_size_bytes: int) -> dict[str, str]:
    """Returns the settings a run of fault_type at folio_size_bytes needs: that size allowed
    (on madvise), every other size never."""
    leaf = SETTING_OF[fault_type]
    wanted = {}
    for size, directory in platform.mthp_sizes().items():
        if (directory / leaf).exists():
            wanted[f"{directory.name}/{leaf}"] = ALLOWING[leaf] if size == folio_size_bytes else "never"
    return wanted


class FolioSettings:
    """The THP settings of a command's runs: apply(spec) before each, restore() once at the
    end (a context manager does it on every exit path)."""

    def __init__(self, journal: Path = JOURNAL):
        self.journal = journal
        self.original: dict[str, str] | None = None

    def apply(self, spec) -> None:
        """Sets what spec's folio size needs; journals the originals before the first change."""
        if spec.folio_size_bytes is None:
            return
        wanted = wanted_settings(spec.fault_type, spec.folio_size_bytes)
        current = platform.thp_settings()
        changes = {name: word for name, word in wanted.items() if current.get(name) != word}
        if not changes:
            return
        if self.original is None:
            self.original = current
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(str(self.journal), json.dumps({"pid": os.getpid(), "settings": current}) + "\n")
        for name, word in changes.items():
            platform.write_thp_setting(name, word)

    def restore(self) -> None:
        """Puts back every setting as it was before the first change, then drops the journal."""
        if self.original is None:
            return
        _restore(self.original)
        self.original = None
        self.journal.unlink(missing_ok=True)

    def __enter__(self) -> "FolioSettings":
        return self

    def __exit__(self, *exc_info) -> None:
        self.restore()


def _restore(settings: dict[str, str]) -> None:
    current = platform.thp_settings()
    for name, word in settings.items():
        if current.get(name) != word:
            platform.write_thp_setting(name, word)


def restore_from_journal(journal: Path = JOURNAL) -> bool:
    """Restores the settings a faultput killed mid-run left changed; returns whether it did.
    A journal whose faultput still runs is left alone."""
    try:
        document = json.loads(journal.read_text())
        pid, settings = int(document["pid"]), dict(document["settings"])
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)
        return False
    if pid != os.getpid() and platform.process_alive(pid):
        return False
    if platform.thp_settings_unchangeable_reason() is not None:
        return False
    _restore({str(name): str(word) for name, word in settings.items()})
    journal.unlink(missing_ok=True)
    return True


def parse_folio_sizes(text: str, page_size_bytes: int) -> list[int]:
    """Returns the folio sizes of '4K,16K,64K,2M', each checked to be one the kernel offers."""
    from .result import folio_label
    from .spec import format_bytes, parse_size

    sizes = []
    for part in text.split(","):
        if not part.strip():
            raise UsageError(f"--folio-size {text!r} has an empty item (separate sizes with single commas)")
        sizes.append(parse_size(part, "folio size"))
    offered = offered_sizes(page_size_bytes)
    for size in sizes:
        if size not in offered:
            raise UsageError(f"folio size {format_bytes(size)} is not one this kernel offers "
                             f"(offered: {', '.join(folio_label(s) for s in offered)})")
    return list(dict.fromkeys(sizes))

