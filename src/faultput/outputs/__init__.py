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


def _umask() -> int:
    """Returns the process's umask (mkstemp makes files 0600; results should be as open() makes them)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: str, content: str | bytes) -> None:
    """Writes content (text as UTF-8) to path so that a reader sees the old file or the whole
    new one, never half, whatever interrupts the write."""
    target = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.resolve().parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
