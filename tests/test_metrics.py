"""compute_metrics against metrics counted by hand (no scikit-learn in the test), worst_confusions."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from pytest_vlm.scoring.metrics import METRICS, UNPARSEABLE, ClassMetrics, compute_metrics, worst_confusions


def reference(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]) -> dict:
    """The metrics, counted in plain Python."""
    per_class = {}
    for c in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = (precision, recall, f1, tp + fn)
    n = len(y_true)
    total_support = sum(s for *_, s in per_class.values())
    columns = list(labels) + ([UNPARSEABLE] if None in y_pred else [])
    confusion = [
        [
            sum(1 for t, p in zip(y_true, y_pred) if t == row and (UNPARSEABLE if p is None else p) == col)
            for col in columns
        ]
        for row in columns
    ]
    present = [f1 for (_, _, f1, s) in per_class.values() if s > 0]
    return {
        "accuracy": sum(1 for t, p in zip(y_true, y_pred) if t == p) / n,
        "macro_f1": sum(f1 for _, _, f1, _ in per_class.values()) / len(labels),
        "weighted_f1": sum(f1 * s for _, _, f1, s in per_class.values()) / total_support,
        "min_class_f1": min(present),
        "unparseable_rate": sum(1 for p in y_pred if p is None) / n,
        "per_class": per_class,
        "confusion_labels": tuple(columns),
        "confusion": tuple(tuple(row) for row in confusion),
    }


def assert_matches_reference(y_true: list[str], y_pred: list[str | None], labels: list[str]) -> None:
    m = compute_metrics(y_true, y_pred, labels, seconds=2.0, calls=3 * len(y_true), peak_memory_mb=12.5)
    ref = reference(y_true, y_pred, labels)
    assert m.n == len(y_true)
    for key in ("accuracy", "macro_f1", "weighted_f1", "min_class_f1", "unparseable_rate"):
        assert getattr(m, key) == pytest.approx(ref[key], abs=1e-12), key
    assert list(m.per_class) == labels
    for c, (precision, recall, f1, support) in ref["per_class"].items():
        got = m.per_class[c]
        assert got.precision == pytest.approx(precision, abs=1e-12), c
        assert got.recall == pytest.approx(recall, abs=1e-12), c
        assert got.f1 == pytest.approx(f1, abs=1e-12), c
        assert got.support == support, c
    assert m.confusion_labels == ref["confusion_labels"]
    assert m.confusion == ref["confusion"]
    assert m.images_per_second == pytest.approx(len(y_true) / 2.0)
    assert m.calls_per_image == pytest.approx(3.0)
    assert m.peak_memory_mb == 12.5


# --- a hand-worked example -------------------------------------------------------------------

Y_TRUE = ["cat", "cat", "cat", "cat", "dog", "dog", "dog", "bird", "bird", "bird"]
Y_PRED = ["cat", "cat", "dog", None, "dog", "dog", "cat", "bird", None, "dog"]
LABELS = ["cat", "dog", "bird", "fish"]  # "fish": in the class list, no images


def test_hand_worked_example() -> None:
    m = compute_metrics(Y_TRUE, Y_PRED, LABELS, seconds=4.0, calls=25, peak_memory_mb=100.0)
    # cat: tp 2, fp 1 (a dog), fn 2 -> p 2/3, r 1/2, f1 4/7
    # dog: tp 2, fp 2 (a cat, a bird), fn 1 -> p 1/2, r 2/3, f1 4/7
    # bird: tp 1, fp 0, fn 2 -> p 1, r 1/3, f1 1/2
    # fish: nothing -> 0, 0, 0, support 0
    assert m.per_class["cat"] == ClassMetrics(pytest.approx(2 / 3), 0.5, pytest.approx(4 / 7), 4)
    assert m.per_class["dog"] == ClassMetrics(0.5, pytest.approx(2 / 3), pytest.approx(4 / 7), 3)
    assert m.per_class["bird"] == ClassMetrics(1.0, pytest.approx(1 / 3), pytest.approx(0.5), 3)
    assert m.per_class["fish"] == ClassMetrics(0.0, 0.0, 0.0, 0)
    assert m.n == 10
    assert m.accuracy == pytest.approx(0.5)
    # macro over all four labels, fish included
    assert m.macro_f1 == pytest.approx((4 / 7 + 4 / 7 + 0.5 + 0.0) / 4)
    assert m.weighted_f1 == pytest.approx((4 / 7 * 4 + 4 / 7 * 3 + 0.5 * 3) / 10)
    # the worst class with images: fish (no images) does not count
    assert m.min_class_f1 == pytest.approx(0.5)
    assert m.unparseable_rate == pytest.approx(0.2)
    assert m.images_per_second == pytest.approx(2.5)
    assert m.calls_per_image == pytest.approx(2.5)
    assert m.peak_memory_mb == 100.0
    assert m.confusion_labels == ("cat", "dog", "bird", "fish", UNPARSEABLE)
    assert m.confusion == (
        (2, 1, 0, 0, 1),
        (1, 2, 0, 0, 0),
        (0, 1, 1, 0, 1),
        (0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0),
    )
    assert_matches_reference(Y_TRUE, Y_PRED, LABELS)


def test_none_predictions_count_wrong_and_credit_no_class() -> None:
    y_true = ["a", "a", "b", "b"]
    y_pred: list[str | None] = [None, "a", None, None]
    m = compute_metrics(y_true, y_pred, ["a", "b"], seconds=1.0, calls=4, peak_memory_mb=0.0)
    assert m.accuracy == 0.25
    assert m.unparseable_rate == 0.75
    assert m.per_class["a"].precision == 1.0  # None is not a wrong "a"
    assert m.per_class["a"].recall == 0.5
    assert m.per_class["b"].recall == 0.0
    assert m.per_class["b"].precision == 0.0
    assert m.confusion_labels == ("a", "b", UNPARSEABLE)
    assert m.confusion[0] == (1, 0, 1)
    assert m.confusion[1] == (0, 0, 2)
    assert_matches_reference(y_true, y_pred, ["a", "b"])


def test_all_unparseable() -> None:
    y_true = ["a", "b", "c"]
    m = compute_metrics(y_true, [None, None, None], ["a", "b", "c"], seconds=1.0, calls=3, peak_memory_mb=0.0)
    assert m.accuracy == 0.0
    assert m.macro_f1 == 0.0
    assert m.weighted_f1 == 0.0
    assert m.min_class_f1 == 0.0
    assert m.unparseable_rate == 1.0
    assert [row[-1] for row in m.confusion] == [1, 1, 1, 0]


def test_no_unparseable_column_without_none() -> None:
    m = compute_metrics(["a", "b"], ["b", "b"], ["a", "b"], seconds=1.0, calls=2, peak_memory_mb=0.0)
    assert m.confusion_labels == ("a", "b")
    assert m.confusion == ((0, 1), (0, 1))
    assert m.unparseable_rate == 0.0


def test_perfect_predictions() -> None:
    y = ["a", "b", "b", "c"]
    m = compute_metrics(y, list(y), ["a", "b", "c"], seconds=1.0, calls=4, peak_memory_mb=0.0)
    assert (m.accuracy, m.macro_f1, m.weighted_f1, m.min_class_f1) == (1.0, 1.0, 1.0, 1.0)
    assert m.confusion == ((1, 0, 0), (0, 2, 0), (0, 0, 1))


def test_class_without_support_lowers_macro_but_not_weighted_or_min() -> None:
    y = ["a", "b"]
    with_extra = compute_metrics(y, list(y), ["a", "b", "c"], seconds=1.0, calls=2, peak_memory_mb=0.0)
    assert with_extra.macro_f1 == pytest.approx(2 / 3)
    assert with_extra.weighted_f1 == 1.0
    assert with_extra.min_class_f1 == 1.0
    assert with_extra.per_class["c"] == ClassMetrics(0.0, 0.0, 0.0, 0)


def test_class_without_support_but_predicted() -> None:
    # "c" has no images but is predicted once: precision 0, and it still weighs in macro_f1.
    y_true = ["a", "a", "b"]
    y_pred: list[str | None] = ["a", "c", "b"]
    m = compute_metrics(y_true, y_pred, ["a", "b", "c"], seconds=1.0, calls=3, peak_memory_mb=0.0)
    assert m.per_class["c"] == ClassMetrics(0.0, 0.0, 0.0, 0)
    assert m.confusion[0] == (1, 0, 1)
    assert_matches_reference(y_true, y_pred, ["a", "b", "c"])


@pytest.mark.parametrize("seed", range(12))
def test_random_cases_match_hand_counting(seed: int) -> None:
    rng = random.Random(seed)
    labels = [f"class{i}" for i in range(rng.randint(2, 6))]
    n = rng.randint(1, 40)
    # leave some labels out of y_true so that classes without support occur
    true_pool = labels[: rng.randint(1, len(labels))]
    y_true = [rng.choice(true_pool) for _ in range(n)]
    y_pred: list[str | None] = [
        None if rng.random() < 0.15 else (t if rng.random() < 0.5 else rng.choice(labels)) for t in y_true
    ]
    assert_matches_reference(y_true, y_pred, labels)


def test_images_per_second_and_calls_per_image() -> None:
    m = compute_metrics(["a", "b"] * 4, ["a", "b"] * 4, ["a", "b"], seconds=0.5, calls=20, peak_memory_mb=1.0)
    assert m.images_per_second == 16.0
    assert m.calls_per_image == 2.5
    zero = compute_metrics(["a", "b"], ["a", "b"], ["a", "b"], seconds=0.0, calls=2, peak_memory_mb=1.0)
    assert math.isinf(zero.images_per_second)


def test_value_and_to_dict() -> None:
    m = compute_metrics(Y_TRUE, Y_PRED, LABELS, seconds=4.0, calls=25, peak_memory_mb=100.0)
    for name in METRICS:
        if name.endswith("_lower"):  # interval ends: tested in test_stats.py
            continue
        assert m.value(name) == pytest.approx(float(getattr(m, name)))
    with pytest.raises(KeyError):
        m.value("n")  # a field, but not a metric
    with pytest.raises(KeyError):
        m.value("acuracy")
    d = m.to_dict()
    assert d["accuracy"] == m.accuracy
    assert d["per_class"]["cat"]["support"] == 4
    assert d["confusion_labels"] == m.confusion_labels


def test_metric_directions() -> None:
    assert {name for name, info in METRICS.items() if not info.higher_is_better} == {
        "unparseable_rate",
        "peak_memory_mb",
        "calls_per_image",
    }


def test_length_mismatch_error() -> None:
    with pytest.raises(ValueError) as exc:
        compute_metrics(["a", "b", "a"], ["a", "b"], ["a", "b"], seconds=1.0, calls=1, peak_memory_mb=0.0)
    assert str(exc.value) == "3 true labels but 2 predictions"


def test_empty_error() -> None:
    with pytest.raises(ValueError) as exc:
        compute_metrics([], [], ["a"], seconds=1.0, calls=0, peak_memory_mb=0.0)
    assert str(exc.value) == "no predictions to score"


# --- worst_confusions ------------------------------------------------------------------------


def test_worst_confusions_most_frequent_first() -> None:
    y_true = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    y_pred: list[str | None] = ["b", "b", "b", "a"] + ["c", "c", "a", "b"] + [None, None, "c", "a"]
    m = compute_metrics(y_true, y_pred, ["a", "b", "c"], seconds=1.0, calls=12, peak_memory_mb=0.0)
    assert worst_confusions(m) == [("a", "b", 3), ("b", "c", 2), ("c", UNPARSEABLE, 2)]
    assert worst_confusions(m, top=10) == [
        ("a", "b", 3),
        ("b", "c", 2),
        ("c", UNPARSEABLE, 2),
        ("b", "a", 1),
        ("c", "a", 1),
    ]
    assert worst_confusions(m, top=1) == [("a", "b", 3)]


def test_worst_confusions_empty_when_all_right() -> None:
    m = compute_metrics(["a", "b"], ["a", "b"], ["a", "b"], seconds=1.0, calls=2, peak_memory_mb=0.0)
    assert worst_confusions(m) == []
