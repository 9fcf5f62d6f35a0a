"""Open-ended data: per image an optional question and one or more reference answers.

Sources: a CSV or JSONL manifest, or the generated shapes with references written by the generator
(:mod:`pytest_vlm.data.captions`). Everything is checked at collection, before a model loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_vlm.data.sources import FileImage, GeneratedImage, generated_images, generator_classes, read_rows
from pytest_vlm.errors import DatasetError, did_you_mean

if TYPE_CHECKING:
    from PIL import Image

    from pytest_vlm.models.base import ImageSource
    from pytest_vlm.spec import BenchmarkSpec

REFERENCE_COLUMN = "reference"


@dataclass(frozen=True)
class OpenExample:
    """One question about one image (several examples may share an image) and its references."""

    id: str
    image: ImageSource
    question: str | None
    references: tuple[str, ...]

    def load(self) -> Image.Image:
        return self.image.load()


def _text(value: Any, origin: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{origin}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


def _references(row: dict[str, Any], origin: str, csv: bool) -> tuple[str, ...]:
    if csv:
        # Every column named "reference" or "reference_<anything>" holds one reference; empty cells are skipped.
        columns = [k for k in row if k == REFERENCE_COLUMN or k.startswith(REFERENCE_COLUMN + "_")]
        refs = tuple(str(row[k]).strip() for k in columns if str(row[k] or "").strip())
    elif "references" in row:
        value = row["references"]
        if not isinstance(value, list) or not value:
            raise DatasetError(f"{origin}: references must be a non-empty list of strings, got {value!r}")
        refs = tuple(_text(v, origin, f"references[{i}]") for i, v in enumerate(value))
    elif REFERENCE_COLUMN in row:
        refs = (_text(row[REFERENCE_COLUMN], origin, REFERENCE_COLUMN),)
    else:
        refs = ()
    if not refs:
        needs = "a reference column (reference, reference_2, ...)" if csv else "'references' (a list) or 'reference'"
        raise DatasetError(f"{origin}: no reference answer; each row needs {needs}")
    return refs


def manifest_examples(path: Path, where: str) -> list[OpenExample]:
    """The rows of a CSV/JSONL manifest with image, optional id and question, and references."""
    if not path.is_file():
        raise DatasetError(
            f"{where}.manifest: {path} does not exist; give a CSV or JSONL file with image and reference(s)"
        )
    is_csv = path.suffix.lower() == ".csv"
    rows = read_rows(path, where, required=("image", REFERENCE_COLUMN) if is_csv else ("image",))
    examples = []
    for line, row in rows:
        origin = f"{path.name} line {line}"
        if not str(row.get("image") or "").strip():
            raise DatasetError(f"{origin}: missing image; each row needs image and reference(s)")
        image = (path.parent / str(row["image"]).strip()).resolve()
        if not image.is_file():
            raise DatasetError(f"{origin}: image {row['image']} not found (looked at {image})")
        image_id = str(row.get("id") or "").strip() or Path(str(row["image"]).strip()).with_suffix("").as_posix()
        question = row.get("question")
        question = _text(question, origin, "question") if str(question or "").strip() else None
        examples.append(
            OpenExample(
                id=image_id,
                image=FileImage(id=image_id, label="", path=image, origin=origin),
                question=question,
                references=_references(row, origin, is_csv),
            )
        )
    return examples


def generated_examples(
    count: int, *, seed: int, difficulty: str, size: int, questions: Sequence[str], classes: tuple[str, ...]
) -> list[OpenExample]:
    """The first ``count`` generated shapes, each asked every one of ``questions`` (generator tasks),
    with the references the generator writes; ids are ``<image id>/<task>``."""
    from pytest_vlm.data import captions, shapes

    for task in questions:
        if task not in captions.QUESTIONS:
            raise DatasetError(
                f"unknown generated question {task!r}{did_you_mean(task, captions.QUESTIONS)}; "
                f"known: {', '.join(captions.QUESTIONS)}"
            )
    images: list[GeneratedImage] = generated_images(count, seed=seed, classes=classes, difficulty=difficulty, size=size)
    examples = []
    for image in images:
        sample = shapes.sample(image.index, seed=seed, classes=classes, size=size, difficulty=difficulty)
        for task in questions:
            examples.append(
                OpenExample(
                    id=f"{image.id}/{task}",
                    image=image,
                    question=captions.QUESTIONS[task],
                    references=captions.references(sample, task),
                )
            )
    return examples


def check_unique(examples: Sequence[OpenExample], where: str) -> None:
    ids = [ex.id for ex in examples]
    if not ids:
        raise DatasetError(f"{where}: no images found; check the manifest")
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DatasetError(f"{where}: duplicate image ids {', '.join(dupes)}; give each row a unique id")


@dataclass(frozen=True)
class OpenDataset:
    """An open_ended benchmark's examples; it has no classes."""

    examples: tuple[OpenExample, ...]
    classes: tuple[str, ...] = ()


def load_open_dataset(spec: BenchmarkSpec) -> OpenDataset:
    """The examples of an open_ended spec: a manifest of references, or generated shapes with captions."""
    from pytest_vlm.data import captions, shapes

    where = f"{spec.path.name}: dataset"
    ds = spec.dataset
    if ds.kind == "folder":
        raise DatasetError(
            f"{where}: an open_ended benchmark needs reference answers: use a manifest (CSV or JSONL), "
            "an hf_dataset with a references column, or 'generated'"
        )
    if ds.kind == "hf_dataset":
        from pytest_vlm.data.hf_datasets import hf_open_rows

        assert ds.hf is not None
        examples = [OpenExample(i.id, i, q, refs) for i, q, refs in hf_open_rows(ds.hf, where)]
    elif ds.kind == "manifest":
        assert ds.path is not None
        examples = manifest_examples(ds.path, where)
    else:
        classes = generator_classes(spec, (*shapes.SHAPES, shapes.BACKGROUND))
        examples = generated_examples(
            ds.count,
            seed=ds.seed,
            difficulty=ds.difficulty,
            size=ds.size,
            questions=ds.questions or tuple(captions.QUESTIONS),
            classes=classes,
        )
    check_unique(examples, where)
    return OpenDataset(tuple(examples))
