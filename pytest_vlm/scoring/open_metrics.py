"""Metrics over open-ended scores: the mean of each scorer, the reference work's win rate and top-k,
the paired win rate against a baseline's answers, and seeded bootstrap intervals.

Definitions (the reference notebooks): win rate = share of similarity scores above the threshold
(0.8 there); top-1 = the highest similarity; top-5 / top-10 = the mean of the 5 / 10 highest (of all
of them when there are fewer images). Paired win rate = share of images where this run's similarity
is higher than the baseline's, ties counting one half (so a run against itself scores 0.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_vlm.scoring.intervals import BOOTSTRAP_RESAMPLES, bootstrap_seed, percentile_interval, resample_indices
from pytest_vlm.scoring.metrics import METRICS, Interval, MetricInfo
from pytest_vlm.scoring.scorers import SCORER_NAMES

DEFAULT_WIN_THRESHOLD = 0.8
TOP_K = (1, 5, 10)
INTERVAL_METRICS = (*SCORER_NAMES, "win_rate", "paired_win_rate")
SHARED_METRICS = ("images_per_second", "peak_memory_mb", "calls_per_image")  # classification has them too

OPEN_METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("exact_match", True, "share of answers equal to a reference once normalised"),
        MetricInfo("contains", True, "share of answers that contain a reference once normalised"),
        MetricInfo("token_f1", True, "mean SQuAD token F1 with the best reference"),
        MetricInfo("anls", True, "mean ANLS (DocVQA, threshold 0.5) with the best reference"),
        MetricInfo("similarity", True, "mean cosine similarity of embeddings with the best reference"),
        MetricInfo("win_rate", True, "share of similarities above the win threshold"),
        MetricInfo("top1", True, "the highest similarity"),
        MetricInfo("top5", True, "mean of the 5 highest similarities"),
        MetricInfo("top10", True, "mean of the 10 highest similarities"),
        MetricInfo("paired_win_rate", True, "share of images closer to the references than the baseline (ties 1/2)"),
        *(METRICS[name] for name in SHARED_METRICS),  # counts and rates, not shares: as classification has them
        *(
            MetricInfo(f"{name}_lower", True, f"lower end of the {name}'s 95% bootstrap interval")
            for name in INTERVAL_METRICS
        ),
    )
}


@dataclass(frozen=True)
class OpenMetrics:
    n: int
    means: dict[str, float]  # scorer name -> mean score
    win_threshold: float
    win_rate: float | None  # None without the similarity scorer
    top: dict[str, float]  # "top1", "top5", "top10"
    paired_win_rate: float | None  # None without a baseline
    images_per_second: float
    peak_memory_mb: float
    calls_per_image: float
    intervals: dict[str, Interval] = field(default_factory=dict)

    def value(self, name: str) -> float:
        """The metric ``name``; KeyError when unknown, ValueError when this run cannot have it."""
        if name not in OPEN_METRICS:
            raise KeyError(name)
        if name.endswith("_lower"):
            base = name.removesuffix("_lower")
            if base not in self.intervals:
                raise ValueError(f"{base} was not measured in this run, so it has no interval")
            return self.intervals[base].low
        if name in SCORER_NAMES:
            if name not in self.means:
                raise ValueError(f"the scorer {name} is not among this strategy's scorers")
            return self.means[name]
        if name in self.top:
            return self.top[name]
        value = getattr(self, name, None)
        if value is None:
            raise ValueError(f"{name} was not measured in this run (it needs the similarity scorer or a baseline)")
        return float(value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpenMetrics:
        intervals = {k: Interval(**v) for k, v in data.get("intervals", {}).items()}
        return cls(**{**data, "intervals": intervals})


def top_k_mean(scores: Sequence[float], k: int) -> float:
    best = sorted(scores, reverse=True)[:k]
    return sum(best) / len(best)


def win_rate(scores: Sequence[float], threshold: float) -> float:
    return sum(1 for s in scores if s > threshold) / len(scores)


SCORE_TOLERANCE = 1e-6  # baselines store scores to 6 decimals; embeddings differ in the 7th across machines


def snapped(new: Sequence[float], old: Sequence[float]) -> list[float]:
    """``new`` with every score within SCORE_TOLERANCE of its ``old`` one replaced by it: a tie, not a change."""
    return [o if abs(n - o) <= SCORE_TOLERANCE else n for n, o in zip(new, old)]


def paired_win_rate(new: Sequence[float], old: Sequence[float]) -> float:
    if len(new) != len(old) or not new:
        raise ValueError(f"a paired win rate needs equally many scores, got {len(new)} and {len(old)}")
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(new, old)) / len(new)


def _bootstrap(
    image_ids: Sequence[str],
    scores: Mapping[str, Sequence[float]],
    win_threshold: float,
    baseline: Sequence[float] | None,
    resamples: int,
) -> dict[str, Interval]:
    """Percentile intervals over images resampled with the seed of the sorted image ids (paired)."""
    import numpy as np

    order = sorted(range(len(image_ids)), key=lambda i: image_ids[i])
    indices = resample_indices(len(order), bootstrap_seed([image_ids[i] for i in order]), resamples)
    intervals = {}
    for name, values in scores.items():
        column = np.asarray([values[i] for i in order], dtype=float)
        intervals[name] = percentile_interval(column[indices].mean(axis=1))
    if "similarity" in scores:
        similarity = np.asarray([scores["similarity"][i] for i in order], dtype=float)
        intervals["win_rate"] = percentile_interval((similarity[indices] > win_threshold).mean(axis=1))
        if baseline is not None:
            old = np.asarray([baseline[i] for i in order], dtype=float)
            new = np.asarray(snapped(similarity.tolist(), old.tolist()))
            wins = np.where(new > old, 1.0, np.where(new == old, 0.5, 0.0))
            intervals["paired_win_rate"] = percentile_interval(wins[indices].mean(axis=1))
    return intervals


def compute_open_metrics(
    image_ids: Sequence[str],
    scores: Mapping[str, Sequence[float]],
    *,
    win_threshold: float = DEFAULT_WIN_THRESHOLD,
    baseline_similarity: Sequence[float] | None = None,
    seconds: float,
    calls: int,
    peak_memory_mb: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> OpenMetrics:
    """All open-ended metrics of one run; ``scores`` maps scorer name -> per-image scores in
    ``image_ids`` order; ``baseline_similarity`` is the baseline answers' similarity per image."""
    n = len(image_ids)
    if n == 0:
        raise ValueError("no answers to score")
    for name, values in scores.items():
        if len(values) != n:
            raise ValueError(f"{len(values)} {name} scores for {n} images")
    similarity = scores.get("similarity")
    if baseline_similarity is not None and similarity is None:
        raise ValueError("a paired win rate needs the similarity scorer")
    return OpenMetrics(
        n=n,
        means={name: sum(values) / n for name, values in scores.items()},
        win_threshold=win_threshold,
        win_rate=None if similarity is None else win_rate(similarity, win_threshold),
        top={} if similarity is None else {f"top{k}": top_k_mean(similarity, k) for k in TOP_K},
        paired_win_rate=(
            None
            if similarity is None or baseline_similarity is None
            else paired_win_rate(snapped(similarity, baseline_similarity), baseline_similarity)
        ),
        images_per_second=n / seconds if seconds > 0 else float("inf"),
        peak_memory_mb=float(peak_memory_mb),
        calls_per_image=calls / n,
        intervals=_bootstrap(image_ids, scores, win_threshold, baseline_similarity, resamples),
    )


@dataclass(frozen=True)
class SignedRank:
    """One-sided Wilcoxon signed-rank test of "this run's per-image scores are lower than the baseline's"."""

    n_nonzero: int  # images whose score changed
    worse: int  # images whose score dropped
    better: int
    mean_delta: float  # mean of new - old over all images
    p_worse: float

    @property
    def dropped(self) -> bool:
        return self.mean_delta < 0


def wilcoxon_drop(new: Sequence[float], old: Sequence[float]) -> SignedRank:
    """Wilcoxon signed-rank test on paired differences (zero differences dropped, exact for small n
    without ties, else the normal approximation as scipy chooses); p = 1 when nothing changed."""
    from scipy.stats import wilcoxon

    if len(new) != len(old) or not new:
        raise ValueError(f"a paired test needs equally many scores, got {len(new)} and {len(old)}")
    deltas = [a - b for a, b in zip(new, old)]
    nonzero = [d for d in deltas if d != 0]
    mean_delta = sum(deltas) / len(deltas)
    worse, better = sum(1 for d in nonzero if d < 0), sum(1 for d in nonzero if d > 0)
    if not nonzero:
        return SignedRank(0, 0, 0, mean_delta, 1.0)
    p = float(wilcoxon(nonzero, alternative="less").pvalue)
    return SignedRank(len(nonzero), worse, better, mean_delta, p)
