"""Data and threshold edge cases (issue 12.9, 12.12): each gives a message that names the file or
key and says what to do, instead of a traceback, a silent skip or a gate that can never pass."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from pytest_vlm.baseline.thresholds import Check, Threshold, parse_threshold
from pytest_vlm.data.sources import load_dataset
from pytest_vlm.errors import DatasetError, SpecError
from pytest_vlm.runner import gate_report
from pytest_vlm.scoring.metrics import compute_metrics
from pytest_vlm.spec import parse_spec


def png(path: Path, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), "white").save(path)
    return path


def spec(tmp_path: Path, dataset: str, extra: str = "") -> Path:
    path = tmp_path / "cats.vlm.yaml"
    path.write_text(textwrap.dedent(f"dataset: {dataset}\nstrategies: [closed_set]\n{extra}"), encoding="utf-8")
    return path


def folders(tmp_path: Path) -> Path:
    for label in ("cat", "dog"):
        for i in range(2):
            png(tmp_path / "images" / label / f"{i}.png")
    return tmp_path / "images"


def test_images_over_the_decompression_bomb_limit_name_the_file_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders(tmp_path)
    png(tmp_path / "images" / "cat" / "huge.png", size=64)
    dataset = load_dataset(parse_spec(spec(tmp_path, "images")))
    huge = next(ex for ex in dataset.examples if ex.id == "cat/huge")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 = 4,096 pixels: over twice the limit
    with pytest.raises(DatasetError) as excinfo:
        huge.load()
    assert str(excinfo.value) == (
        f"cannot read image {huge.path} (listed in folder {tmp_path / 'images' / 'cat'}): it has 4,096 pixels, "
        "over PIL's decompression-bomb limit (1,000). If you trust the file, raise the limit in your "
        "conftest.py (import PIL.Image; PIL.Image.MAX_IMAGE_PIXELS = 200_000_000), or shrink the image."
    )


def test_hidden_files_and_folders_inside_class_folders_are_skipped(tmp_path: Path) -> None:
    root = folders(tmp_path)
    (root / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble, not a PNG")
    png(root / "cat" / ".thumbs" / "0.png")
    dataset = load_dataset(parse_spec(spec(tmp_path, "images")))
    assert sorted(ex.id for ex in dataset.examples) == ["cat/0", "cat/1", "dog/0", "dog/1"]


def test_broken_links_are_named_not_skipped_silently(tmp_path: Path) -> None:
    root = folders(tmp_path)
    (root / "dog" / "2.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(parse_spec(spec(tmp_path, "images")))
    assert str(excinfo.value) == (
        f"cats.vlm.yaml: dataset.folder: dog/2.png is a link to {tmp_path / 'gone.png'}, which does not exist; "
        "restore the target or remove the link"
    )


@pytest.mark.parametrize(("label", "shown"), [(3, "int 3"), (True, "bool True"), (["cat"], "list ['cat']")])
def test_jsonl_labels_must_be_text(tmp_path: Path, label: object, shown: str) -> None:
    png(tmp_path / "a.png")
    (tmp_path / "labels.jsonl").write_text(json.dumps({"image": "a.png", "label": label}) + "\n")
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(parse_spec(spec(tmp_path, "{manifest: labels.jsonl}")))
    assert str(excinfo.value) == f"labels.jsonl line 1: label must be text, got {shown}; write it in quotes"


def test_jsonl_image_paths_must_be_text(tmp_path: Path) -> None:
    (tmp_path / "labels.jsonl").write_text(json.dumps({"image": 7, "label": "cat"}) + "\n")
    with pytest.raises(DatasetError, match=r"^labels.jsonl line 1: image must be text, got int 7; write it in quotes$"):
        load_dataset(parse_spec(spec(tmp_path, "{manifest: labels.jsonl}")))


def test_generated_count_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as excinfo:
        parse_spec(spec(tmp_path, "{generated: shapes, count: 3000000}"))
    assert str(excinfo.value) == (
        "cats.vlm.yaml: dataset.count: at most 100000 generated images, got 3000000; a generated set checks "
        "plumbing and gates, and more images only cost time"
    )


def test_a_rename_that_matches_no_class_is_an_error(tmp_path: Path) -> None:
    folders(tmp_path)
    with pytest.raises(DatasetError) as excinfo:
        load_dataset(parse_spec(spec(tmp_path, "{folder: images, rename: {dgo: doggy, cat: kitty}}")))
    assert str(excinfo.value) == (
        "cats.vlm.yaml: dataset.rename: 'dgo' names no class of the dataset (did you mean 'dog'?); "
        "its classes: cat, dog"
    )


# --- 12.12: thresholds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "text", "message"),
    [
        ("accuracy", ">= 1.5", "accuracy is a share between 0 and 1, so '>= 1.5' can never pass"),
        ("macro_f1", "> 1", "macro_f1 is a share between 0 and 1, so '> 1' can never pass"),
        ("unparseable_rate", "< 0", "unparseable_rate is a share between 0 and 1, so '< 0' can never pass"),
        ("accuracy", "-0.2", "accuracy is a share between 0 and 1, so '-0.2' always passes; give a share"),
        ("accuracy", ">= 1e999", "'>= 1e999' is not a finite number"),
        ("images_per_second", ">= 1e999", "'>= 1e999' is not a finite number"),
        ("peak_memory_mb", "<= -5", "peak_memory_mb is never negative, so '<= -5' can never pass"),
    ],
)
def test_thresholds_that_cannot_mean_anything_are_refused(metric: str, text: str, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_threshold(metric, text)
    assert str(excinfo.value) == message


def test_sensible_thresholds_still_parse() -> None:
    assert parse_threshold("accuracy", ">= 1") == Threshold("accuracy", ">=", 1.0)
    assert parse_threshold("accuracy", 0) == Threshold("accuracy", ">=", 0.0)
    assert parse_threshold("images_per_second", "> 250") == Threshold("images_per_second", ">", 250.0)


def test_a_failed_threshold_shows_enough_digits_to_see_why() -> None:
    metrics = compute_metrics(["a"] * 33, ["a"] * 20 + ["b"] * 13, ["a", "b"], seconds=1, calls=33, peak_memory_mb=0)
    assert metrics.accuracy == 20 / 33  # 0.606060...
    check = Check(Threshold("accuracy", ">=", 0.60607), metrics.accuracy)
    assert not check.passed
    lines = gate_report([check], metrics)
    row = next(line for line in lines if line.strip().startswith("accuracy"))
    assert row.split() == ["accuracy", "0.60606", ">=", "0.60607", "-0.00001", "FAIL"]
