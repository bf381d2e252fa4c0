"""--folded: the stacks --profile sampled, in the collapsed format flame graph tools read
(flamegraph.pl, inferno, speedscope): one line per stack, 'frame;frame;leaf count', root first.

Each run's stacks sit under a root frame naming its configuration (and repeat), so that one
file holds a sweep and a flame graph splits it by configuration at the bottom.
"""

from __future__ import annotations

from ..result import RunResult, config_label


def render(results: list[RunResult], command_line: list[str] | None = None) -> str:
    """Returns the folded stacks of every profiled run ('' where none was profiled)."""
    lines = []
    for result in results:
        if result.profile is None:
            continue
        root = config_label(result.spec).replace(";", ",").replace(" ", "_")
        if any(other.repeat for other in results):
            root += f"_repeat{result.repeat}"
        lines.append(result.profile.folded(root))
    return "".join(lines)
