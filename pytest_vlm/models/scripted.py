"""Rule-based models for checking specs, gates and snapshots without weights.

They read the true label off the request's image (every dataset example carries one), so they
exercise the whole pipeline; they are never evidence that a real backend works.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ContinuationScore, GenerationRequest, ImageSource, ScoreRequest

BEHAVIOURS = ("oracle", "noisy", "mute")
_UNREADABLE = "I cannot tell."


def _is_noisy(image_id: str) -> bool:
    return hashlib.sha256(image_id.encode()).digest()[0] < 77  # ~30% of ids


class ScriptedModel:
    def __init__(self, name: str, behaviour: str) -> None:
        if behaviour not in BEHAVIOURS:
            raise ModelError(f"unknown scripted behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        self.name = name
        self.behaviour = behaviour
        self.calls = 0

    def _readable(self, image: ImageSource) -> str | None:
        """The label the model reads off ``image``, or None where its answer is unreadable."""
        label: str | None = getattr(image, "label", None)
        if self.behaviour == "mute" or (self.behaviour == "noisy" and _is_noisy(image.id)):
            return None
        return label

    def _answer(self, request: GenerationRequest) -> str:
        label = self._readable(request.image)
        if label is None:
            return _UNREADABLE
        if "yes or no" in request.prompt.lower():
            return "Yes." if f" {label} " in f" {request.prompt} " else "No."
        return label.capitalize()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        self.calls += len(requests)
        return [self._answer(r) for r in requests]

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        """The likelihood strategy's scores: the true label is far likelier than any other answer;
        where the model would answer unreadably, every answer is equally likely (the strategy then
        takes the class listed first)."""
        self.calls += len(requests)
        return [
            [ContinuationScore(0.0 if c == self._readable(r.image) else -10.0, 1) for c in r.continuations]
            for r in requests
        ]

    def close(self) -> None:
        pass

    def fingerprint(self) -> dict[str, str]:
        """Answers depend on the behaviour alone (and this module's code, which the cache adds)."""
        return {"backend": "scripted", "behaviour": self.behaviour}

    def describe(self) -> dict[str, str]:
        return {"backend": "scripted", "behaviour": self.behaviour}
