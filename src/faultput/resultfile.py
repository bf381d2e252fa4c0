"""Reading faultput's result files back, for compare, plot, report and export.

Every problem with a file is a FaultputError naming the file and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import UsageError
from .outputs.json_result import SCHEMA, SCHEMA_VERSION
from .result import RunResult, result_from_dict


@dataclass(frozen=True)
class ResultFile:
    """A result file as read: its path, the whole document, and its results."""

    path: str
    document: dict
    results: tuple[RunResult, ...]

    @property
    def system(self) -> dict:
        """Returns the system facts recorded with the results."""
        return self.document.get("system", {})


def load(path: str) -> ResultFile:
    """Reads a result file written by `faultput run --json`; raises UsageError saying what is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise UsageError(f"cannot read result file {path!r}: {error.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"result file {path!r} is not JSON: {error.msg} at line {error.lineno}, "
                         f"column {error.colno}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise UsageError(f"{path!r} is not a faultput result file (no schema {SCHEMA!r}); "
                         "write one with faultput run --json")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UsageError(f"result file {path!r} has schema version {version!r}; this faultput reads "
                         f"version {SCHEMA_VERSION}")
    try:
        results = tuple(result_from_dict(data, document.get("system", {})) for data in document["results"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UsageError(f"result file {path!r} is malformed: {type(error).__name__} {error}") from None
    return ResultFile(path=path, document=document, results=results)
