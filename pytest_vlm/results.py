"""What one benchmark item produced: plain data that travels from xdist workers to the controller."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_vlm.baseline.comparison import Comparison
from pytest_vlm.baseline.thresholds import Check, Threshold
from pytest_vlm.scoring.metrics import ClassMetrics, Interval, Metrics
from pytest_vlm.strategies.base import ImagePrediction


@dataclass(frozen=True)
class SweepPoint:
    """Closed-set results on a seeded subset of ``classes`` classes (the ``class_counts`` sweep)."""

    classes: int
    class_names: tuple[str, ...]
    images: int
    accuracy: float
    macro_f1: float
    unparseable_rate: float


@dataclass(frozen=True)
class ItemResult:
    nodeid: str
    benchmark: str
    model: str
    strategy: str
    kind: str
    status: str  # "passed", "failed" (gate or snapshot) or "error" (could not run)
    metrics: Metrics | None = None
    checks: tuple[Check, ...] = ()
    predictions: tuple[ImagePrediction, ...] = ()
    flips: int = 0
    snapshot: str = ""  # "matched", "changed", "missing", "recorded", "unchanged", "off" or ""
    failures: tuple[str, ...] = ()
    model_info: dict[str, Any] = field(default_factory=dict)
    cache_hits: int | None = None  # answers served by the result cache; None: not cached
    cache_requests: int = 0  # requests the strategy made
    sweep: tuple[SweepPoint, ...] = ()
    comparison: Comparison | None = None  # against the baseline, when there is one
    diagnostics: dict[str, Any] = field(default_factory=dict)  # closed-set vote agreement and position bias
    thumbnails: dict[str, str] = field(default_factory=dict)  # flipped images as PNG data URIs (--vlm-html)
    # Where the time went: wall and model seconds, requests computed and cached, warm in-memory entries.
    speed: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["comparison"] = self.comparison.to_dict() if self.comparison is not None else None
        data["checks"] = [
            {
                "metric": c.threshold.metric,
                "threshold": str(c.threshold),
                "value": c.actual,
                "margin": c.margin,
                "passed": c.passed,
            }
            for c in self.checks
        ]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemResult:
        data = dict(data)
        if data.get("metrics") is not None:
            metrics = dict(data["metrics"])
            metrics["per_class"] = {k: ClassMetrics(**v) for k, v in metrics["per_class"].items()}
            metrics["confusion_labels"] = tuple(metrics["confusion_labels"])
            metrics["confusion"] = tuple(tuple(row) for row in metrics["confusion"])
            metrics["intervals"] = {k: Interval(**v) for k, v in metrics.get("intervals", {}).items()}
            data["metrics"] = Metrics(**metrics)
        data["checks"] = tuple(
            Check(Threshold(c["metric"], *_split_threshold(c["threshold"])), c["value"]) for c in data["checks"]
        )
        data["predictions"] = tuple(
            ImagePrediction(**{**p, **{k: tuple(p[k]) for k in ("asked", "raw", "parsed")}})
            for p in data["predictions"]
        )
        data["failures"] = tuple(data["failures"])
        data["sweep"] = tuple(
            SweepPoint(**{**p, "class_names": tuple(p["class_names"])}) for p in data.get("sweep", ())
        )
        if data.get("comparison") is not None:
            data["comparison"] = Comparison.from_dict(data["comparison"])
        return cls(**data)


def _split_threshold(text: str) -> tuple[str, float]:
    op, value = text.split()
    return op, float(value)
