"""open_ended over a Hugging Face dataset: questions and references from its columns, and the errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_hf_datasets import png, shape_images

from pytest_vlm.data.open_ended import load_open_dataset
from pytest_vlm.errors import DatasetError
from pytest_vlm.spec import parse_spec

datasets = pytest.importorskip("datasets", reason="needs the datasets extra: pip install -e '.[datasets]'")


def vqa_dataset(references: list[Any], questions: list[str] | None = None, name: str = "references") -> Any:
    samples = shape_images(len(references))
    data: dict[str, list[Any]] = {"image": [{"bytes": png(s.image), "path": None} for s in samples], name: references}
    features: dict[str, Any] = {"image": datasets.Image()}
    if questions is not None:
        data["question"] = questions
        features["question"] = datasets.Value("string")
    return datasets.Dataset.from_dict(data, features=datasets.Features({**features, name: _feature(references)}))


def _feature(values: list[Any]) -> Any:
    return datasets.Sequence(datasets.Value("string")) if isinstance(values[0], list) else datasets.Value("string")


def load(folder: Path, **extra: str) -> Any:
    lines = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in {"hf_dataset": "vqa", **extra}.items())
    spec = folder / "caps.vlm.yaml"
    spec.write_text(f"dataset:\n{lines}\nstrategies: [open_ended]\n", encoding="utf-8")
    return load_open_dataset(parse_spec(spec))


def test_questions_and_references_come_from_the_columns(tmp_path: Path) -> None:
    vqa_dataset([["red", "the shape is red"], ["blue"]], ["What colour?", "Which colour?"]).save_to_disk(
        tmp_path / "vqa"
    )
    a, b = load(tmp_path).examples
    assert (a.id, a.question, a.references) == ("row/0", "What colour?", ("red", "the shape is red"))
    assert (b.question, b.references) == ("Which colour?", ("blue",))
    assert a.load().size == (64, 64)


def test_a_named_references_column_of_strings_and_no_question(tmp_path: Path) -> None:
    vqa_dataset(["a red star", "a blue circle"], name="caption").save_to_disk(tmp_path / "vqa")
    first = load(tmp_path, references_column="caption").examples[0]
    assert (first.question, first.references) == (None, ("a red star",))


def test_errors_name_the_row_and_the_column(tmp_path: Path) -> None:
    vqa_dataset([["red"], []]).save_to_disk(tmp_path / "vqa")
    with pytest.raises(
        DatasetError,
        match=r"caps.vlm.yaml: dataset.hf_dataset: row 1 of .*vqa: column 'references' "
        r"needs a reference answer \(a non-empty string or a list of them\), got \[\]; fill it",
    ):
        load(tmp_path)
    with pytest.raises(
        DatasetError,
        match="no column 'answers'; its columns: image, references; name the right one with 'references_column'",
    ):
        load(tmp_path, references_column="answers")
