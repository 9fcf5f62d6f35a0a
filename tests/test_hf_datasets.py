"""Hugging Face datasets as a benchmark's image source: every kind of source, built locally, and every error."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import load_dataset
from pytest_vlm.errors import DatasetError, SpecError
from pytest_vlm.spec import parse_spec

datasets = pytest.importorskip("datasets", reason="needs the datasets extra: pip install -e '.[datasets]'")
datasets.disable_progress_bars()

CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)
SEED = 2026


def shape_images(count: int = 14) -> list[shapes.ShapeSample]:
    return shapes.generate(count, seed=SEED, classes=CLASSES)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def shapes_dataset(count: int = 14, **columns: list[Any]) -> Any:
    """The first ``count`` shapes of set 2026 as a Dataset: an Image column and a ClassLabel label."""
    samples = shape_images(count)
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))}
    data: dict[str, list[Any]] = {
        "image": [{"bytes": png(s.image), "path": None} for s in samples],
        "label": [CLASSES.index(s.label) for s in samples],
    }
    for name, values in columns.items():
        data[name] = values
        features[name] = datasets.Value("string") if isinstance(values[0], str) else datasets.Value("int64")
    return datasets.Dataset.from_dict(data, features=datasets.Features(features))


def write_spec(folder: Path, dataset: str, **extra: Any) -> Path:
    lines = [f"  hf_dataset: {json.dumps(dataset)}"] + [f"  {k}: {json.dumps(v)}" for k, v in extra.items()]
    path = folder / "shapes.vlm.yaml"
    path.write_text("dataset:\n" + "\n".join(lines) + "\nstrategies: [closed_set]\n", encoding="utf-8")
    return path


def load(folder: Path, dataset: str, **extra: Any) -> Any:
    return load_dataset(parse_spec(write_spec(folder, dataset, **extra)))


def error(folder: Path, dataset: str, **extra: Any) -> str:
    with pytest.raises(DatasetError) as exc:
        load(folder, dataset, **extra)
    return str(exc.value)


def assert_same_images(loaded: Any, samples: list[shapes.ShapeSample]) -> None:
    assert [ex.label for ex in loaded.examples] == [s.label for s in samples]
    for example, sample in zip(loaded.examples, samples):
        assert example.load().tobytes() == sample.image.convert("RGB").tobytes()


def test_saved_dataset_folder(tmp_path: Path) -> None:
    shapes_dataset().save_to_disk(str(tmp_path / "saved"))
    loaded = load(tmp_path, "saved")
    assert loaded.classes == CLASSES  # the ClassLabel's names
    assert [ex.id for ex in loaded.examples][:3] == ["row/00", "row/01", "row/02"]
    assert_same_images(loaded, shape_images())


def test_class_order_is_the_class_labels(tmp_path: Path) -> None:
    """A ClassLabel's order (not the order rows happen to come in) is the benchmark's class list."""
    names = sorted(CLASSES, reverse=True) + ["unused"]
    samples = shape_images(7)
    rows = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": png(s.image), "path": None} for s in samples],
            "label": [names.index(s.label) for s in samples],
        },
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)}),
    )
    rows.save_to_disk(str(tmp_path / "saved"))
    loaded = load(tmp_path, "saved")
    assert loaded.classes == tuple(sorted(CLASSES, reverse=True))  # 'unused' has no rows: left out
    assert [ex.label for ex in loaded.examples] == [s.label for s in samples]


def test_saved_dataset_dict_needs_a_split_and_reads_it(tmp_path: Path) -> None:
    test_rows = shapes_dataset(14)
    train_rows = shapes_dataset(7)
    datasets.DatasetDict({"train": train_rows, "test": test_rows}).save_to_disk(str(tmp_path / "saved"))
    assert error(tmp_path, "saved") == (
        f"shapes.vlm.yaml: dataset.hf_dataset: {tmp_path / 'saved'} has the splits train, test; choose one with 'split'"
    )
    assert error(tmp_path, "saved", split="tset") == (
        f"shapes.vlm.yaml: dataset.hf_dataset: {tmp_path / 'saved'} has no split 'tset' (did you mean 'test'?); "
        "its splits: train, test"
    )
    loaded = load(tmp_path, "saved", split="test")
    assert loaded.examples[0].id == "test/00"
    assert_same_images(loaded, shape_images(14))


def test_parquet_file_with_string_labels_and_an_id_column(tmp_path: Path) -> None:
    samples = shape_images()
    rows = shapes_dataset(name=[s.id for s in samples], caption=[s.label.upper() for s in samples])
    rows = rows.remove_columns("label").rename_column("caption", "label")
    rows.to_parquet(str(tmp_path / "shapes.parquet"))
    loaded = load(tmp_path, "shapes.parquet", id_column="name")
    assert [ex.id for ex in loaded.examples] == [s.id for s in samples]
    assert loaded.classes == tuple(c.upper() for c in CLASSES)
    assert [ex.load().tobytes() for ex in loaded.examples] == [s.image.convert("RGB").tobytes() for s in samples]


def test_arrow_file(tmp_path: Path) -> None:
    shapes_dataset().save_to_disk(str(tmp_path / "saved"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    shutil.copy(arrow, tmp_path / "shapes.arrow")
    assert_same_images(load(tmp_path, "shapes.arrow"), shape_images())


def test_imagefolder_with_splits(tmp_path: Path) -> None:
    samples = shape_images()
    for sample in samples:
        for split in ("train", "test"):
            target = tmp_path / "images" / split / sample.label / f"{sample.id}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            sample.image.save(target)
    loaded = load(tmp_path, "images", split="test")
    assert sorted(ex.label for ex in loaded.examples) == sorted(s.label for s in samples)
    assert set(loaded.classes) == set(CLASSES)
    by_label: dict[str, list[bytes]] = {}
    for example in loaded.examples:
        by_label.setdefault(example.label, []).append(example.load().tobytes())
    for sample in samples:
        assert sample.image.convert("RGB").tobytes() in by_label[sample.label]


def test_imagefolder_with_a_metadata_file(tmp_path: Path) -> None:
    """Images in one folder, labels in its metadata.csv: the label column is one of the metadata's."""
    samples = shape_images(7)
    lines = ["file_name,kind"]
    for sample in samples:
        sample.image.save(tmp_path / f"{sample.id}.png")
        lines.append(f"{sample.id}.png,{sample.label}")
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "spec").mkdir()
    loaded = load(tmp_path / "spec", "..", label_column="kind")
    assert sorted(ex.label for ex in loaded.examples) == sorted(CLASSES)
    assert {ex.load().tobytes() for ex in loaded.examples} == {s.image.convert("RGB").tobytes() for s in samples}


def cache_hub_dataset(cache: Path, parquet: Path, repo_id: str) -> None:
    """Lay out ``repo_id`` in a datasets cache the way ``load_dataset(repo_id)`` leaves it."""
    from datasets.packaged_modules.parquet.parquet import Parquet

    owner, name = repo_id.split("/")
    builder = Parquet(
        cache_dir=str(cache),
        dataset_name=name,
        hash="0123abcd",
        data_files={"train": str(parquet), "test": str(parquet)},
    )
    builder.download_and_prepare()
    target = cache / f"{owner}___{name}" / "default" / "0.0.0" / "0123abcd"
    target.parent.mkdir(parents=True)
    shutil.move(builder.cache_dir, target)


def test_hub_id_from_the_local_cache_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "hf-cache"
    shapes_dataset().to_parquet(str(tmp_path / "shapes.parquet"))
    cache_hub_dataset(cache, tmp_path / "shapes.parquet", "acme/tiny-shapes")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # any attempt to reach a hub fails at once

    # The layout is the one datasets itself reads back offline, so the test stands for a real cache.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    assert len(datasets.load_dataset("acme/tiny-shapes", split="test", cache_dir=str(cache))) == 14

    loaded = load(tmp_path, "acme/tiny-shapes", split="test")
    assert loaded.examples[0].id == "test/00"
    assert_same_images(loaded, shape_images())

    message = error(tmp_path, "acme/not-cached", split="test")
    assert message.startswith(
        f"shapes.vlm.yaml: dataset.hf_dataset: acme/not-cached is not in the local datasets cache ({cache}): "
        "Couldn't find cache for acme/not-cached. pytest-vlm never downloads: run "
        "datasets.load_dataset('acme/not-cached') once where the hub is reachable, or give the folder written "
        "by save_to_disk"
    )


def test_classes_pick_a_subset_and_max_per_class_limits(tmp_path: Path) -> None:
    shapes_dataset(28).save_to_disk(str(tmp_path / "saved"))
    path = write_spec(tmp_path, "saved", max_per_class=2)
    path.write_text(path.read_text() + "classes: [circle, star]\n")
    loaded = load_dataset(parse_spec(path))
    assert loaded.classes == ("circle", "star")
    assert [ex.label for ex in loaded.examples] == ["circle", "star", "circle", "star"]


def test_integer_labels_need_class_names(tmp_path: Path) -> None:
    rows = shapes_dataset(14).cast_column("label", datasets.Value("int64"))
    rows.save_to_disk(str(tmp_path / "saved"))
    assert error(tmp_path, "saved") == (
        "shapes.vlm.yaml: dataset.hf_dataset: column 'label' holds integers without class names (it is not a "
        "ClassLabel feature): 0, 1, 2, 3, 4, 5, 6; name them in the spec with rename (e.g. rename: {0: cat}) "
        "or cast the column to ClassLabel"
    )
    names = {str(i): name for i, name in enumerate(CLASSES)}
    loaded = load(tmp_path, "saved", rename=names)
    assert loaded.classes == CLASSES
    assert [ex.label for ex in loaded.examples] == [s.label for s in shape_images(14)]


def test_column_errors_name_the_columns(tmp_path: Path) -> None:
    samples = shape_images()
    shapes_dataset(caption=[s.label for s in samples]).save_to_disk(str(tmp_path / "saved"))
    assert error(tmp_path, "saved", label_column="lable") == (
        "shapes.vlm.yaml: dataset.hf_dataset: no column 'lable' (did you mean 'label'?); its columns: image, "
        "label, caption; name the right one with 'label_column'"
    )
    assert error(tmp_path, "saved", image_column="caption") == (
        "shapes.vlm.yaml: dataset.hf_dataset: column 'caption' holds Value('string'), not images (its image "
        "columns: image); name the image column with 'image_column'"
    )
    message = error(tmp_path, "saved", label_column="image")
    assert message.startswith("shapes.vlm.yaml: dataset.hf_dataset: column 'image' holds ")
    assert message.endswith("it needs class names (strings) or integers with a ClassLabel feature")


def test_missing_label_names_the_row(tmp_path: Path) -> None:
    rows = datasets.Dataset.from_dict(
        {"image": [{"bytes": png(s.image), "path": None} for s in shape_images(3)], "label": ["circle", None, "star"]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")}),
    )
    rows.to_parquet(str(tmp_path / "rows.parquet"))
    assert error(tmp_path, "rows.parquet") == (
        f"shapes.vlm.yaml: dataset.hf_dataset: row 1 of {tmp_path / 'rows.parquet'} has no label in column "
        "'label'; label it or drop the row"
    )


def test_unreadable_image_names_the_row(tmp_path: Path) -> None:
    rows = datasets.Dataset.from_dict(
        {"image": [{"bytes": b"not an image", "path": None}], "label": ["circle"]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")}),
    )
    rows.to_parquet(str(tmp_path / "rows.parquet"))
    loaded = load(tmp_path, "rows.parquet")
    with pytest.raises(DatasetError) as exc:
        loaded.examples[0].load()
    assert str(exc.value).startswith(
        f"cannot read the image of row 0 of {tmp_path / 'rows.parquet'} (id 'row/0'): cannot identify image file"
    )
    assert str(exc.value).endswith(". Fix or remove that row.")


def test_path_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert error(tmp_path, "notes.txt") == (
        "shapes.vlm.yaml: dataset.hf_dataset: notes.txt is neither .parquet nor .arrow; give a parquet or arrow "
        "file, a save_to_disk folder, an image folder or the id of a hub dataset in the local cache"
    )
    assert error(tmp_path, "../no such/data") == (
        f"shapes.vlm.yaml: dataset.hf_dataset: ../no such/data not found (looked at {(tmp_path / '../no such/data').resolve()}); "
        "give a save_to_disk folder, a .parquet or .arrow file, an image folder, or the id of a hub dataset in "
        "the local cache"
    )
    shapes_dataset().save_to_disk(str(tmp_path / "saved"))
    assert error(tmp_path, "saved", config="default") == (
        f"shapes.vlm.yaml: dataset.hf_dataset: 'config' only applies to a hub id, not to the path {tmp_path / 'saved'}; remove it"
    )
    assert error(tmp_path, "saved", split="test") == (
        f"shapes.vlm.yaml: dataset.hf_dataset: {tmp_path / 'saved'} holds one split only; remove 'split'"
    )


def test_damaged_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    message = error(tmp_path, "broken.parquet")
    assert message.startswith(f"shapes.vlm.yaml: dataset.hf_dataset: cannot read {tmp_path / 'broken.parquet'}: ")


def test_without_the_datasets_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shapes_dataset().save_to_disk(str(tmp_path / "saved"))
    monkeypatch.setitem(sys.modules, "datasets", None)  # what an environment without the package sees
    assert error(tmp_path, "saved") == (
        "shapes.vlm.yaml: dataset.hf_dataset: needs the Hugging Face datasets library, which is not installed: "
        "pip install 'pytest-vlm[datasets]' (or pip install datasets)"
    )


def test_hf_keys_only_apply_to_hf_datasets(tmp_path: Path) -> None:
    path = tmp_path / "cats.vlm.yaml"
    path.write_text("dataset: {folder: images, split: test}\nstrategies: [closed_set]\n")
    with pytest.raises(SpecError) as exc:
        parse_spec(path)
    assert str(exc.value) == "cats.vlm.yaml: dataset.split: only applies to hf_dataset datasets, not to a folder"
    path.write_text("dataset: {hf_dataset: data, lable_column: x}\nstrategies: [closed_set]\n")
    with pytest.raises(SpecError) as exc:
        parse_spec(path)
    assert str(exc.value).startswith("cats.vlm.yaml: dataset.lable_column: unknown key (did you mean 'label_column'?)")


def test_tiny_shapes_answers_the_same_from_a_dataset_and_from_a_folder(pytester: pytest.Pytester) -> None:
    """The embedded model gives every image the same answer whether it comes from a folder or a saved dataset."""
    samples = shape_images(14)
    for sample in samples:
        target = pytester.path / "images" / sample.label / f"{sample.id}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        sample.image.save(target)
    shapes_dataset(14, name=[s.id for s in samples]).save_to_disk(str(pytester.path / "saved"))
    body = "strategies: [closed_set]\nsnapshot: false\nmodels: [tiny-shapes]\n"
    pytester.makefile(".vlm.yaml", folder="dataset: {folder: images}\n" + body)
    pytester.makefile(".vlm.yaml", hf="dataset: {hf_dataset: saved, id_column: name}\n" + body)
    result = pytester.runpytest("--vlm-json", "out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "out.json").read_text())
    answers = {}
    for item in report["results"]:
        answers[item["benchmark"]] = {
            Path(p["image_id"]).name: (p["prediction"], p["raw"]) for p in item["predictions"]
        }
    assert answers["hf"] == answers["folder"]
    assert len(answers["hf"]) == 14


def test_baselines_with_xdist(pytester: pytest.Pytester) -> None:
    """Each xdist worker reopens the dataset; a recorded baseline then matches in both modes."""
    shapes_dataset(14).save_to_disk(str(pytester.path / "saved"))
    pytester.makefile(
        ".vlm.yaml",
        hf="dataset: {hf_dataset: saved}\nstrategies: [closed_set, binary]\nbackground: background\n"
        "thresholds: {accuracy: '>= 1.0'}\n",
    )
    pytester.runpytest("--vlm-model", "scripted:oracle", "--vlm-update-snapshots").assert_outcomes(passed=2)
    baseline = pytester.path / "__vlm_snapshots__" / "hf" / "scripted-oracle" / "closed_set.json"
    assert "row/00" in baseline.read_text()
    pytester.runpytest("--vlm-model", "scripted:oracle", "-n", "2").assert_outcomes(passed=2)
