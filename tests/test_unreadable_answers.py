"""What the model said when it could not be read: in the failure report, and kept in baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_vlm.baseline.snapshots import describe_diff, diff_baseline, serialize_predictions
from pytest_vlm.scoring.diagnostics import unreadable_answers
from pytest_vlm.strategies.base import ImagePrediction

SPEC = """
dataset: {generated: shapes, count: 21, seed: 7}
classes: [circle, square, triangle, star, cross, heart, background]
models: [scripted:noisy]
strategies: [closed_set]
thresholds: {accuracy: ">= 0.9"}
"""


def pred(image_id: str, raw: tuple[str, ...], parsed: tuple[str | None, ...], label: str = "cat") -> ImagePrediction:
    votes = [p for p in parsed if p is not None]
    prediction = max(set(votes), key=votes.count) if votes else None
    return ImagePrediction(image_id, label, prediction, asked=("q",) * len(raw), raw=raw, parsed=parsed)


def test_the_failure_report_quotes_the_commonest_unreadable_answers(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "worst confusions (true -> predicted: images): cross -> <unparseable>: 2, *",
            'unreadable answers, most common first: "I cannot tell." x18',
        ]
    )


def test_a_baseline_keeps_the_text_of_unreadable_answers(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.runpytest("--vlm-update-snapshots").assert_outcomes(failed=1)  # the threshold still fails
    path = pytester.path / "__vlm_snapshots__" / "shapes" / "scripted-noisy" / "closed_set.json"
    baseline = json.loads(path.read_text())
    unread = [entry for entry in baseline.values() if entry["prediction"] is None]
    assert len(unread) == 6
    assert all(entry["answers"] == [{"unparsed": "I cannot tell."}] * 3 for entry in unread)


def test_unreadable_answers_are_counted_most_common_first_and_clipped() -> None:
    long = "I see " + "a very long description " * 5
    predictions = [
        pred("a", ("Cat.", "Dunno", "Dunno"), ("cat", None, None)),
        pred("b", ("Dunno", "maybe", long), (None, None, None)),
        pred("c", ("cat", "cat", "cat"), ("cat", "cat", "cat")),
    ]
    assert unreadable_answers(predictions) == (
        'unreadable answers, most common first: "Dunno" x3, "maybe" x1, "I see a very long description a very long description a v..." x1'
    )
    assert unreadable_answers(predictions, top=1) == (
        'unreadable answers, most common first: "Dunno" x3 (and 2 other texts)'
    )
    assert unreadable_answers(predictions[2:]) is None


def test_a_changed_unreadable_text_is_a_changed_answer(tmp_path: Path) -> None:
    before = [pred("a", ("Dunno", "Cat"), (None, "cat"))]
    after = [pred("a", ("No idea", "Cat"), (None, "cat"))]
    diff = diff_baseline(json.loads(serialize_predictions(before)), after)
    assert diff.answers_changed == ("a",) and not diff.flips


def test_an_older_baseline_without_the_text_still_matches_and_says_to_re_record(tmp_path: Path) -> None:
    now = [pred("a", ("Dunno", "Cat"), (None, "cat"))]
    older = {"a": {"label": "cat", "prediction": "cat", "answers": [None, "cat"]}}
    diff = diff_baseline(older, now)
    assert not diff.answers_changed and diff.unparsed_without_text == ("a",)
    assert describe_diff(diff, tmp_path / "b.json") == [
        "1 image(s) have unreadable answers that the baseline stores as null (an older pytest-vlm): re-record it "
        "with --vlm-update-snapshots to keep what the model said",
        f"baseline: {tmp_path / 'b.json'}",
    ]
