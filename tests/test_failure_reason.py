"""The one-line reason of a failed item (pytest's short test summary)."""

from __future__ import annotations

import pytest

from pytest_vlm.baseline.comparison import Comparison
from pytest_vlm.baseline.thresholds import Check, parse_threshold
from pytest_vlm.failure_reason import short_reason
from pytest_vlm.results import ItemResult


def result(**fields: object) -> ItemResult:
    return ItemResult(nodeid="", benchmark="b", model="m", strategy="s", kind="closed_set", status="failed", **fields)  # type: ignore[arg-type]


def comparison(*gates: tuple[str, bool]) -> Comparison:
    return Comparison(
        baseline="m", path="p", n=10, flips=(), b=0, c=0, p_worse=1.0, p_two_sided=1.0, accuracy_old=1.0,
        accuracy_new=1.0, macro_f1_old=1.0, macro_f1_new=1.0, f1_delta={},
        gates=tuple({"gate": name, "passed": passed, "detail": ""} for name, passed in gates),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("metric", "threshold", "actual", "reason"),
    [
        ("accuracy", ">= 0.96", 0.9512, "accuracy 0.951 < 0.96"),
        ("macro_f1", "> 0.9", 0.9, "macro_f1 0.900 <= 0.9"),
        ("unparseable_rate", "0.01", 0.0342, "unparseable_rate 0.034 > 0.01"),  # lower is better: "at most"
        ("unparseable_rate", "< 0.01", 0.01, "unparseable_rate 0.010 >= 0.01"),
    ],
)
def test_a_failed_threshold_reads_as_the_broken_inequality(
    metric: str, threshold: str, actual: float, reason: str
) -> None:
    assert short_reason(result(checks=(Check(parse_threshold(metric, threshold), actual),))) == reason


def test_only_the_failed_thresholds_are_named() -> None:
    checks = (Check(parse_threshold("accuracy", ">= 0.9"), 0.95), Check(parse_threshold("macro_f1", ">= 0.9"), 0.85))
    assert short_reason(result(checks=checks)) == "macro_f1 0.850 < 0.9"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"snapshot": "missing"}, "no baseline yet"),
        ({"snapshot": "error"}, "baseline unreadable"),
        ({"snapshot": "changed", "flips": 1}, "1 image flipped"),
        ({"snapshot": "changed", "flips": 3}, "3 images flipped"),
        ({"snapshot": "changed", "flips": 0}, "baseline file differs"),
        (
            {"snapshot": "changed", "flips": 3, "comparison": comparison(("max_flip_rate", False))},
            "3 images flipped (max_flip_rate failed)",
        ),
        ({"snapshot": "matched"}, "failed"),
    ],
)
def test_the_baseline_verdict(fields: dict[str, object], reason: str) -> None:
    assert short_reason(result(**fields)) == reason


def test_flips_within_the_baseline_gates_are_not_a_reason() -> None:
    checks = (Check(parse_threshold("accuracy", ">= 0.9"), 0.8),)
    within = comparison(("max_flip_rate", True), ("no_significant_drop", True))
    assert short_reason(result(checks=checks, snapshot="changed", flips=2, comparison=within)) == "accuracy 0.800 < 0.9"
    outside = comparison(("max_flip_rate", True), ("no_significant_drop", False))
    assert short_reason(result(checks=checks, snapshot="changed", flips=2, comparison=outside)) == (
        "accuracy 0.800 < 0.9; 2 images flipped (no_significant_drop failed)"
    )
