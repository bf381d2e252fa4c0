"""Outputs: one module per format. Each reads results; none measures.

Files are written by write_atomically: a regular file (or a path that does not exist
yet) is replaced whole, so that a reader sees the old file or the new one, never
half; anything else (a device such as /dev/null or /dev/stdout, a FIFO) is written
through and never replaced; a symbolic link is followed, and its target replaced.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UsageError

_TEMPORARY_SUFFIX = ".tmp"


def _target(path: str) -> Path:
    """Returns the path a write lands on: symbolic links followed."""
    return Path(os.path.realpath(path))


def _is_regular_or_absent(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


def check_writable(path: str, what: str) -> None:
    """Refuses, before anything is measured, an output path that cannot be written."""
    if not path:
        raise UsageError(f"{what} needs a file name, got an empty one")
    target = _target(path)
    if target.is_dir():
        raise UsageError(f"{what} {path!r} is a directory")
    if not _is_regular_or_absent(target):
        return
    directory = target.parent
    if not directory.is_dir():
        raise UsageError(f"{what} {path!r}: directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path!r}: directory {str(directory)!r} is not writable")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _target(a) == _target(b)


def check_outputs(exports: list["Export"], inputs: list[str]) -> None:
    """Refuses outputs that cannot be written, that name the same file twice, or that would
    overwrite one of the input files being read."""
    for export in exports:
        check_writable(export.path, export.option)
    regular = [export for export in exports if _is_regular_or_absent(_target(export.path))]
    for i, export in enumerate(regular):
        for other in regular[:i]:
            if _same_file(export.path, other.path):
                raise UsageError(f"{export.option} {export.path!r} is the same file as {other.option}")
        for source in inputs:
            if _same_file(export.path, source):
                raise UsageError(f"{export.option} {export.path!r} would overwrite the result file "
                                 "it reads; write to another file")


@dataclass
class Export:
    """One output file asked for on the command line, rewritten whole after each run.

    write(results, command_line) calls writer(path, results, command_line); an OSError is
    kept in failure (the other outputs are still written), and cleared by a later success.
    """

    option: str
    path: str
    writer: Callable
    failure: str | None = field(default=None)

    def write(self, results: list, command_line: list[str]) -> None:
        try:
            self.writer(self.path, results, command_line)
            self.failure = None
        except OSError as error:
            self.failure = f"cannot write {self.option} {self.path!r}: {error.strerror or error}"


def _umask() -> int:
    """Returns the process's umask (mkstemp makes files 0600; results should be as open() makes them)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
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
    target = _target(path)
    if not _is_regular_or_absent(target):
        with open(target, "wb") as handle:
            handle.write(data)
        return
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
