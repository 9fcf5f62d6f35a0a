"""The likelihood strategy: each class scored as the answer; best mean (or total) log-probability wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ContinuationScore, ScoreRequest
from pytest_vlm.strategies.likelihood import Likelihood, LikelihoodParams

CLASSES = ("cat", "dog", "teddy bear")


@dataclass(frozen=True)
class Image:
    id: str
    label: str

    def load(self) -> None:  # never called: the fake model does not look at pixels
        raise AssertionError


class FakeScorer:
    """Scores from a table: (image id, continuation) -> (total log-probability, tokens)."""

    name = "fake"

    def __init__(self, table: dict[tuple[str, str], tuple[float, int]]) -> None:
        self.table = table
        self.requests: list[ScoreRequest] = []

    def generate(self, requests: Sequence[object]) -> list[str]:
        raise AssertionError("likelihood never generates")

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        self.requests += requests
        return [[ContinuationScore(*self.table[r.image.id, c]) for c in r.continuations] for r in requests]

    def close(self) -> None:
        pass


def run(table: dict[tuple[str, str], tuple[float, int]], images: list[Image], **params: str) -> tuple:
    model = FakeScorer(table)
    strategy = Likelihood(LikelihoodParams(**params), classes=CLASSES, background=None, seed=0)
    return strategy.run(model, images), model


def test_mean_normalisation_does_not_penalise_long_names() -> None:
    table = {("a", "cat"): (-1.0, 1), ("a", "dog"): (-2.0, 1), ("a", "teddy bear"): (-1.2, 2)}
    (mean,), _ = run(table, [Image("a", "teddy bear")])
    (total,), _ = run(table, [Image("a", "teddy bear")], normalize="sum")
    assert mean.prediction == "teddy bear"  # -0.6 per token beats -1.0
    assert total.prediction == "cat"  # -1.0 beats -1.2 in total
    assert mean.raw == ("cat=-1.0000 dog=-2.0000 teddy bear=-0.6000",)
    assert mean.parsed == ("teddy bear",) and mean.correct


def test_one_request_per_image_listing_every_class() -> None:
    table = {(i, c): (-1.0, 1) for i in ("a", "b") for c in CLASSES}
    predictions, model = run(table, [Image("a", "cat"), Image("b", "dog")])
    assert [r.continuations for r in model.requests] == [CLASSES, CLASSES]
    assert model.requests[0].prompt == (
        "Question: Answer this question in one word: What type of object is in this photo? "
        "Choose one from cat, dog, teddy bear. Answer:"
    )
    assert [p.prediction for p in predictions] == ["cat", "cat"]  # a tie goes to the class listed first


def test_refuses_models_that_cannot_score() -> None:
    class Generator:
        name = "gen-only"

        def generate(self, requests: Sequence[object]) -> list[str]:
            return []

        def close(self) -> None:
            pass

    strategy = Likelihood(LikelihoodParams(), classes=CLASSES, background=None, seed=0)
    with pytest.raises(ModelError, match="model gen-only cannot score answers, so it cannot run the likelihood"):
        strategy.run(Generator(), [Image("a", "cat")])


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match=r"'normalize' must be one of mean, sum, got 'max'"):
        LikelihoodParams(normalize="max")
    with pytest.raises(ValueError, match=r"must contain \{classes\}"):
        LikelihoodParams(prompt="Which one?")
