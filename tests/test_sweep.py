"""The class-count sweep: seeded subsets, spec errors, and accuracy per size end to end."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from pytest_vlm.errors import SpecError
from pytest_vlm.models.scripted import _is_noisy
from pytest_vlm.spec import parse_spec
from pytest_vlm.strategies.class_subsets import check_class_counts, class_subset

CLASSES = ("circle", "square", "triangle", "star", "cross", "heart", "background")


def test_subset_is_seeded_by_sha256_keeps_background_and_class_order() -> None:
    subset = class_subset(CLASSES, "background", 4, seed=0)
    assert len(subset) == 4 and "background" in subset
    assert list(subset) == [c for c in CLASSES if c in subset]
    # The same draw done by hand: sha256 of "seed, class_counts, n" seeds a sample of the sorted others.
    digest = hashlib.sha256(b"0\x1fclass_counts\x1f4").digest()
    expected = random.Random(int.from_bytes(digest[:8], "big")).sample(sorted(CLASSES[:6]), 3)
    assert set(subset) == {*expected, "background"}
    assert class_subset(tuple(reversed(CLASSES)), "background", 4, seed=0) == tuple(reversed(subset))
    draws = {class_subset(CLASSES, "background", 4, seed=s) for s in range(20)}
    assert len(draws) > 3  # the seed matters


def test_subset_without_background_has_n_classes() -> None:
    assert len(class_subset(CLASSES, None, 3, seed=1)) == 3
    assert class_subset(CLASSES, None, 7, seed=1) == CLASSES


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([1], "1 classes is too few for a closed set; use at least 2"),
        ([3, 8], "8 is more than the 7 classes of the benchmark; use at most 7"),
    ],
)
def test_bad_sizes_are_refused(counts: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_class_counts(counts, CLASSES, "background")


SPEC = """
dataset:
  generated: shapes
  count: 70
  seed: 4
  size: 32
classes: [circle, square, triangle, star, cross, heart, background]
background: background
models: [scripted:noisy]
snapshot: false
strategies:
  closed_set:
    votes: 2
    class_counts: COUNTS
"""


@pytest.mark.parametrize(
    ("counts", "where", "message"),
    [
        ("three", "strategies.closed_set.class_counts", "expected a non-empty list of whole numbers"),
        ("[]", "strategies.closed_set.class_counts", "expected a non-empty list of whole numbers"),
        ("[3, 0]", "strategies.closed_set.class_counts.1", "must be >= 1, got 0"),
        ("[3, x]", "strategies.closed_set.class_counts.1", "expected an integer, got str 'x'"),
        ("[3, 3]", "strategies.closed_set.class_counts", "duplicate values: 3"),
    ],
)
def test_spec_errors_name_file_and_key(tmp_path: Path, counts: str, where: str, message: str) -> None:
    path = tmp_path / "s.vlm.yaml"
    path.write_text(SPEC.replace("COUNTS", counts))
    with pytest.raises(SpecError, match=f"s.vlm.yaml: {where}: {message}"):
        parse_spec(path)


def test_too_large_size_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", s=SPEC.replace("COUNTS", "[3, 9]"))
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        ["*s.vlm.yaml: strategies.closed_set: 'class_counts': 9 is more than the 7 classes*use at most 7"]
    )
    assert result.ret == 2


def test_sweep_reports_accuracy_per_class_count(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", s=SPEC.replace("COUNTS", "[2, 4, 7]"))
    result = pytester.runpytest("--vlm-json", "out.json", "--vlm-no-cache")
    result.assert_outcomes(passed=1)
    data = json.loads((pytester.path / "out.json").read_text())["results"][0]
    spec = parse_spec(pytester.path / "s.vlm.yaml")
    from pytest_vlm.data.sources import load_dataset

    examples = load_dataset(spec).examples
    expected_lines = []
    for point, n in zip(data["sweep"], (2, 4, 7)):
        subset = class_subset(CLASSES, "background", n, seed=0)
        chosen = [ex for ex in examples if ex.label in subset]
        # scripted:noisy never answers ~30% of images (by id) and answers the rest right.
        accuracy = sum(not _is_noisy(ex.id) for ex in chosen) / len(chosen)
        assert (point["classes"], point["images"], point["class_names"]) == (n, len(chosen), list(subset))
        assert point["accuracy"] == pytest.approx(accuracy)
        assert point["unparseable_rate"] == pytest.approx(1 - accuracy)
        expected_lines.append(f"*{n}*{len(chosen)}*{accuracy:.3f}*{point['macro_f1']:.3f}*{1 - accuracy:.3f}")
    assert data["sweep"][-1]["accuracy"] == data["metrics"]["accuracy"]  # all classes: the main run
    result.stdout.fnmatch_lines(
        ["s: scripted:noisy / closed_set by number of classes", "*classes*images*accuracy*macro F1*unparseable*"]
        + expected_lines
    )


def test_sweep_and_cache_counts_travel_from_xdist_workers() -> None:
    from pytest_vlm.results import ItemResult, SweepPoint

    result = ItemResult(
        nodeid="n",
        benchmark="b",
        model="m",
        strategy="closed_set",
        kind="closed_set",
        status="passed",
        cache_hits=3,
        cache_requests=9,
        sweep=(SweepPoint(2, ("a", "b"), 10, 0.5, 0.4, 0.1),),
    )
    assert ItemResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    legacy = result.to_dict()
    del legacy["sweep"], legacy["cache_hits"], legacy["cache_requests"]
    assert ItemResult.from_dict(legacy).sweep == ()
