"""The gate's statistics against independent computations and published values."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from pytest_vlm.baseline.significance import mcnemar_exact
from pytest_vlm.scoring.intervals import (
    Z95,
    bootstrap_f1,
    bootstrap_seed,
    metric_intervals,
    percentile_interval,
    resample_indices,
    wilson_interval,
)
from pytest_vlm.scoring.metrics import compute_metrics


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (Wilson score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_wilson_solves_the_score_equation() -> None:
    # Independently: the ends are the two proportions p0 with |p - p0| = z * sqrt(p0 (1 - p0) / n).
    for successes, n in [(342, 350), (7, 10), (350, 350), (1, 2)]:
        p = successes / n
        for end in (wilson_interval(successes, n).low, wilson_interval(successes, n).high):
            assert abs(p - end) == pytest.approx(Z95 * math.sqrt(end * (1 - end) / n), abs=1e-9)


def test_wilson_edges_and_errors() -> None:
    assert wilson_interval(10, 10).high == 1.0
    assert wilson_interval(0, 10).low == 0.0
    with pytest.raises(ValueError, match="an interval needs at least one trial, got n=0"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="successes must lie in 0..5, got 6"):
        wilson_interval(6, 5)


def _enumerated_tail(b: int, c: int) -> Fraction:
    """P(B >= b) by enumerating every way the b + c discordant images could have fallen."""
    n = b + c
    outcomes = list(itertools.product((0, 1), repeat=n))
    return Fraction(sum(1 for o in outcomes if sum(o) >= b), len(outcomes))


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (3, 0), (5, 1), (1, 5), (4, 4), (9, 2), (6, 7)])
def test_mcnemar_one_sided_by_enumeration(b: int, c: int) -> None:
    assert mcnemar_exact(b, c).p_worse == pytest.approx(float(_enumerated_tail(b, c)), rel=1e-12)


def test_mcnemar_hand_computed() -> None:
    # b=10, c=2: P(X >= 10 | n=12) = (C(12,10) + C(12,11) + C(12,12)) / 2^12 = 79 / 4096.
    result = mcnemar_exact(10, 2)
    assert result.p_worse == pytest.approx(79 / 4096)
    assert result.p_two_sided == pytest.approx(2 * 79 / 4096)
    assert result.worse
    assert not mcnemar_exact(2, 10).worse
    assert mcnemar_exact(2, 10).p_worse == pytest.approx(1 - Fraction(sum(math.comb(12, i) for i in range(2)), 4096))


def test_mcnemar_published_example() -> None:
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91: discordant pairs 1 and 7,
    # exact conditional McNemar p = 0.070 (two-sided).
    assert round(mcnemar_exact(1, 7).p_two_sided, 3) == 0.070
    assert round(mcnemar_exact(7, 1).p_two_sided, 3) == 0.070


def test_mcnemar_errors_and_large_counts() -> None:
    with pytest.raises(ValueError, match="discordant counts must be >= 0, got b=-1, c=0"):
        mcnemar_exact(-1, 0)
    # Exact arithmetic stays exact (and fast) at thousands of discordant images.
    assert mcnemar_exact(2000, 2000).p_worse == pytest.approx(0.5, abs=0.01)
    assert mcnemar_exact(1100, 900).p_worse < 1e-5


LABELS = ["cat", "dog", "fox", "owl"]
Y_TRUE = ["cat", "cat", "dog", "dog", "dog", "fox", "fox", "owl", "cat", "owl", "fox", "dog"]
Y_PRED = ["cat", "dog", "dog", None, "dog", "fox", "cat", "owl", "cat", "fox", "fox", "dog"]


def test_bootstrap_f1_equals_sklearn_on_each_resample() -> None:
    from sklearn.metrics import f1_score

    indices = resample_indices(len(Y_TRUE), seed=3, resamples=40)
    values = bootstrap_f1(Y_TRUE, Y_PRED, LABELS, indices)
    for i, row in enumerate(indices):
        t = [Y_TRUE[j] for j in row]
        p = ["<unparseable>" if Y_PRED[j] is None else Y_PRED[j] for j in row]
        for average in ("macro", "weighted"):
            expected = f1_score(t, p, labels=LABELS, average=average, zero_division=0)
            assert values[f"{average}_f1"][i] == pytest.approx(expected, abs=1e-12), (i, average)


def test_bootstrap_is_seeded_and_paired() -> None:
    ids = [f"img{i}" for i in range(len(Y_TRUE))]
    assert bootstrap_seed(ids) == bootstrap_seed(list(reversed(ids)))  # the set of images, not the order
    assert bootstrap_seed(ids) != bootstrap_seed(ids[:-1])
    first = metric_intervals(ids, Y_TRUE, Y_PRED, LABELS)
    assert metric_intervals(ids, Y_TRUE, Y_PRED, LABELS) == first
    # The same images in another order: the same intervals.
    assert metric_intervals(ids[::-1], Y_TRUE[::-1], Y_PRED[::-1], LABELS) == first
    m = compute_metrics(Y_TRUE, Y_PRED, LABELS, seconds=1, calls=1, peak_memory_mb=0)
    for name in ("macro_f1", "weighted_f1"):
        assert first[name].low <= getattr(m, name) <= first[name].high
        assert first[name].low < first[name].high
    assert first["accuracy"] == wilson_interval(sum(t == p for t, p in zip(Y_TRUE, Y_PRED)), len(Y_TRUE))


def test_percentile_interval() -> None:
    values = list(range(1001))  # 0..1000: the 2.5th and 97.5th percentiles are 25 and 975
    interval = percentile_interval(values)
    assert (interval.low, interval.high) == pytest.approx((25.0, 975.0))


def test_lower_bound_metrics_read_the_intervals() -> None:
    from dataclasses import replace

    m = compute_metrics(Y_TRUE, Y_PRED, LABELS, seconds=1, calls=1, peak_memory_mb=0)
    ids = [f"img{i}" for i in range(len(Y_TRUE))]
    m = replace(m, intervals=metric_intervals(ids, Y_TRUE, Y_PRED, LABELS))
    for name in ("accuracy", "macro_f1", "weighted_f1"):
        assert m.value(f"{name}_lower") == m.intervals[name].low
