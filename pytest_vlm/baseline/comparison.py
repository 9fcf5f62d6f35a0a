"""A run compared with its baseline, and the gates that decide whether a difference is a regression.

By default any prediction that differs from the baseline fails the item (runner.check_snapshot).
A spec or strategy that sets ``baseline:`` gates replaces that exact match with them:

- ``max_flip_rate``: a churn budget, the share of images whose prediction may change;
- ``no_significant_drop``: an exact McNemar test on the images that changed between right and
  wrong; it fails only when the new run lost more images than it gained *and* the one-sided
  p-value is below ``alpha``.

The flips are reported either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_vlm.baseline.significance import mcnemar_exact
from pytest_vlm.baseline.snapshots import Flip, diff_baseline
from pytest_vlm.errors import did_you_mean
from pytest_vlm.scoring.metrics import compute_metrics
from pytest_vlm.strategies.base import ImagePrediction

GATE_KEYS = ("max_flip_rate", "no_significant_drop")
DEFAULT_ALPHA = 0.05


class GateSpecError(ValueError):
    """A ``baseline:`` mapping is invalid; ``keys`` is the path below it."""

    def __init__(self, keys: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.keys = keys


@dataclass(frozen=True)
class BaselineGates:
    max_flip_rate: float | None = None
    alpha: float | None = None  # no_significant_drop's significance level; None: off

    @property
    def active(self) -> bool:
        return self.max_flip_rate is not None or self.alpha is not None


def _fraction(value: Any, keys: tuple[str, ...], *, open_interval: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GateSpecError(keys, f"expected a number between 0 and 1, got {type(value).__name__} {value!r}")
    low_ok = value > 0 if open_interval else value >= 0
    high_ok = value < 1 if open_interval else value <= 1
    if not (low_ok and high_ok):
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise GateSpecError(keys, f"must be {bounds}, got {value}")
    return float(value)


def parse_baseline_gates(value: Any) -> dict[str, float | None]:
    """A ``baseline:`` mapping -> the gate settings it names (keys it leaves out are absent)."""
    if not isinstance(value, Mapping):
        raise GateSpecError((), f"expected a mapping such as '{{max_flip_rate: 0.05}}', got {value!r}")
    parts: dict[str, float | None] = {}
    for key, raw in value.items():
        if key not in GATE_KEYS:
            raise GateSpecError(
                (str(key),), f"unknown key{did_you_mean(str(key), GATE_KEYS)}; allowed keys: {', '.join(GATE_KEYS)}"
            )
        if key == "max_flip_rate":
            parts["max_flip_rate"] = _fraction(raw, (key,))
        elif raw is True:
            parts["alpha"] = DEFAULT_ALPHA
        elif raw is False:
            parts["alpha"] = None
        elif isinstance(raw, Mapping):
            unknown = [k for k in raw if k != "alpha"]
            if unknown:
                raise GateSpecError((key, str(unknown[0])), "unknown key; the only key is 'alpha'")
            parts["alpha"] = _fraction(raw.get("alpha", DEFAULT_ALPHA), (key, "alpha"), open_interval=True)
        else:
            raise GateSpecError((key,), f"expected true, false or {{alpha: 0.05}}, got {raw!r}")
    return parts


def merge_gates(*parts: Mapping[str, float | None]) -> BaselineGates:
    """Later parts (a strategy's own) replace earlier ones (the spec-wide) key by key."""
    merged: dict[str, float | None] = {}
    for part in parts:
        merged.update(part)
    return BaselineGates(**merged)


@dataclass(frozen=True)
class Comparison:
    """A run against a baseline, over the images both have."""

    baseline: str  # the baseline's model name
    path: str  # its file
    n: int
    flips: tuple[Flip, ...]
    b: int  # baseline right, now wrong
    c: int  # baseline wrong, now right
    p_worse: float  # one-sided exact McNemar
    p_two_sided: float
    accuracy_old: float
    accuracy_new: float
    macro_f1_old: float
    macro_f1_new: float
    f1_delta: dict[str, float]  # per class, new - old
    added: int = 0  # images not in the baseline
    removed: int = 0  # baseline images not in this run
    gates: tuple[dict[str, Any], ...] = field(default=())  # {"gate", "passed", "detail"} per configured gate

    @property
    def failed_gates(self) -> list[dict[str, Any]]:
        return [g for g in self.gates if not g["passed"]]

    @property
    def flip_rate(self) -> float:
        return len(self.flips) / self.n if self.n else 0.0

    @property
    def accuracy_delta(self) -> float:
        return self.accuracy_new - self.accuracy_old

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["flip_rate"] = self.flip_rate
        data["accuracy_delta"] = self.accuracy_delta
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        data = {k: v for k, v in data.items() if k not in ("flip_rate", "accuracy_delta")}
        data["flips"] = tuple(Flip(**f) for f in data["flips"])
        data["gates"] = tuple(data.get("gates", ()))
        return cls(**data)

    def summary(self) -> str:
        """One line: how many flipped, in which direction, the accuracy change and the test."""
        return (
            f"vs {self.baseline}: {len(self.flips)} of {self.n} flipped ({self.flip_rate:.1%}; "
            f"{self.b} now wrong, {self.c} now right), accuracy {self.accuracy_old:.3f} -> {self.accuracy_new:.3f} "
            f"({self.accuracy_delta:+.3f}), McNemar p={self.p_worse:.3g}"
        )


def compare(
    baseline: Mapping[str, Mapping[str, Any]],
    predictions: Sequence[ImagePrediction],
    classes: Sequence[str],
    *,
    baseline_name: str,
    path: str,
) -> Comparison:
    """Flips, discordant pairs, accuracy and per-class F1 of both runs over the images both have."""
    diff = diff_baseline(dict(baseline), predictions)
    common = [p for p in predictions if p.image_id in baseline]
    old = [baseline[p.image_id].get("prediction") for p in common]
    b = sum(1 for p, o in zip(common, old) if o == p.label and not p.correct)
    c = sum(1 for p, o in zip(common, old) if o != p.label and p.correct)
    test = mcnemar_exact(b, c)
    if common:
        labels = [p.label for p in common]
        before = compute_metrics(labels, old, classes, seconds=1.0, calls=0, peak_memory_mb=0.0)
        after = compute_metrics(
            labels, [p.prediction for p in common], classes, seconds=1.0, calls=0, peak_memory_mb=0.0
        )
        acc = (before.accuracy, after.accuracy)
        macro = (before.macro_f1, after.macro_f1)
        deltas = {k: after.per_class[k].f1 - before.per_class[k].f1 for k in classes}
    else:
        acc, macro, deltas = (0.0, 0.0), (0.0, 0.0), {k: 0.0 for k in classes}
    return Comparison(
        baseline=baseline_name,
        path=path,
        n=len(common),
        flips=diff.flips,
        b=b,
        c=c,
        p_worse=test.p_worse,
        p_two_sided=test.p_two_sided,
        accuracy_old=acc[0],
        accuracy_new=acc[1],
        macro_f1_old=macro[0],
        macro_f1_new=macro[1],
        f1_delta=deltas,
        added=len(diff.added),
        removed=len(diff.removed),
    )


def evaluate(gates: BaselineGates, comparison: Comparison) -> tuple[dict[str, Any], ...]:
    """Each configured gate's verdict with a sentence that says why."""
    results = []
    if gates.max_flip_rate is not None:
        passed = comparison.flip_rate <= gates.max_flip_rate
        results.append(
            {
                "gate": "max_flip_rate",
                "passed": passed,
                "detail": f"flip rate {comparison.flip_rate:.4f} ({len(comparison.flips)} of {comparison.n} images) "
                f"{'<=' if passed else '>'} max_flip_rate {gates.max_flip_rate:g}",
            }
        )
    if gates.alpha is not None:
        b, c, p = comparison.b, comparison.c, comparison.p_worse
        significant = b > c and p < gates.alpha
        if significant:
            verdict = f"p < alpha {gates.alpha:g}: a significant drop"
        elif b > c:
            verdict = f"p >= alpha {gates.alpha:g}: a drop within noise"
        else:
            verdict = "no drop"
        results.append(
            {
                "gate": "no_significant_drop",
                "passed": not significant,
                "detail": f"{b} image(s) now wrong, {c} now right; exact McNemar one-sided p={p:.4g}, {verdict}",
            }
        )
    return tuple(results)
