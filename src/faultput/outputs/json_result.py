"""faultput's result file: everything it knows of a run, in a versioned schema.

The schema is documented in docs/result-format.md; bump SCHEMA_VERSION on any
change a reader could notice.
"""

from __future__ import annotations

import json

from .. import __version__
from ..result import RunResult
from . import write_atomically

SCHEMA = "faultput.result"
SCHEMA_VERSION = 2


def document(results: list[RunResult], command_line: list[str]) -> dict:
    """Returns the result document for one invocation's results."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "faultput", "version": __version__},
        "command_line": command_line,
        "started_at": results[0].started_at if results else None,
        "ended_at": results[-1].ended_at if results else None,
        # The first run's facts, for a reader that wants one set; each result holds its own.
        "system": results[0].system if results else {},
        "results": [result.to_dict() for result in results],
    }


def write(path: str, results: list[RunResult], command_line: list[str]) -> None:
    """Writes the result document to path, atomically."""
    write_atomically(path, json.dumps(document(results, command_line), indent=2) + "\n")
