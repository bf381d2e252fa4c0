"""Outputs: one module per format, each with the same small interface, and the one writer
that writes them all.

A format module reads results and never measures. A file format has

    render(results, command_line) -> str | bytes     the whole file

and EXPORTERS maps each command-line option to it; Export writes one, atomically (see
faultput.files), rewritten after each run. The result file itself is written by
faultput.resultfile, which owns its schema.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from ..errors import UsageError
from ..files import is_regular_or_absent, target_of, write_atomically


def check_writable(path: str, what: str) -> None:
    """Refuses, before anything is measured, an output path that cannot be written."""
    if not path:
        raise UsageError(f"{what} needs a file name, got an empty one")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a directory")
    if not is_regular_or_absent(path):
        return
    target = target_of(path)
    directory = target.parent
    if not directory.is_dir():
        raise UsageError(f"{what} {path!r}: directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path!r}: directory {str(directory)!r} is not writable")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return target_of(a) == target_of(b)


def check_outputs(exports: list["Export"], inputs: list[str]) -> None:
    """Refuses outputs that cannot be written, that name the same file twice, or that would
    overwrite one of the input files being read."""
    for export in exports:
        check_writable(export.path, export.option)
    regular = [export for export in exports if is_regular_or_absent(export.path)]
    for i, export in enumerate(regular):
        for other in regular[:i]:
            if _same_file(export.path, other.path):
                raise UsageError(f"{export.option} {export.path!r} is the same file as {other.option}")
        for source in inputs:
            if _same_file(export.path, source):
                raise UsageError(f"{export.option} {export.path!r} would overwrite the result file "
                                 "it reads; write to another file")


def exporters() -> dict[str, Callable]:
    """Returns {option: render(results, command_line)} for every file format of run and export."""
    from .. import resultfile
    from . import csv_export, folded, perfdata, pyperf_export

    return {"--json": resultfile.render, "--perfdata": perfdata.render, "--csv": csv_export.render,
            "--pyperf": pyperf_export.render, "--folded": folded.render}


@dataclass
class Export:
    """One output file asked for on the command line.

    write(results, command_line) writes render(results, command_line) to path, atomically;
    an OSError is kept in failure (the other outputs are still written), and cleared by a
    later success.
    """

    option: str
    path: str
    render: Callable | None
    failure: str | None = field(default=None)

    def write(self, results: list, command_line: list[str]) -> None:
        try:
            write_atomically(self.path, self.render(results, command_line))
            self.failure = None
        except OSError as error:
            self.failure = f"cannot write {self.option} {self.path!r}: {error.strerror or error}"
