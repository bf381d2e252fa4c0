"""Writing files safely: whole or not at all, and never over what is not a regular file.

A regular file (or a path that does not exist yet) is replaced whole, through a
temporary file in the same directory, so that a reader sees the old file or the new
one, never half; anything else (a device such as /dev/null or /dev/stdout, a FIFO) is
written through and never replaced; a symbolic link is followed, and its target replaced.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .platform import process_alive

_TEMPORARY_SUFFIX = ".tmp"


def target_of(path: str) -> Path:
    """Returns the path a write lands on: symbolic links followed."""
    return Path(os.path.realpath(path))


def is_regular_or_absent(path: str | Path) -> bool:
    """Returns whether a write to path replaces a regular file (or makes a new one). The path
    as given is followed, so that /dev/stdout, a link the kernel resolves itself, counts as
    the pipe or terminal it stands for."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


def _umask() -> int:
    """Returns the process's umask (mkstemp makes files 0600; results should be as open() makes them)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Removes temporary files that an earlier faultput, killed mid-write, left beside target
    (named .NAME.PID.RANDOM.tmp, PID no longer running); returns those removed."""
    removed = []
    prefix = f".{target.name}."
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_TEMPORARY_SUFFIX)):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def write_atomically(path: str, content: str | bytes) -> None:
    """Writes content (text as UTF-8) to path so that a reader sees the old file or the whole
    new one, never half, whatever interrupts the write. Raises OSError if it cannot."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if not is_regular_or_absent(path):
        with open(path, "wb") as handle:
            handle.write(data)
        return
    target = target_of(path)
    remove_stale_temporaries(target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.",
                                             suffix=_TEMPORARY_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
