"""End to end: the shipped tiny-shapes-classifier as the direct baseline row, in-process and with ``-n 2``."""

from __future__ import annotations

import json

import pytest

# pytester's in-process runs unload the modules each inner run imported, and torch's C extension
# cannot be imported twice in one process: load it (and the model classes) up front.
import torch  # noqa: F401  isort: skip
from transformers import ResNetForImageClassification  # noqa: F401  isort: skip
from PIL import Image

SPEC = """
dataset: {generated: shapes, count: 21, seed: 7}
classes: [circle, square, triangle, star, cross, heart, background]
background: background
strategies:
  closed_set: {thresholds: {accuracy: ">= 0.9"}}
  binary: {}
thresholds:
  unparseable_rate: "<= 0.01"
"""


def test_classifier_runs_one_direct_item_with_a_baseline(pytester: pytest.Pytester) -> None:
    """Recorded in-process, then matched under ``-n 2`` (one xdist run: each worker loads torch)."""
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    args = ["--vlm-model", "tiny-shapes-classifier"]
    ids = pytester.runpytest("--collect-only", "-q", "--vlm-model", "tiny-shapes-classifier").stdout.lines
    assert [line for line in ids if "::" in line] == ["shapes.vlm.yaml::shapes[tiny-shapes-classifier-direct]"]

    recorded = pytester.runpytest(*args, "--vlm-update-snapshots", "--vlm-json", "out.json")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["shapes (21 images)", "*tiny-shapes-classif*direct*passed*recorded*"])
    path = pytester.path / "__vlm_snapshots__" / "shapes" / "tiny-shapes-classifier" / "direct.json"
    baseline = json.loads(path.read_text())
    assert len(baseline) == 21
    assert baseline["circle-7-00000"]["label"] == "circle"
    assert all(entry["answers"] == [entry["prediction"]] for entry in baseline.values())
    [result] = json.loads((pytester.path / "out.json").read_text())["results"]
    assert (result["model"], result["strategy"], result["kind"]) == ("tiny-shapes-classifier", "direct", "direct")
    assert result["model_info"]["architecture"] == "ResNetForImageClassification"
    # Only the spec-wide threshold applies: closed_set's own is about prompting.
    assert [c["metric"] for c in result["checks"]] == ["unparseable_rate"]

    matched = pytester.runpytest(*args, "-n", "2")
    matched.assert_outcomes(passed=1)
    matched.stdout.fnmatch_lines(["*tiny-shapes-classif*direct*passed*matched*"])


def test_vlms_and_classifiers_share_one_spec_and_table(pytester: pytest.Pytester) -> None:
    spec = SPEC.replace("  binary: {}\n", "  binary: {}\n  direct: {thresholds: {accuracy: '>= 0.999'}}\n")
    pytester.makefile(
        ".vlm.yaml", shapes=spec.replace("dataset:", "models: [scripted:oracle, tiny-shapes-classifier]\ndataset:")
    )
    ids = [line for line in pytester.runpytest("--collect-only", "-q").stdout.lines if "::" in line]
    assert ids == [
        "shapes.vlm.yaml::shapes[scripted:oracle-closed_set]",
        "shapes.vlm.yaml::shapes[scripted:oracle-binary]",
        "shapes.vlm.yaml::shapes[tiny-shapes-classifier-direct]",
    ]
    pytester.runpytest("--vlm-update-snapshots").assert_outcomes(passed=3)
    # A hard set the classifier does not get all right: the direct item's own threshold fails.
    hard = spec.replace("seed: 7}", "seed: 7, difficulty: hard}")
    pytester.makefile(".vlm.yaml", shapes=hard.replace("dataset:", "models: [tiny-shapes-classifier]\ndataset:"))
    failed = pytester.runpytest("--vlm-update-snapshots")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(
        [
            "shapes on tiny-shapes-classifier with direct:",
            "1 of 2 threshold(s) failed on 21 images:",
            "*unparseable_rate*0.0000*<= 0.01*ok",
            "*accuracy*>= 0.999*FAIL",
        ]
    )


def test_classes_the_classifier_does_not_know(pytester: pytest.Pytester) -> None:
    for label in ("dog", "cat"):
        folder = pytester.path / "images" / label
        folder.mkdir(parents=True)
        Image.new("RGB", (64, 64), (200, 100, 50)).save(folder / "1.png")
    pytester.makefile(".vlm.yaml", pets="dataset: images\nstrategies: [closed_set]\nsnapshot: false\n")
    result = pytester.runpytest("--vlm-model", "tiny-shapes-classifier")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ pets: tiny-shapes-classifier / direct _*",  # the section's headline names the item
            "model tiny-shapes-classifier: no label in its config.id2label names the benchmark class(es) cat, dog "
            "(its labels: circle, square, triangle, star, cross, heart, background). Rename the benchmark's classes "
            "to the model's labels (dataset 'rename' or 'classes'), use a classifier trained on these classes, "
            "or a zero-shot model (CLIP/SigLIP), which takes any class names",
        ]
    )
    assert "Traceback" not in result.stdout.str()
