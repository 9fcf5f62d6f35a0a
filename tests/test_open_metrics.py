"""Open-ended metrics against independent computations: hand-worked values, numpy percentiles,
and an exact enumeration of the Wilcoxon signed-rank null distribution."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pytest_vlm.scoring.intervals import bootstrap_seed
from pytest_vlm.scoring.open_metrics import (
    OPEN_METRICS,
    compute_open_metrics,
    paired_win_rate,
    snapped,
    top_k_mean,
    wilcoxon_drop,
)

IDS = [f"img-{i:02d}" for i in range(12)]
SIMILARITY = [0.95, 0.81, 0.8, 0.4, 0.99, 0.7, 0.85, 0.6, 0.92, 0.1, 0.79, 0.88]
EXACT = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]


def _metrics(baseline=None, threshold=0.8):
    return compute_open_metrics(
        IDS,
        {"similarity": SIMILARITY, "exact_match": EXACT},
        win_threshold=threshold,
        baseline_similarity=baseline,
        seconds=2.0,
        calls=12,
        peak_memory_mb=10.0,
    )


def test_win_rate_top_k_and_means_by_hand():
    m = _metrics()
    # Above 0.8 (strictly, as in the reference notebooks): 0.95 0.81 0.99 0.85 0.92 0.88 -> 6 of 12.
    assert m.win_rate == pytest.approx(0.5)
    assert m.top == {
        "top1": pytest.approx(0.99),
        "top5": pytest.approx((0.99 + 0.95 + 0.92 + 0.88 + 0.85) / 5),
        "top10": pytest.approx((sum(SIMILARITY) - 0.1 - 0.4) / 10),
    }
    assert m.means == {"similarity": pytest.approx(sum(SIMILARITY) / 12), "exact_match": pytest.approx(5 / 12)}
    assert m.value("top5") == m.top["top5"] and m.value("exact_match") == pytest.approx(5 / 12)
    assert m.images_per_second == 6.0 and m.calls_per_image == 1.0
    assert _metrics(threshold=0.9).win_rate == pytest.approx(3 / 12)
    assert top_k_mean([0.5, 0.7], 5) == pytest.approx(0.6)  # fewer images than k: all of them


def test_paired_win_rate_counts_ties_as_half():
    assert paired_win_rate([0.9, 0.5, 0.7, 0.2], [0.8, 0.5, 0.9, 0.1]) == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert _metrics(baseline=SIMILARITY).paired_win_rate == 0.5


def test_intervals_are_the_seeded_percentile_bootstrap_over_images():
    m = _metrics(baseline=[s - 0.05 for s in SIMILARITY])
    order = sorted(range(12), key=lambda i: IDS[i])
    rng = np.random.default_rng(bootstrap_seed(IDS))
    indices = rng.integers(0, 12, size=(1000, 12))
    sim = np.array(SIMILARITY)[order]
    for name, column in {
        "similarity": sim,
        "exact_match": np.array(EXACT)[order],
        "win_rate": (sim > 0.8).astype(float),
        "paired_win_rate": np.ones(12),
    }.items():
        low, high = np.percentile(column[indices].mean(axis=1), [2.5, 97.5])
        assert (m.intervals[name].low, m.intervals[name].high) == (pytest.approx(low), pytest.approx(high)), name
    assert m.value("similarity_lower") == m.intervals["similarity"].low
    # Same images in another order: the same intervals.
    shuffled = compute_open_metrics(
        IDS[::-1],
        {"similarity": SIMILARITY[::-1], "exact_match": EXACT[::-1]},
        seconds=1.0,
        calls=0,
        peak_memory_mb=0.0,
    )
    assert shuffled.intervals["similarity"] == m.intervals["similarity"]


def test_metrics_that_were_not_measured_say_why():
    m = compute_open_metrics(IDS, {"exact_match": EXACT}, seconds=1.0, calls=0, peak_memory_mb=0.0)
    with pytest.raises(ValueError, match="the scorer similarity is not among this strategy's scorers"):
        m.value("similarity")
    with pytest.raises(ValueError, match="win_rate was not measured in this run .it needs the similarity scorer"):
        m.value("win_rate")
    with pytest.raises(ValueError, match="paired_win_rate was not measured in this run, so it has no interval"):
        m.value("paired_win_rate_lower")
    with pytest.raises(ValueError, match="a paired win rate needs the similarity scorer"):
        compute_open_metrics(
            IDS, {"exact_match": EXACT}, baseline_similarity=EXACT, seconds=1.0, calls=0, peak_memory_mb=0.0
        )
    assert all(name in OPEN_METRICS for name in ("similarity_lower", "win_rate_lower", "paired_win_rate_lower"))


def _exact_signed_rank_p(deltas):
    """P(W+ <= observed) over all 2^n sign assignments of the ranks (no ties, no zeros)."""
    ranks = {abs(d): r for r, d in enumerate(sorted(deltas, key=abs), 1)}
    observed = sum(ranks[abs(d)] for d in deltas if d > 0)
    totals = [
        sum(r for r, s in zip(ranks.values(), signs) if s) for signs in itertools.product([0, 1], repeat=len(deltas))
    ]
    return sum(1 for t in totals if t <= observed) / len(totals)


def test_wilcoxon_drop_matches_the_exact_null_distribution():
    old = [0.9, 0.8, 0.85, 0.7, 0.95, 0.6, 0.75, 0.88, 0.5]
    deltas = [-0.31, -0.12, 0.05, -0.22, -0.09, 0.02, -0.4, -0.17, 0.0]  # one unchanged image
    new = [o + d for o, d in zip(old, deltas)]
    test = wilcoxon_drop(new, old)
    exact = _exact_signed_rank_p([n - o for n, o in zip(new, old) if n != o])
    assert test.p_worse == pytest.approx(exact)
    assert (test.n_nonzero, test.worse, test.better) == (8, 6, 2) and test.dropped and test.p_worse < 0.05
    assert wilcoxon_drop(old, old).p_worse == 1.0
    assert wilcoxon_drop(old, new).p_worse > 0.9  # an improvement is not a drop


def test_scores_within_the_stored_precision_of_the_baseline_tie():
    new = [0.8473452, 0.5, 0.9]
    old = [0.847345, 0.4, 0.95]
    assert paired_win_rate(snapped(new, old), old) == pytest.approx((0.5 + 1 + 0) / 3)
    assert paired_win_rate(new, old) == pytest.approx((1 + 1 + 0) / 3)  # what snapping prevents
    m = compute_open_metrics(
        ["a", "b", "c"], {"similarity": new}, baseline_similarity=old, seconds=1.0, calls=3, peak_memory_mb=0.0
    )
    assert m.paired_win_rate == pytest.approx(0.5)
