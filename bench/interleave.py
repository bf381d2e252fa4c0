"""What the in-process benchmarks share: forms of one configuration run in rotated order, so
that drift favours none, and the median of per-round ratios against a reference form."""

from __future__ import annotations

import statistics
from typing import Callable


def rotated_rounds(forms: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Runs every form once per round, starting each round one form later; returns each form's
    figures in round order."""
    names = list(forms)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            figures[name].append(forms[name]())
    return figures


def median_ratio(figures: dict[str, list[float]], new: str, base: str) -> float | None:
    """Returns the median over rounds of new's figure over base's, or None where new did not run."""
    if new not in figures:
        return None
    return statistics.median(a / b for a, b in zip(figures[new], figures[base]))
