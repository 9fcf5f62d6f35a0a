"""Seeded subsets of a benchmark's classes, for the closed-set strategy's class-count sweep.

For each size ``n`` the subset is drawn with a seed derived from sha256 of (seed, n): the same in
every process and run. The background class, when the benchmark has one, is always part of the
subset and counts towards ``n``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence


def check_class_counts(counts: Sequence[int], classes: Sequence[str], background: str | None) -> None:
    """Raise ValueError naming the bad size: each must be >= 2 and at most the number of classes."""
    smallest = 2
    for n in counts:
        if n < smallest:
            raise ValueError(f"'class_counts': {n} classes is too few for a closed set; use at least {smallest}")
        if n > len(classes):
            raise ValueError(
                f"'class_counts': {n} is more than the {len(classes)} classes of the benchmark; "
                f"use at most {len(classes)}"
            )


def class_subset(classes: Sequence[str], background: str | None, n: int, seed: int) -> tuple[str, ...]:
    """``n`` classes drawn with a sha256-derived seed, the background always among them; in class order."""
    others = sorted(c for c in classes if c != background)
    wanted = n - 1 if background in classes else n
    digest = hashlib.sha256(f"{seed}\x1fclass_counts\x1f{n}".encode()).digest()
    chosen = set(random.Random(int.from_bytes(digest[:8], "big")).sample(others, wanted))
    return tuple(c for c in classes if c in chosen or c == background)
