"""Likelihood: one prompt listing the classes; each class name scored as the model's answer.

No text is generated, so nothing can be unparseable: the prediction is the class whose name the
model finds most likely as the continuation of the prompt. With ``normalize: mean`` (the default)
a class's score is the mean log-probability per token, so that long names are not penalised for
their length; ``sum`` uses the total log-probability. A tie goes to the class listed first.
This changes results relative to generation, so it is its own strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ScoreRequest, ScoresContinuations, VisionLanguageModel
from pytest_vlm.strategies.base import Example, ImagePrediction, best_scored, check_template, fill
from pytest_vlm.strategies.closed_set import PROMPT

NORMALIZATIONS = ("mean", "sum")


@dataclass(frozen=True)
class LikelihoodParams:
    prompt: str = PROMPT
    normalize: str = "mean"

    def __post_init__(self) -> None:
        check_template(self.prompt, "{classes}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"'normalize' must be one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}")


class Likelihood:
    kind: ClassVar[str] = "likelihood"
    Params: ClassVar[type] = LikelihoodParams

    def __init__(self, params: LikelihoodParams, *, classes: Sequence[str], background: str | None, seed: int) -> None:
        self.params = params
        self.classes = tuple(classes)

    def planned_requests(self, images: int) -> int:
        """Model requests for ``images`` images (for the progress bar)."""
        return images

    def run(self, model: VisionLanguageModel, examples: Sequence[Example]) -> list[ImagePrediction]:
        if not isinstance(model, ScoresContinuations):
            raise ModelError(
                f"model {model.name} cannot score answers, so it cannot run the likelihood strategy; "
                "use closed_set or binary with it"
            )
        prompt = fill(self.params.prompt, "{classes}", ", ".join(self.classes))
        scores = model.score([ScoreRequest(ex, prompt, self.classes) for ex in examples])
        predictions = []
        for ex, per_class in zip(examples, scores):
            values = [s.logprob / max(s.tokens, 1) if self.params.normalize == "mean" else s.logprob for s in per_class]
            predictions.append(best_scored(ex, self.classes, values))
        return predictions
