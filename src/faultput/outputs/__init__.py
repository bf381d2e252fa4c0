"""Outputs: one module per format. Each reads results; none measures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UsageError


def check_writable(path: str, what: str) -> None:
    """Refuses, before anything is measured, an output path that cannot be written."""
    directory = Path(path).resolve().parent
    if not directory.is_dir():
        raise UsageError(f"{what} {path!r}: directory {str(directory)!r} does not exist")
    if Path(path).is_dir():
        raise UsageError(f"{what} {path!r} is a directory")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"{what} {path!r}: directory {str(directory)!r} is not writable")


def write_atomically(path: str, text: str) -> None:
    """Writes text to path so that a reader sees the old file or the whole new one, never half."""
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.resolve().parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
