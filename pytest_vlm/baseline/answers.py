"""Open-ended baselines: the stored answers, and a run compared with them.

The baseline file keeps, per image, the answer and its scores. A **flip** is an image whose new
answer means something else than the baseline's: its similarity to the baseline answer is below
``flip_threshold`` (a rewording stays above it). Without the similarity scorer, any change of the
normalised answer is a flip. ``no_significant_drop`` runs a one-sided Wilcoxon signed-rank test on
the per-image scores (the similarity with the references, or the first scorer without it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_vlm.scoring.normalise import normalise
from pytest_vlm.scoring.open_metrics import paired_win_rate, snapped, wilcoxon_drop
from pytest_vlm.scoring.scorers import CosineSimilarity, Embedder
from pytest_vlm.strategies.open_ended import OpenAnswer


def serialize_answers(answers: Sequence[OpenAnswer]) -> str:
    """The baseline text: sorted by image id, one JSON object per line (answer and scores)."""
    lines = []
    for a in sorted(answers, key=lambda a: a.image_id):
        entry = {"answer": a.answer, "scores": {k: round(v, 6) for k, v in sorted(a.scores.items())}}
        lines.append(f"  {json.dumps(a.image_id)}: {json.dumps(entry, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


@dataclass(frozen=True)
class AnswerFlip:
    image_id: str
    asked: str
    old: str
    new: str
    similarity: float | None  # of the new answer to the old; None without an embedder

    def describe(self) -> str:
        close = "" if self.similarity is None else f" (similarity {self.similarity:.3f})"
        return f"{self.image_id}: {self.old!r} -> {self.new!r}{close}"


@dataclass(frozen=True)
class OpenComparison:
    """A run against a baseline's answers, over the images both have."""

    baseline: str
    path: str
    n: int
    score: str  # the scorer the paired statistics use
    flips: tuple[AnswerFlip, ...]
    changed: int  # answers whose text changed (flips and rewordings)
    mean_old: float
    mean_new: float
    paired_win_rate: float | None
    worse: int
    better: int
    p_worse: float
    added: int = 0
    removed: int = 0
    gates: tuple[dict[str, Any], ...] = field(default=())

    @property
    def flip_rate(self) -> float:
        return len(self.flips) / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["flip_rate"] = self.flip_rate
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpenComparison:
        data = {k: v for k, v in data.items() if k != "flip_rate"}
        data["flips"] = tuple(AnswerFlip(**f) for f in data["flips"])
        data["gates"] = tuple(data.get("gates", ()))
        return cls(**data)

    def summary(self) -> str:
        return (
            f"vs {self.baseline}: {len(self.flips)} of {self.n} answers changed meaning ({self.flip_rate:.1%}; "
            f"{self.changed} reworded or changed), mean {self.score} {self.mean_old:.3f} -> {self.mean_new:.3f}, "
            f"{self.worse} image(s) scored lower and {self.better} higher, Wilcoxon p={self.p_worse:.3g}"
        )


def answer_similarities(embedder: Embedder, old: Sequence[str], new: Sequence[str]) -> list[float]:
    """Cosine similarity of each new answer to its old one (1.0 when they read the same once normalised)."""
    return [
        1.0 if normalise(o) == normalise(n) else s
        for o, n, s in zip(old, new, CosineSimilarity(embedder).score(new, [[o] for o in old]))
    ]


def compare_answers(
    baseline: Mapping[str, Mapping[str, Any]],
    answers: Sequence[OpenAnswer],
    *,
    baseline_name: str,
    path: str,
    flip_threshold: float,
    embedder: Embedder | None,
    score: str,
) -> OpenComparison:
    """Flips, the paired win rate and the signed-rank test of ``answers`` against ``baseline``.

    ``score`` names the per-image score the paired statistics compare; the baseline's stored score
    is used, so a baseline recorded by another model needs no re-scoring."""
    common = [a for a in answers if a.image_id in baseline]
    old_text = [str(baseline[a.image_id].get("answer", "")) for a in common]
    new_text = [a.answer for a in common]
    if embedder is not None:
        similarity: list[float | None] = list(answer_similarities(embedder, old_text, new_text))
    else:
        similarity = [None] * len(common)
    flips = tuple(
        AnswerFlip(a.image_id, a.asked, o, a.answer, s)
        for a, o, s in zip(common, old_text, similarity)
        if (s < flip_threshold if s is not None else normalise(o) != normalise(a.answer))
    )
    old_scores = [float(baseline[a.image_id].get("scores", {}).get(score, 0.0)) for a in common]
    new_scores = snapped([a.scores.get(score, 0.0) for a in common], old_scores)
    test = wilcoxon_drop(new_scores, old_scores) if common else None
    current = {a.image_id for a in answers}
    return OpenComparison(
        baseline=baseline_name,
        path=path,
        n=len(common),
        score=score,
        flips=flips,
        changed=sum(1 for o, n in zip(old_text, new_text) if o != n),
        mean_old=sum(old_scores) / len(common) if common else 0.0,
        mean_new=sum(new_scores) / len(common) if common else 0.0,
        paired_win_rate=paired_win_rate(new_scores, old_scores) if common else None,
        worse=test.worse if test else 0,
        better=test.better if test else 0,
        p_worse=test.p_worse if test else 1.0,
        added=len(current - set(baseline)),
        removed=len(set(baseline) - current),
    )


def evaluate_gates(max_flip_rate: float | None, alpha: float | None, found: OpenComparison) -> tuple[dict, ...]:
    """Each configured gate's verdict with a sentence that says why."""
    results = []
    if max_flip_rate is not None:
        passed = found.flip_rate <= max_flip_rate
        results.append(
            {
                "gate": "max_flip_rate",
                "passed": passed,
                "detail": f"flip rate {found.flip_rate:.4f} ({len(found.flips)} of {found.n} answers changed meaning) "
                f"{'<=' if passed else '>'} max_flip_rate {max_flip_rate:g}",
            }
        )
    if alpha is not None:
        significant = found.mean_new < found.mean_old and found.p_worse < alpha
        if significant:
            verdict = f"p < alpha {alpha:g}: a significant drop"
        elif found.mean_new < found.mean_old:
            verdict = f"p >= alpha {alpha:g}: a drop within noise"
        else:
            verdict = "no drop"
        results.append(
            {
                "gate": "no_significant_drop",
                "passed": not significant,
                "detail": f"mean {found.score} {found.mean_old:.4f} -> {found.mean_new:.4f} ({found.worse} image(s) "
                f"lower, {found.better} higher); Wilcoxon signed-rank one-sided p={found.p_worse:.4g}, {verdict}",
            }
        )
    return tuple(results)


def describe_flips(found: OpenComparison, path: Any, limit: int = 20) -> list[str]:
    lines = []
    if found.flips:
        lines.append(
            f"{len(found.flips)} answer(s) changed meaning (similarity to the baseline answer under flip_threshold):"
        )
        lines += [f"  {f.describe()}" for f in found.flips[:limit]]
        if len(found.flips) > limit:
            lines.append(f"  ... and {len(found.flips) - limit} more (see --vlm-json for all)")
    reworded = found.changed - len(found.flips)
    if reworded:
        lines.append(f"{reworded} answer(s) reworded with the same meaning (not flips)")
    for what, count in (("not in the baseline", found.added), ("in the baseline but not in this run", found.removed)):
        if count:
            lines.append(f"{count} image(s) {what}")
    lines.append(f"baseline: {path}")
    return lines
