"""A comparison as text, in the manner of benchstat: '~' where a change is not significant."""

from __future__ import annotations

from .. import stats
from ..compare import Comparison, Row
from ..result import FIGURES


def spread(summary: stats.Summary) -> str:
    """Returns the half-width of the median's confidence interval, in percent of the median."""
    if summary.n < 2:
        return "(1 run)"
    if not summary.median:
        return ""
    half = max(summary.ci_high - summary.median, summary.median - summary.ci_low)
    return f"± {half / summary.median:.0%}"


def verdict(row: Row) -> str:
    """Returns the change column: a signed percentage, or '~' where not significant."""
    samples = f"p={row.p_value:.3f} n={row.base.n}+{row.new.n}"
    if row.too_few:
        return f"{'~':>9}  ({samples}: too few runs to tell; --repeat 5 or more)"
    if not row.significant:
        return f"{'~':>9}  ({samples})"
    return f"{row.change_percent:>+8.2f}%  ({samples})"


def comparison_text(comparison: Comparison) -> str:
    """Returns the comparison as aligned text, one section per metric."""
    lines = [f"base: {comparison.base_path}", f"new:  {comparison.new_path}",
             "(figures: medians over the runs; ± the half-width of the median's confidence interval, "
             "in percent of the median)"]
    for field, base_value, new_value in comparison.differences:
        lines.append(f"differs: {field} {base_value} -> {new_value}")
    if not comparison.rows:
        lines.append("no configuration appears in both files")
        return "\n".join(lines) + "\n"
    width = max(len("configuration"), *(len(row.label) for row in comparison.rows))
    for figure in FIGURES:
        lines.append(f"\n{figure.title}")
        lines.append(f"  {'configuration':<{width}}  {'threads':>7}  {'base':>20}  {'new':>20}  change")
        for row in comparison.rows:
            if row.metric != figure.key:
                continue
            base = f"{row.base.median:,.0f} {spread(row.base)}"
            new = f"{row.new.median:,.0f} {spread(row.new)}"
            lines.append(f"  {row.label:<{width}}  {row.threads:>7}  {base:>20}  {new:>20}  {verdict(row)}")
    return "\n".join(lines) + "\n"
