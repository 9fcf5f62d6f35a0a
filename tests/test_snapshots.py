"""Baseline files: serialisation, reading, diffing and describing diffs (pure functions only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_vlm.baseline.snapshots import (
    SNAPSHOT_DIRNAME,
    BaselineDiff,
    Flip,
    describe_diff,
    diff_baseline,
    read_baseline,
    serialize_predictions,
    snapshot_path,
)
from pytest_vlm.strategies.base import ImagePrediction


def pred(
    image_id: str, label: str, prediction: str | None, parsed: tuple[str | None, ...] | None = None
) -> ImagePrediction:
    parsed = (prediction,) if parsed is None else parsed
    raw = tuple(answer.capitalize() if answer is not None else "I cannot tell." for answer in parsed)
    return ImagePrediction(image_id, label, prediction, asked=("q",) * len(parsed), raw=raw, parsed=parsed)


PREDICTIONS = [
    pred("star-0-00003", "star", "star", ("star", "star", "heart")),
    pred("circle-0-00000", "circle", None, (None, None, None)),
    pred("café/ü", "heart", "heart", ("heart", None, "heart")),
    pred("square-0-00001", "square", "circle", ("circle", "circle", "square")),
]


# --- serialize_predictions -------------------------------------------------------------------


def test_serialize_predictions_exact_format() -> None:
    text = serialize_predictions([p for p in PREDICTIONS if p.image_id.isascii()])
    assert text == (
        "{\n"
        '  "circle-0-00000": {"label": "circle", "prediction": null, "answers": '
        '[{"unparsed": "I cannot tell."}, {"unparsed": "I cannot tell."}, {"unparsed": "I cannot tell."}]},\n'
        '  "square-0-00001": {"label": "square", "prediction": "circle", "answers": ["circle", "circle", "square"]},\n'
        '  "star-0-00003": {"label": "star", "prediction": "star", "answers": ["star", "star", "heart"]}\n'
        "}\n"
    )


def test_serialize_predictions_is_sorted_one_image_per_line_and_valid_json() -> None:
    text = serialize_predictions(PREDICTIONS)
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    body = lines[1:-1]
    assert len(body) == len(PREDICTIONS)
    ids = [json.loads(line.strip().rstrip(",").split(": ", 1)[0]) for line in body]
    assert ids == sorted(p.image_id for p in PREDICTIONS)
    data = json.loads(text)
    assert list(data) == ids
    assert data["square-0-00001"] == {
        "label": "square",
        "prediction": "circle",
        "answers": ["circle", "circle", "square"],
    }
    assert data["circle-0-00000"]["prediction"] is None
    assert data["café/ü"]["answers"] == ["heart", {"unparsed": "I cannot tell."}, "heart"]


def test_serialize_predictions_does_not_depend_on_input_order() -> None:
    assert serialize_predictions(PREDICTIONS) == serialize_predictions(list(reversed(PREDICTIONS)))


def test_serialize_predictions_keeps_only_label_prediction_answers() -> None:
    a = pred("x", "cat", "cat")
    b = ImagePrediction("x", "cat", "cat", asked=("other order",), raw=("Cat!",), parsed=("cat",))
    assert serialize_predictions([a]) == serialize_predictions([b])


def test_serialize_no_predictions_is_valid_json() -> None:
    assert json.loads(serialize_predictions([])) == {}


def test_snapshot_path(tmp_path: Path) -> None:
    assert snapshot_path(tmp_path, "cats", "scripted:oracle", "closed_set") == (
        tmp_path / SNAPSHOT_DIRNAME / "cats" / "scripted-oracle" / "closed_set.json"
    )
    assert snapshot_path(tmp_path, "a b", "Qwen/Qwen2-VL", "bin.v2+x").relative_to(tmp_path).parts == (
        SNAPSHOT_DIRNAME,
        "a-b",
        "Qwen-Qwen2-VL",
        "bin.v2+x.json",
    )


# --- read_baseline ---------------------------------------------------------------------------


def test_read_baseline_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "closed_set.json"
    path.write_text(serialize_predictions(PREDICTIONS), encoding="utf-8")
    baseline = read_baseline(path)
    assert baseline is not None
    assert set(baseline) == {p.image_id for p in PREDICTIONS}
    assert diff_baseline(baseline, PREDICTIONS).empty


def test_read_baseline_missing_is_none(tmp_path: Path) -> None:
    assert read_baseline(tmp_path / "nothing.json") is None


@pytest.mark.parametrize("content", ['{"a": {"label": "cat",', "", "not json"])
def test_read_baseline_corrupt(tmp_path: Path, content: str) -> None:
    path = tmp_path / "closed_set.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as exc:
        read_baseline(path)
    message = str(exc.value)
    assert message.startswith(f"baseline {path} is not readable JSON (")
    assert message.endswith("); restore it from version control or re-record it with --vlm-update-snapshots")


def test_read_baseline_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "closed_set.json"
    path.write_bytes(b'{"\xff": 1}')
    with pytest.raises(ValueError, match="is not readable JSON"):
        read_baseline(path)


# --- diff_baseline ---------------------------------------------------------------------------


def baseline_of(predictions: list[ImagePrediction]) -> dict:
    return json.loads(serialize_predictions(predictions))


def test_diff_identical_is_empty() -> None:
    diff = diff_baseline(baseline_of(PREDICTIONS), PREDICTIONS)
    assert diff == BaselineDiff(flips=(), answers_changed=(), added=(), removed=())
    assert diff.empty


def test_diff_flips_answers_added_removed() -> None:
    old = [
        pred("a", "cat", "cat"),  # right -> wrong
        pred("b", "dog", "cat"),  # wrong -> right
        pred("c", "cat", "dog"),  # wrong -> other wrong
        pred("d", "cat", None, (None,)),  # unparseable -> right
        pred("e", "dog", "dog", ("dog", "dog", "cat")),  # same prediction, answers differ
        pred("f", "dog", "dog"),  # unchanged
        pred("gone", "cat", "cat"),
    ]
    new = [
        pred("a", "cat", None, (None,)),
        pred("b", "dog", "dog"),
        pred("c", "cat", "bird"),
        pred("d", "cat", "cat"),
        pred("e", "dog", "dog", ("dog", "cat", "dog")),
        pred("f", "dog", "dog"),
        pred("new2", "cat", "cat"),
        pred("new1", "cat", "cat"),
    ]
    diff = diff_baseline(baseline_of(old), new)
    assert diff.flips == (
        Flip("a", "cat", "cat", None),
        Flip("b", "dog", "cat", "dog"),
        Flip("c", "cat", "dog", "bird"),
        Flip("d", "cat", None, "cat"),
    )
    assert diff.answers_changed == ("e",)
    assert diff.added == ("new1", "new2")
    assert diff.removed == ("gone",)
    assert not diff.empty


def test_diff_flip_takes_the_current_label() -> None:
    baseline = {"x": {"label": "old-label", "prediction": "cat", "answers": ["cat"]}}
    diff = diff_baseline(baseline, [pred("x", "dog", "dog")])
    assert diff.flips == (Flip("x", "dog", "cat", "dog"),)


def test_diff_answers_changed_only_when_prediction_same() -> None:
    baseline = baseline_of([pred("x", "cat", "cat", ("cat", "dog", "cat"))])
    diff = diff_baseline(baseline, [pred("x", "cat", "cat", ("cat", None, "cat"))])
    assert diff.flips == ()
    assert diff.answers_changed == ("x",)


@pytest.mark.parametrize(
    ("diff", "empty"),
    [
        (BaselineDiff((), (), (), ()), True),
        (BaselineDiff((Flip("a", "c", "c", "d"),), (), (), ()), False),
        (BaselineDiff((), ("a",), (), ()), False),
        (BaselineDiff((), (), ("a",), ()), False),
        (BaselineDiff((), (), (), ("a",)), False),
    ],
)
def test_diff_empty(diff: BaselineDiff, empty: bool) -> None:
    assert diff.empty is empty


# --- describing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flip", "text"),
    [
        (Flip("a", "cat", "cat", "dog"), "a: cat -> dog (true: cat)  (was right, now wrong)"),
        (Flip("a", "cat", "cat", None), "a: cat -> <unparseable> (true: cat)  (was right, now wrong)"),
        (Flip("b", "dog", "cat", "dog"), "b: cat -> dog (true: dog)  (was wrong, now right)"),
        (Flip("b", "dog", None, "dog"), "b: <unparseable> -> dog (true: dog)  (was wrong, now right)"),
        (Flip("c", "cat", "dog", "bird"), "c: dog -> bird (true: cat)"),
        (Flip("c", "cat", "dog", None), "c: dog -> <unparseable> (true: cat)"),
    ],
)
def test_flip_describe(flip: Flip, text: str) -> None:
    assert flip.describe() == text


def test_describe_diff_text(tmp_path: Path) -> None:
    path = tmp_path / "closed_set.json"
    diff = BaselineDiff(
        flips=(Flip("a", "cat", "cat", "dog"), Flip("b", "dog", "cat", "dog"), Flip("c", "cat", "dog", "bird")),
        answers_changed=("e",),
        added=("n1", "n2"),
        removed=("gone",),
    )
    assert describe_diff(diff, path) == [
        "3 image(s) changed prediction (1 now wrong, 1 now right):",
        "  a: cat -> dog (true: cat)  (was right, now wrong)",
        "  b: cat -> dog (true: dog)  (was wrong, now right)",
        "  c: dog -> bird (true: cat)",
        "1 image(s) kept their prediction but answered differently: e",
        "2 image(s) not in the baseline: n1, n2",
        "1 image(s) in the baseline but not in this run: gone",
        f"baseline: {path}",
    ]


def test_describe_empty_diff_names_only_the_baseline(tmp_path: Path) -> None:
    assert describe_diff(BaselineDiff((), (), (), ()), tmp_path / "b.json") == [f"baseline: {tmp_path / 'b.json'}"]


def test_describe_diff_limits(tmp_path: Path) -> None:
    flips = tuple(Flip(f"img{i:02d}", "cat", "cat", "dog") for i in range(25))
    ids = tuple(f"id{i}" for i in range(7))
    lines = describe_diff(BaselineDiff(flips, ids, ids, ()), tmp_path / "b.json", limit=20)
    assert lines[0] == "25 image(s) changed prediction (25 now wrong, 0 now right):"
    assert lines[1:21] == [f"  img{i:02d}: cat -> dog (true: cat)  (was right, now wrong)" for i in range(20)]
    assert lines[21] == "  ... and 5 more (see --vlm-json for all)"
    assert lines[22] == "7 image(s) kept their prediction but answered differently: id0, id1, id2, id3, id4 ..."
    assert lines[23] == "7 image(s) not in the baseline: id0, id1, id2, id3, id4 ..."
    assert lines[24] == f"baseline: {tmp_path / 'b.json'}"
    assert len(lines) == 25


def test_describe_diff_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "closed_set.json"
    path.write_text(serialize_predictions([pred("x", "cat", "cat"), pred("y", "dog", "dog")]), encoding="utf-8")
    baseline = read_baseline(path)
    assert baseline is not None
    diff = diff_baseline(baseline, [pred("x", "cat", "dog"), pred("y", "dog", "dog")])
    lines = describe_diff(diff, path)
    assert lines == [
        "1 image(s) changed prediction (1 now wrong, 0 now right):",
        "  x: cat -> dog (true: cat)  (was right, now wrong)",
        f"baseline: {path}",
    ]
