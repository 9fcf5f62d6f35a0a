"""The direct strategy and which strategies each kind of model gets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fakes import FakeModel, Img
from pytest_vlm.baseline.thresholds import parse_threshold
from pytest_vlm.collect import strategies_for
from pytest_vlm.errors import ModelError, SpecError
from pytest_vlm.models.base import ClassifiesImages
from pytest_vlm.spec import parse_spec
from pytest_vlm.strategies.direct import TEMPLATE, Direct, DirectParams

CLASSES = ("circle", "square", "background")


class FakeClassifier:
    """Returns fixed scores per image id; records what it was asked."""

    name = "fake-classifier"

    def __init__(self, scores: dict[str, list[float]]) -> None:
        self.scores = scores
        self.calls: list[tuple[list[str], tuple[str, ...], str]] = []

    def classify(self, images: Sequence[Img], classes: Sequence[str], template: str) -> list[list[float]]:
        self.calls.append(([i.id for i in images], tuple(classes), template))
        return [self.scores[i.id] for i in images]

    def close(self) -> None:
        pass


def test_prediction_is_the_best_score_and_a_tie_goes_to_the_first_class() -> None:
    model = FakeClassifier({"a": [0.1, 0.7, 0.2], "b": [0.5, 0.5, -1.0], "c": [-3.0, -2.0, -0.5]})
    examples = [Img("a", "square"), Img("b", "square"), Img("c", "circle")]
    predictions = Direct(DirectParams(), classes=CLASSES, background="background", seed=0).run(model, examples)
    assert [p.prediction for p in predictions] == ["square", "circle", "background"]
    assert [p.correct for p in predictions] == [True, False, False]
    assert predictions[0].raw == ("circle=0.1000 square=0.7000 background=0.2000",)
    assert predictions[0].parsed == ("square",)
    assert predictions[0].asked == ("circle, square, background",)
    assert model.calls == [(["a", "b", "c"], CLASSES, TEMPLATE)]  # one batched call, default template


def test_template_is_passed_through() -> None:
    model = FakeClassifier({"a": [1.0, 0.0, 0.0]})
    params = DirectParams(template="a drawing of a {class}")
    Direct(params, classes=CLASSES, background=None, seed=0).run(model, [Img("a", "circle")])
    assert model.calls[0][2] == "a drawing of a {class}"


def test_a_vlm_cannot_run_direct() -> None:
    model = FakeModel(lambda r: "circle")
    assert not isinstance(model, ClassifiesImages)
    with pytest.raises(
        ModelError,
        match=r"^model fake is not a conventional classifier, so it cannot run the direct strategy; "
        r"use closed_set, binary or likelihood with it$",
    ):
        Direct(DirectParams(), classes=CLASSES, background=None, seed=0).run(model, [Img("a", "circle")])


def test_template_needs_the_placeholder() -> None:
    with pytest.raises(ValueError, match=r"the prompt must contain \{class\}"):
        DirectParams(template="a photo")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "b.vlm.yaml"
    path.write_text("dataset: {generated: shapes, count: 7}\n" + text)
    return path


def test_spec_template_error_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "strategies:\n  direct: {template: a photo}\n")
    with pytest.raises(SpecError, match=r"^b.vlm.yaml: strategies.direct: the prompt must contain \{class\}"):
        parse_spec(path)


def test_classifiers_get_a_default_direct_item_with_the_spec_wide_thresholds(tmp_path: Path) -> None:
    spec = parse_spec(
        write(
            tmp_path,
            "strategies:\n  closed_set: {thresholds: {accuracy: '>= 0.9'}}\n  binary: {}\n"
            "thresholds: {unparseable_rate: '<= 0.01'}\n",
        )
    )
    [direct] = strategies_for(spec, "classifier")
    assert (direct.id, direct.kind, direct.params) == ("direct", "direct", DirectParams())
    assert direct.thresholds == (parse_threshold("unparseable_rate", "<= 0.01"),)
    assert [s.id for s in strategies_for(spec, "hf")] == ["closed_set", "binary"]
    assert [s.id for s in strategies_for(spec, "scripted")] == ["closed_set", "binary"]


def test_a_spec_can_configure_direct_and_vlms_skip_it(tmp_path: Path) -> None:
    spec = parse_spec(
        write(
            tmp_path,
            "strategies:\n  closed_set: {}\n"
            "  clip_drawing: {kind: direct, template: 'a drawing of a {class}', thresholds: {accuracy: '>= 0.5'}}\n",
        )
    )
    [direct] = strategies_for(spec, "classifier")
    assert direct.id == "clip_drawing"
    assert direct.params == DirectParams(template="a drawing of a {class}")
    assert direct.thresholds == (parse_threshold("accuracy", ">= 0.5"),)
    assert [s.id for s in strategies_for(spec, "hf")] == ["closed_set"]
