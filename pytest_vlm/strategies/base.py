"""What every strategy shares: the prediction record and the small Strategy protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pytest_vlm.models.base import ImageSource, VisionLanguageModel


@dataclass(frozen=True)
class ImagePrediction:
    """What a strategy decided for one image, with the evidence.

    ``asked`` holds, per model call, what was asked (closed-set: the class list in the order shown;
    binary: the class asked about); ``raw`` the model's text; ``parsed`` what it was read as
    (a class, "yes"/"no", or None when it could not be read).
    """

    image_id: str
    label: str
    prediction: str | None
    asked: tuple[str, ...]
    raw: tuple[str, ...]
    parsed: tuple[str | None, ...]

    @property
    def correct(self) -> bool:
        return self.prediction == self.label


class Example(ImageSource, Protocol):
    """An image with its true label."""

    label: str


class Strategy(Protocol):
    """A way of asking a model which class an image shows."""

    kind: ClassVar[str]
    Params: ClassVar[type]

    def __init__(self, params: Any, *, classes: Sequence[str], background: str | None, seed: int) -> None: ...

    def run(self, model: VisionLanguageModel, examples: Sequence[Example]) -> list[ImagePrediction]:
        """Predict every example; batch the model calls."""
        ...


def check_template(template: str, placeholder: str) -> None:
    if placeholder not in template:
        raise ValueError(f"the prompt must contain {placeholder} (where the class names go); got {template!r}")


def shared_length(template: str, placeholder: str) -> int:
    """How much of every prompt filled from ``template`` is the same: the text before the placeholder."""
    return template.index(placeholder)


def fill(template: str, placeholder: str, value: str) -> str:
    # str.replace, not str.format: user prompts may contain other braces.
    return template.replace(placeholder, value)


def best_scored(example: Example, classes: Sequence[str], scores: Sequence[float]) -> ImagePrediction:
    """The prediction of a strategy that scores every class (likelihood, direct): the best score,
    the class listed first on a tie; the scores are recorded as the raw answer."""
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return ImagePrediction(
        image_id=example.id,
        label=example.label,
        prediction=classes[best],
        asked=(", ".join(classes),),
        raw=(" ".join(f"{c}={v:.4f}" for c, v in zip(classes, scores)),),
        parsed=(classes[best],),
    )
