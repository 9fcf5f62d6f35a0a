"""Whether a drop against the baseline is real: the exact McNemar test on paired predictions.

Checked against an independent computation (stdlib ``fractions``/``math`` and published tables) in
tests/test_stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on the discordant pairs of two paired runs over the same images.

    ``b``: images the baseline got right and the new run wrong; ``c``: the reverse. Under "no
    change" each discordant image is equally likely to fall either way, so b ~ Binomial(b + c, 1/2).
    """

    b: int
    c: int
    p_worse: float  # one-sided: P(B >= b), small when the new run lost significantly more than it gained
    p_two_sided: float  # the classical two-sided exact p-value, for reference

    @property
    def worse(self) -> bool:
        return self.b > self.c


def _binomial_tail(k: int, n: int) -> Fraction:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly."""
    return Fraction(sum(math.comb(n, i) for i in range(k, n + 1)), 2**n)


def mcnemar_exact(b: int, c: int) -> McNemar:
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0, 1.0)
    p_worse = _binomial_tail(b, n)
    two_sided = min(Fraction(1), 2 * _binomial_tail(max(b, c), n))
    return McNemar(b, c, float(p_worse), float(two_sided))
