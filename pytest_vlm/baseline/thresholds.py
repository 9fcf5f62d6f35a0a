"""Thresholds on metrics: parsed from the spec, checked against a run, violations returned (not raised)."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_vlm.errors import did_you_mean
from pytest_vlm.scoring.metrics import METRICS, Metrics

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_THRESHOLD = re.compile(r"^\s*(>=|<=|>|<)?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"

    def holds(self, actual: float) -> bool:
        return bool(_OPS[self.op](actual, self.value))

    def margin(self, actual: float) -> float:
        """How far ``actual`` is on the good side of the threshold (negative: on the bad side)."""
        return actual - self.value if self.op in (">=", ">") else self.value - actual


def parse_threshold(metric: str, text: object) -> Threshold:
    """``("accuracy", ">= 0.9")`` -> Threshold. A bare number means "at least" (or "at most" for
    metrics where lower is better, such as ``unparseable_rate``)."""
    if metric not in METRICS:
        raise ValueError(
            f"unknown metric {metric!r}{did_you_mean(metric, METRICS)}; known metrics: {', '.join(METRICS)}"
        )
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"expected a threshold such as '>= 0.9', got {text!r}")
    match = _THRESHOLD.match(str(text))
    if not match:
        raise ValueError(f"cannot read threshold {text!r}; write it as '>= 0.9', '> 0.9', '<= 0.05' or '< 0.05'")
    op = match.group(1) or (">=" if METRICS[metric].higher_is_better else "<=")
    return Threshold(metric, op, float(match.group(2)))


@dataclass(frozen=True)
class Check:
    threshold: Threshold
    actual: float

    @property
    def passed(self) -> bool:
        return self.threshold.holds(self.actual)

    @property
    def margin(self) -> float:
        return self.threshold.margin(self.actual)


def check(thresholds: Sequence[Threshold], metrics: Metrics) -> list[Check]:
    """Every threshold checked against ``metrics``, in spec order. A metric that was not measured
    (NaN: ``images_per_second`` when the result cache served every answer) is not checked."""
    return [Check(t, value) for t in thresholds if not math.isnan(value := metrics.value(t.metric))]


def violations(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if not c.passed]
