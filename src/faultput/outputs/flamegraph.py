"""A flame graph of folded stacks as one inline SVG element, for the HTML report.

No maintained Python package draws a flame graph from folded stacks without a browser
library fetched from the network (d3-flame-graph) or a Perl script (flamegraph.pl), and the
report must stand alone; so the layout is drawn here, in the classic form: the root at the
bottom, each frame as wide as its share of the samples, callers under callees, kernel frames
(marked _[k]) in orange, user frames in yellow; hovering over a frame shows its name, samples
and share. The same stacks, written with --folded, go into any of those tools.
"""

from __future__ import annotations

import html

from ..profile import KERNEL_MARK

WIDTH = 1180
ROW = 17
CHARACTER = 6.6        # the width of a character of the 11px monospace labels, about
MIN_WIDTH = 0.3        # frames narrower than this many pixels are left out


def _tree(stacks) -> dict:
    root = {"name": "all", "count": 0, "children": {}}
    for stack, count in stacks:
        root["count"] += count
        node = root
        for frame in stack.split(";"):
            node = node["children"].setdefault(frame, {"name": frame, "count": 0, "children": {}})
            node["count"] += count
    return root


def _depth(node: dict, total: int) -> int:
    """Returns how many rows the frames wide enough to draw need."""
    drawn = [child for child in node["children"].values() if child["count"] / total * WIDTH >= MIN_WIDTH]
    return 1 + max((_depth(child, total) for child in drawn), default=0)


def svg(stacks, title: str) -> str:
    """Returns the flame graph of stacks ((folded stack, samples) pairs) as an <svg> element."""
    root = _tree(stacks)
    total = root["count"] or 1
    height = (_depth(root, total) + 1) * ROW + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">',
             f'<text x="4" y="14" font-size="13">{html.escape(title)}</text>']

    def draw(node: dict, x: float, level: int) -> None:
        width = node["count"] / total * WIDTH
        if width < MIN_WIDTH:
            return
        y = height - (level + 1) * ROW
        name = node["name"]
        kernel = name.endswith(KERNEL_MARK)
        label = name[:-len(KERNEL_MARK)] if kernel else name
        colour = "#f0a050" if kernel else ("#e8d870" if level else "#c8c8c8")
        tip = f"{label} ({'kernel' if kernel else 'user'}): {node['count']:,} samples, {node['count'] / total:.1%}"
        parts.append(f'<g><title>{html.escape(tip)}</title><rect x="{x:.2f}" y="{y}" width="{width:.2f}" '
                     f'height="{ROW - 1}" fill="{colour}" stroke="#fff" stroke-width="0.4"/>')
        characters = int((width - 4) / CHARACTER)
        if characters >= 3:
            text = label if len(label) <= characters else label[:characters - 2] + ".."
            parts.append(f'<text x="{x + 2:.2f}" y="{y + ROW - 5}">{html.escape(text)}</text>')
        parts.append("</g>")
        child_x = x
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            draw(child, child_x, level + 1)
            child_x += child["count"] / total * WIDTH

    draw(root, 0.0, 0)
    parts.append("</svg>")
    return "".join(parts)
