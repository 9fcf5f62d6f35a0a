"""Image sources: a folder per class (Caltech layout), a CSV/JSONL manifest, a generated set, or a
Hugging Face dataset (hf_datasets.py).

Indexing (which images, which labels) happens at collection and checks everything it can without
decoding images: missing files, unknown labels, empty classes. Pixels are read only when a model
needs them, and an unreadable image then names its file and where it was listed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from pytest_vlm.errors import DatasetError, did_you_mean

if TYPE_CHECKING:
    from PIL import Image

    from pytest_vlm.data.hf_datasets import HfImage
    from pytest_vlm.spec import BenchmarkSpec, DatasetSpec

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_NUMERIC_PREFIX = re.compile(r"^\d+[._-]")


@dataclass(frozen=True)
class FileImage:
    """An image file; ``origin`` says where it was listed, for error messages."""

    id: str
    label: str
    path: Path
    origin: str

    def load(self) -> Image.Image:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.path) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(
                f"cannot read image {self.path} (listed in {self.origin}): {exc}. Fix or remove the file."
            ) from exc


@dataclass(frozen=True)
class GeneratedImage:
    """One image of the generated shapes set, drawn on demand."""

    id: str
    label: str
    index: int
    seed: int
    classes: tuple[str, ...]
    difficulty: str
    size: int

    def load(self) -> Image.Image:
        from pytest_vlm.data import shapes

        return shapes.sample(
            self.index, seed=self.seed, classes=self.classes, size=self.size, difficulty=self.difficulty
        ).image


Example = Union[FileImage, GeneratedImage, "HfImage"]


@dataclass(frozen=True)
class Dataset:
    examples: tuple[Example, ...]
    classes: tuple[str, ...]


def class_name_from_folder(folder_name: str) -> str:
    """``001.ak47`` -> ``ak47`` (Caltech256 numbers its class folders)."""
    return _NUMERIC_PREFIX.sub("", folder_name, count=1) or folder_name


def load_dataset(spec: BenchmarkSpec) -> Dataset:
    """Index the images of ``spec`` and check them against its classes."""
    where = f"{spec.path.name}: dataset"
    ds = spec.dataset
    if ds.kind == "generated":
        examples, found = _generated(spec)
    elif ds.kind == "folder":
        examples, found = _folder(ds, where)
    elif ds.kind == "hf_dataset":
        from pytest_vlm.data.hf_datasets import hf_examples

        assert ds.hf is not None
        rows, found = hf_examples(ds.hf, ds.rename, where)
        examples = list[Example](rows)
    else:
        examples, found = _manifest(ds, where)
    examples = [_renamed(ex, ds.rename) for ex in examples]
    found = list(dict.fromkeys(ds.rename.get(c, c) for c in found))  # renaming onto a class merges the two

    classes = list(spec.classes) if spec.classes is not None else found
    if spec.background is not None and spec.background not in classes:
        raise DatasetError(
            f"{spec.path.name}: background: {spec.background!r} is not a class of the dataset"
            f"{did_you_mean(spec.background, classes)}; classes: {', '.join(classes)}"
        )
    if spec.classes is not None:
        examples = _select_classes(examples, classes, found, ds, where)
    if ds.max_per_class is not None:
        examples = _limit_per_class(examples, ds.max_per_class)
    if not examples:
        raise DatasetError(f"{where}: no images found in {ds.path or ds.generator}; check the path and the classes")
    counts = label_counts(examples)
    empty = [c for c in classes if counts.get(c, 0) == 0]
    if empty:
        raise DatasetError(
            f"{where}: no images for class(es) {', '.join(empty)}; add images or remove them from 'classes'"
        )
    ids = [ex.id for ex in examples]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DatasetError(f"{where}: duplicate image ids {', '.join(dupes)}; give each image a unique id")
    return Dataset(tuple(examples), tuple(classes))


def _renamed(ex: Example, rename: Mapping[str, str]) -> Example:
    if ex.label not in rename:
        return ex
    from dataclasses import replace

    return replace(ex, label=rename[ex.label])


def _select_classes(
    examples: list[Example], classes: list[str], found: list[str], ds: DatasetSpec, where: str
) -> list[Example]:
    unknown = [c for c in classes if c not in found]
    if unknown:
        hint = did_you_mean(unknown[0], found)
        raise DatasetError(
            f"{where}: class(es) {', '.join(unknown)} not in the dataset{hint}; the dataset has: {', '.join(found)}"
        )
    if ds.kind in ("folder", "hf_dataset"):  # 'classes' picks a subset of the folder's (dataset's) classes
        return [ex for ex in examples if ex.label in classes]
    stray = sorted({ex.label for ex in examples if ex.label not in classes})
    if stray:
        first = next(ex for ex in examples if ex.label == stray[0])
        raise DatasetError(
            f"{where}: label(s) {', '.join(stray)} are not in the class list (first: image {first.id!r}); "
            "add them to 'classes' or remove those images"
        )
    return examples


def _limit_per_class(examples: list[Example], limit: int) -> list[Example]:
    taken: dict[str, int] = {}
    kept = []
    for ex in examples:
        if taken.get(ex.label, 0) < limit:
            taken[ex.label] = taken.get(ex.label, 0) + 1
            kept.append(ex)
    return kept


def _generated(spec: BenchmarkSpec) -> tuple[list[Example], list[str]]:
    from pytest_vlm.data import shapes

    ds = spec.dataset
    allowed = (*shapes.SHAPES, shapes.BACKGROUND)
    if spec.classes is not None:
        classes = tuple(spec.classes)
    else:
        classes = shapes.SHAPES + ((spec.background,) if spec.background else ())
    for name in classes:
        if name not in allowed:
            raise DatasetError(
                f"{spec.path.name}: classes: the shapes generator cannot draw {name!r}"
                f"{did_you_mean(name, allowed)}; it draws: {', '.join(allowed)}"
            )
    examples: list[Example] = list(
        generated_images(ds.count, seed=ds.seed, classes=classes, difficulty=ds.difficulty, size=ds.size)
    )
    return examples, list(classes)


def generated_images(
    count: int, *, seed: int, classes: tuple[str, ...], difficulty: str = "medium", size: int = 64
) -> list[GeneratedImage]:
    """The first ``count`` images of the shapes set ``seed``, labels cycling through ``classes``."""
    from pytest_vlm.data import shapes

    return [
        GeneratedImage(
            id=shapes.sample_id(classes[i % len(classes)], seed, i),
            label=classes[i % len(classes)],
            index=i,
            seed=seed,
            classes=classes,
            difficulty=difficulty,
            size=size,
        )
        for i in range(count)
    ]


def _folder(ds: DatasetSpec, where: str) -> tuple[list[Example], list[str]]:
    root = ds.path
    assert root is not None
    if not root.is_dir():
        raise DatasetError(f"{where}.folder: {root} is not a folder; give a folder with one sub-folder per class")
    examples: list[Example] = []
    classes: list[str] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = class_name_from_folder(class_dir.name)
        if label in classes:
            raise DatasetError(
                f"{where}.folder: two folders give the class {label!r} (one is {class_dir.name}); rename one"
            )
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            continue
        classes.append(label)
        examples += [
            FileImage(
                id=f.relative_to(root).with_suffix("").as_posix(), label=label, path=f, origin=f"folder {class_dir}"
            )
            for f in files
        ]
    return examples, classes


def _manifest(ds: DatasetSpec, where: str) -> tuple[list[Example], list[str]]:
    path = ds.path
    assert path is not None
    if not path.is_file():
        raise DatasetError(f"{where}.manifest: {path} does not exist; give a CSV or JSONL file with image and label")
    rows = _read_rows(path, where)
    examples: list[Example] = []
    classes: list[str] = []
    for line, row in rows:
        origin = f"{path.name} line {line}"
        missing = [k for k in ("image", "label") if not str(row.get(k) or "").strip()]
        if missing:
            raise DatasetError(f"{origin}: missing {' and '.join(missing)}; each row needs image and label")
        image = (path.parent / str(row["image"]).strip()).resolve()
        if not image.is_file():
            raise DatasetError(f"{origin}: image {row['image']} not found (looked at {image})")
        label = str(row["label"]).strip()
        if label not in classes:
            classes.append(label)
        image_id = str(row.get("id") or "").strip() or Path(str(row["image"]).strip()).with_suffix("").as_posix()
        examples.append(FileImage(id=image_id, label=label, path=image, origin=origin))
    return examples, classes


def _read_rows(path: Path, where: str) -> list[tuple[int, dict[str, object]]]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{where}.manifest: cannot read {path}: {exc}") from exc
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path.name} line {n}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DatasetError(f"{path.name} line {n}: expected a JSON object with image and label")
            rows.append((n, row))
        return rows
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in reader.fieldnames or []]
        if "image" not in columns or "label" not in columns:
            raise DatasetError(
                f"{path.name} line 1: the header must name the columns image and label (and optionally id); "
                f"found: {', '.join(columns) or 'no header'}"
            )
        # reader.line_num, not a row count: the reader skips blank lines and rows may span lines.
        return [(reader.line_num, {k.strip(): v for k, v in row.items() if k}) for row in reader]
    raise DatasetError(f"{where}.manifest: {path.name} is neither .csv nor .jsonl")


def label_counts(examples: Sequence[Example]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ex in examples:
        counts[ex.label] = counts.get(ex.label, 0) + 1
    return counts
