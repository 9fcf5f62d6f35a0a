"""A deliberately degraded model, to prove that the CI gate catches a real regression.

``degraded:FRACTION:MODEL`` (e.g. ``degraded:0.1:tiny-shapes``) is MODEL, except that for about
FRACTION of the images it is shown a flat grey picture instead of the image: a broken
preprocessing step, say. Which images is decided by sha256 of the image id, so it is the same in
every run, process and strategy. The answers stay readable (the model describes what it sees),
so only accuracy changes; an image whose true class is what the model says about a blank picture
(the background class for tiny-shapes) stays right.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import (
    ContinuationScore,
    Describes,
    GenerationRequest,
    ImageSource,
    ScoreRequest,
    ScoresContinuations,
    VisionLanguageModel,
)
from pytest_vlm.models.spec import ModelSpec

if TYPE_CHECKING:
    from PIL import Image

PREFIX = "degraded:"
GREY = (128, 128, 128)


def is_degraded(name: str) -> bool:
    return name.startswith(PREFIX)


def resolve_degraded(name: str, *, resolve: Callable[[str], ModelSpec]) -> ModelSpec:
    """``degraded:0.1:tiny-shapes`` -> a ModelSpec wrapping tiny-shapes's (found by ``resolve``)."""
    _, _, rest = name.partition(PREFIX)
    fraction_text, sep, inner = rest.partition(":")
    usage = "write it as degraded:FRACTION:MODEL, e.g. degraded:0.1:tiny-shapes"
    if not sep or not inner.strip():
        raise ModelError(f"model {name!r} names no model to degrade; {usage}")
    try:
        fraction = float(fraction_text)
    except ValueError:
        raise ModelError(f"model {name!r}: {fraction_text!r} is not a fraction; {usage}") from None
    if not 0 <= fraction <= 1:
        raise ModelError(f"model {name!r}: the fraction must be between 0 and 1, got {fraction_text}; {usage}")
    wrapped = resolve(inner)
    return ModelSpec(name=name, backend="degraded", source=repr(fraction), wraps=wrapped)


def is_blanked(image_id: str, fraction: float, salt: str = "") -> bool:
    """Whether the image is replaced: the sha256 of its id (and ``salt``, which benchmarks/gate_power.py
    varies to draw other image sets), read as a number in [0, 1), is below ``fraction``."""
    digest = hashlib.sha256(f"pytest-vlm degraded\x1f{salt}\x1f{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class BlankImage:
    """A flat grey picture the size of ``source``; its own id, so no image cache mixes the two up.
    It has no ``label``: the scripted models then cannot read the answer off it either."""

    source: ImageSource

    @property
    def id(self) -> str:
        return f"{self.source.id}#blank"

    def load(self) -> Image.Image:
        from PIL import Image

        return Image.new("RGB", self.source.load().size, GREY)


class DegradedModel:
    def __init__(self, spec: ModelSpec, inner: VisionLanguageModel, salt: str = "") -> None:
        self.name = spec.name
        self.fraction = float(spec.source)
        self.inner = inner
        self.salt = salt

    def _image(self, image: ImageSource) -> ImageSource:
        return BlankImage(image) if is_blanked(image.id, self.fraction, self.salt) else image

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        return self.inner.generate([replace(r, image=self._image(r.image)) for r in requests])

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        if not isinstance(self.inner, ScoresContinuations):
            raise ModelError(
                f"model {self.name} cannot score answers, so it cannot run the likelihood strategy; "
                "use closed_set or binary with it"
            )
        return self.inner.score([replace(r, image=self._image(r.image)) for r in requests])

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe() if isinstance(self.inner, Describes) else {}
        return {"backend": "degraded", "fraction": self.fraction, "wraps": inner}

    def close(self) -> None:
        self.inner.close()
