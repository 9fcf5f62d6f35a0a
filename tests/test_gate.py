"""Thresholds: parsing, checking, margins, violations."""

from __future__ import annotations

import pytest

from pytest_vlm.baseline.thresholds import Check, Threshold, check, parse_threshold, violations
from pytest_vlm.scoring.metrics import METRICS, compute_metrics

KNOWN = ", ".join(METRICS)


@pytest.mark.parametrize(
    ("metric", "text", "op", "value"),
    [
        ("accuracy", ">= 0.9", ">=", 0.9),
        ("accuracy", ">0.9", ">", 0.9),
        ("accuracy", "> 0.9", ">", 0.9),
        ("accuracy", "  >=  .75 ", ">=", 0.75),
        ("unparseable_rate", "<= 0.05", "<=", 0.05),
        ("unparseable_rate", "< 0.05", "<", 0.05),
        ("unparseable_rate", "<0.05", "<", 0.05),
        ("images_per_second", ">= 1e3", ">=", 1000.0),
        ("images_per_second", ">= 2.5E-1", ">=", 0.25),
        ("peak_memory_mb", "<= 2048", "<=", 2048.0),
        ("macro_f1", ">= 1.", ">=", 1.0),
        ("min_class_f1", ">= -0.5", ">=", -0.5),
        ("min_class_f1", ">= +0.5", ">=", 0.5),
        # bare numbers: "at least" for higher-is-better, "at most" for lower-is-better
        ("accuracy", 0.9, ">=", 0.9),
        ("accuracy", "0.9", ">=", 0.9),
        ("accuracy", 1, ">=", 1.0),
        ("weighted_f1", "0.8", ">=", 0.8),
        ("images_per_second", 10, ">=", 10.0),
        ("unparseable_rate", 0.05, "<=", 0.05),
        ("unparseable_rate", "0.05", "<=", 0.05),
        ("peak_memory_mb", 4096, "<=", 4096.0),
        ("calls_per_image", "3", "<=", 3.0),
        # explicit operators win over the default direction
        ("unparseable_rate", ">= 0.0", ">=", 0.0),
        ("accuracy", "< 0.99", "<", 0.99),
    ],
)
def test_parse_threshold(metric: str, text: object, op: str, value: float) -> None:
    assert parse_threshold(metric, text) == Threshold(metric, op, value)


def test_every_metric_has_a_default_direction() -> None:
    for name, info in METRICS.items():
        assert parse_threshold(name, 1).op == (">=" if info.higher_is_better else "<=")


def test_threshold_str() -> None:
    assert str(parse_threshold("accuracy", ">= 0.90")) == ">= 0.9"
    assert str(parse_threshold("unparseable_rate", "0.05")) == "<= 0.05"
    assert str(parse_threshold("images_per_second", "> 1000")) == "> 1000"


def test_unknown_metric_with_did_you_mean() -> None:
    with pytest.raises(ValueError) as exc:
        parse_threshold("acuracy", ">= 0.9")
    assert str(exc.value) == f"unknown metric 'acuracy' (did you mean 'accuracy'?); known metrics: {KNOWN}"


def test_unknown_metric_without_close_match() -> None:
    with pytest.raises(ValueError) as exc:
        parse_threshold("bleu", ">= 0.9")
    assert str(exc.value) == f"unknown metric 'bleu'; known metrics: {KNOWN}"


@pytest.mark.parametrize("text", ["=> 0.9", "== 0.9", "= 0.9", "at least 0.9", ">= ", "", ">= 0.9 0.1", "90%", "0,9"])
def test_unreadable_threshold(text: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_threshold("accuracy", text)
    assert str(exc.value) == (f"cannot read threshold {text!r}; write it as '>= 0.9', '> 0.9', '<= 0.05' or '< 0.05'")


@pytest.mark.parametrize("value", [None, True, False, [0.9], {">=": 0.9}])
def test_threshold_of_the_wrong_type(value: object) -> None:
    with pytest.raises(ValueError) as exc:
        parse_threshold("accuracy", value)
    assert str(exc.value) == f"expected a threshold such as '>= 0.9', got {value!r}"


@pytest.mark.parametrize(
    ("text", "actual", "passed", "margin"),
    [
        (">= 0.9", 0.95, True, 0.05),
        (">= 0.9", 0.9, True, 0.0),
        (">= 0.9", 0.85, False, -0.05),
        ("> 0.9", 0.9, False, 0.0),
        ("> 0.9", 0.91, True, 0.01),
        ("<= 0.1", 0.05, True, 0.05),
        ("<= 0.1", 0.1, True, 0.0),
        ("<= 0.1", 0.25, False, -0.15),
        ("< 0.1", 0.1, False, 0.0),
        ("< 0.1", 0.0, True, 0.1),
    ],
)
def test_check_passed_and_margin(text: str, actual: float, passed: bool, margin: float) -> None:
    metric = "accuracy" if text.startswith(">") else "unparseable_rate"
    c = Check(parse_threshold(metric, text), actual)
    assert c.passed is passed
    assert c.margin == pytest.approx(margin)


def test_check_and_violations_against_metrics() -> None:
    metrics = compute_metrics(
        ["a", "a", "b", "b"], ["a", None, "b", "a"], ["a", "b"], seconds=2.0, calls=8, peak_memory_mb=50.0
    )
    thresholds = [
        parse_threshold("accuracy", ">= 0.5"),  # 0.5: passes (boundary)
        parse_threshold("accuracy", "> 0.5"),  # fails
        parse_threshold("unparseable_rate", "0.1"),  # 0.25 > 0.1: fails
        parse_threshold("images_per_second", ">= 2"),  # 2.0: passes
        parse_threshold("calls_per_image", "<= 2"),  # 2.0: passes
        parse_threshold("peak_memory_mb", "< 50"),  # fails
    ]
    checks = check(thresholds, metrics)
    assert [c.threshold for c in checks] == thresholds  # spec order kept
    assert [c.actual for c in checks] == [0.5, 0.5, 0.25, 2.0, 2.0, 50.0]
    assert [c.passed for c in checks] == [True, False, False, True, True, False]
    failed = violations(checks)
    assert [c.threshold.metric for c in failed] == ["accuracy", "unparseable_rate", "peak_memory_mb"]
    assert [str(c.threshold) for c in failed] == ["> 0.5", "<= 0.1", "< 50"]
    assert failed[1].margin == pytest.approx(-0.15)


def test_no_thresholds_no_violations() -> None:
    metrics = compute_metrics(["a", "b"], ["a", "b"], ["a", "b"], seconds=1.0, calls=2, peak_memory_mb=0.0)
    assert check([], metrics) == []
    assert violations([]) == []
