"""Open-ended data: manifests with questions and references, generated captions, and every error's text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pytest_vlm.data import captions, shapes
from pytest_vlm.data.open_ended import check_unique, generated_examples, manifest_examples
from pytest_vlm.errors import DatasetError

WHERE = "caps.vlm.yaml: dataset"


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 200, 10)).save(path)


def test_jsonl_rows_with_references_reference_and_questions(tmp_path):
    _image(tmp_path / "img" / "a.png")
    _image(tmp_path / "img" / "b.png")
    manifest = tmp_path / "m.jsonl"
    rows = [
        {"image": "img/a.png", "references": ["a green square", "green square"]},
        {"image": "img/b.png", "id": "bee", "question": "What colour?", "reference": "green"},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    a, b = manifest_examples(manifest, WHERE)
    assert (a.id, a.question, a.references) == ("img/a", None, ("a green square", "green square"))
    assert (b.id, b.question, b.references) == ("bee", "What colour?", ("green",))
    assert a.load().size == (8, 8)


def test_csv_reference_columns(tmp_path):
    _image(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,question,reference,reference_2,reference_x\na.png,Colour?,green,,lime\n")
    (example,) = manifest_examples(manifest, WHERE)
    assert (example.id, example.question, example.references) == ("a", "Colour?", ("green", "lime"))


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        (
            '{"image": "a.png"}\n',
            "jsonl",
            r"m.jsonl line 1: no reference answer; each row needs 'references' \(a list\) or 'reference'",
        ),
        (
            '{"image": "a.png", "references": []}\n',
            "jsonl",
            r"m.jsonl line 1: references must be a non-empty list of strings, got \[\]",
        ),
        (
            '{"image": "a.png", "references": ["x", 3]}\n',
            "jsonl",
            r"m.jsonl line 1: references\[1\] must be a non-empty string, got 3",
        ),
        (
            '{"image": "a.png", "reference": "x", "question": 7}\n',
            "jsonl",
            "m.jsonl line 1: question must be a non-empty string, got 7",
        ),
        ('{"image": "nope.png", "reference": "x"}\n', "jsonl", "m.jsonl line 1: image nope.png not found"),
        ('{"reference": "x"}\n', "jsonl", "m.jsonl line 1: missing image; each row needs image and reference"),
        ("[1]\n", "jsonl", "m.jsonl line 1: expected a JSON object with image"),
        ("image,label\na.png,x\n", "csv", "m.csv line 1: the header must name the columns image and reference"),
        (
            "image,reference\na.png,\n",
            "csv",
            r"m.csv line 2: no reference answer; each row needs a reference column \(reference, reference_2, ...\)",
        ),
    ],
)
def test_manifest_errors_name_the_line_and_what_to_do(tmp_path, text, suffix, message):
    _image(tmp_path / "a.png")
    manifest = tmp_path / f"m.{suffix}"
    manifest.write_text(text)
    with pytest.raises(DatasetError, match=message):
        manifest_examples(manifest, WHERE)


def test_missing_manifest_and_duplicate_ids(tmp_path):
    with pytest.raises(DatasetError, match=r"caps.vlm.yaml: dataset.manifest: .*nope.jsonl does not exist; give a CSV"):
        manifest_examples(tmp_path / "nope.jsonl", WHERE)
    _image(tmp_path / "a.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"image": "a.png", "reference": "x"}\n{"image": "a.png", "reference": "y"}\n')
    with pytest.raises(DatasetError, match="caps.vlm.yaml: dataset: duplicate image ids a; give each row a unique id"):
        check_unique(manifest_examples(manifest, WHERE), WHERE)


def test_generated_examples_carry_the_generators_references():
    classes = (*shapes.SHAPES, shapes.BACKGROUND)
    examples = generated_examples(
        14, seed=7, difficulty="medium", size=64, questions=("describe", "colour"), classes=classes
    )
    assert [e.id for e in examples[:2]] == ["circle-7-00000/describe", "circle-7-00000/colour"]
    assert examples[0].image is examples[1].image  # one image, two questions: one prefix to encode
    sample = shapes.sample(3, seed=7, classes=classes)
    describe = next(e for e in examples if e.id == "star-7-00003/describe")
    assert describe.question == "Describe the image."
    assert describe.references == captions.references(sample, "describe")
    assert describe.references[0] == (
        f"a {captions.colour_name(sample.colour)} star on a {captions.colour_name(sample.background_colour)} background"
    ).replace("a o", "an o")
    empty = next(e for e in examples if e.id == "background-7-00006/colour")
    assert empty.references == ("there is no shape", "no shape")
    with pytest.raises(DatasetError, match="unknown generated question 'color' .did you mean 'colour'.."):
        generated_examples(1, seed=0, difficulty="easy", size=64, questions=("color",), classes=classes)


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((10, 10, 10), "black"),
        ((250, 250, 250), "white"),
        ((128, 128, 128), "grey"),
        ((230, 20, 20), "red"),
        ((240, 140, 20), "orange"),
        ((120, 70, 20), "brown"),
        ((230, 230, 30), "yellow"),
        ((30, 200, 30), "green"),
        ((30, 30, 220), "blue"),
        ((140, 30, 200), "purple"),
        ((240, 60, 180), "pink"),
    ],
)
def test_colour_names(rgb, name):
    assert captions.colour_name(rgb) == name


def test_generated_images_are_unchanged_by_recording_colours():
    # The first image of set 2026 before colours were recorded: its pixels must not have moved.
    sample = shapes.sample(0, seed=2026, classes=(*shapes.SHAPES, shapes.BACKGROUND))
    import hashlib

    assert hashlib.sha256(sample.image.tobytes()).hexdigest()[:16] == "49a89d562db4d1e1"
