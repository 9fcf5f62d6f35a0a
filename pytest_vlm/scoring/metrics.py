"""Metrics over one strategy's predictions: pure functions on top of scikit-learn.

A prediction of ``None`` means the model's answer matched no class (unparseable). It counts as wrong
everywhere: it is scored as a label outside the class list, so it lowers the true class's recall and
accuracy without crediting any class's precision.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

UNPARSEABLE = "<unparseable>"


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    description: str


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("accuracy", True, "share of images predicted correctly"),
        MetricInfo("macro_f1", True, "F1 averaged over classes, each class weighing the same"),
        MetricInfo("weighted_f1", True, "F1 averaged over classes, weighted by support"),
        MetricInfo("min_class_f1", True, "F1 of the worst class"),
        MetricInfo("unparseable_rate", False, "share of images whose answer matched no class"),
        MetricInfo(
            "images_per_second", True, "images per second of the model's own time, over the answers it computed"
        ),
        MetricInfo("peak_memory_mb", False, "peak GPU memory on GPU, else peak process RSS, in MiB"),
        MetricInfo("calls_per_image", False, "model prompts per image"),
        MetricInfo("accuracy_lower", True, "lower end of the accuracy's 95% Wilson interval"),
        MetricInfo("macro_f1_lower", True, "lower end of the macro F1's 95% bootstrap interval"),
        MetricInfo("weighted_f1_lower", True, "lower end of the weighted F1's 95% bootstrap interval"),
    )
}


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Interval:
    """A 95% interval (see pytest_vlm/scoring/intervals.py for how each metric's is computed)."""

    low: float
    high: float

    def __str__(self) -> str:
        return f"[{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Metrics:
    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    min_class_f1: float
    unparseable_rate: float
    images_per_second: float
    peak_memory_mb: float
    calls_per_image: float
    per_class: dict[str, ClassMetrics]
    confusion_labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted label
    intervals: dict[str, Interval] = field(default_factory=dict)  # accuracy, macro_f1, weighted_f1

    def value(self, name: str) -> float:
        if name not in METRICS:
            raise KeyError(name)
        if name.endswith("_lower"):
            return self.intervals[name.removesuffix("_lower")].low
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str],
    *,
    seconds: float,
    calls: int,
    peak_memory_mb: float,
) -> Metrics:
    """All metrics for one run; ``labels`` is the full class list (classes absent from the data included)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("no predictions to score")
    labels = list(labels)
    pred = [UNPARSEABLE if p is None else p for p in y_pred]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, pred, labels=labels, average=None, zero_division=0
    )
    _, _, macro, _ = precision_recall_fscore_support(y_true, pred, labels=labels, average="macro", zero_division=0)
    _, _, weighted, _ = precision_recall_fscore_support(
        y_true, pred, labels=labels, average="weighted", zero_division=0
    )
    present = [i for i, s in enumerate(support) if s > 0]
    confusion_labels = labels + ([UNPARSEABLE] if UNPARSEABLE in pred else [])
    with warnings.catch_warnings():
        # With one class, sklearn warns about "a single label" even though labels= says them all.
        warnings.simplefilter("ignore", UserWarning)
        matrix = confusion_matrix(y_true, pred, labels=confusion_labels)
    n = len(y_true)
    return Metrics(
        n=n,
        accuracy=float(accuracy_score(y_true, pred)),
        macro_f1=float(macro),
        weighted_f1=float(weighted),
        min_class_f1=float(min(f1[i] for i in present)) if present else 0.0,
        unparseable_rate=pred.count(UNPARSEABLE) / n,
        images_per_second=n / seconds if seconds > 0 else float("inf"),
        peak_memory_mb=float(peak_memory_mb),
        calls_per_image=calls / n,
        per_class={
            label: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
            for i, label in enumerate(labels)
        },
        confusion_labels=tuple(confusion_labels),
        confusion=tuple(tuple(int(c) for c in row) for row in matrix),
    )


def worst_confusions(metrics: Metrics, top: int = 3) -> list[tuple[str, str, int]]:
    """The ``top`` most frequent (true, predicted, count) mistakes, most frequent first."""
    pairs = [
        (true, predicted, count)
        for i, true in enumerate(metrics.confusion_labels)
        for j, predicted in enumerate(metrics.confusion_labels)
        if i != j and (count := metrics.confusion[i][j]) > 0
    ]
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    return pairs[:top]
