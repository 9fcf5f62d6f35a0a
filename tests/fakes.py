"""Stand-ins for unit tests of strategies: images without pixels, a model answering by rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_vlm.models.base import GenerationRequest


@dataclass(frozen=True)
class Img:
    """An example a strategy can ask about; it has no pixels, so decoding it fails the test."""

    id: str
    label: str

    def load(self) -> object:
        raise AssertionError("a strategy or scripted model must not decode images itself")


class FakeModel:
    """Answers each request with ``answer(request)``; records every generate call."""

    name = "fake"

    def __init__(self, answer: Callable[[GenerationRequest], str]) -> None:
        self.answer = answer
        self.batches: list[list[GenerationRequest]] = []
        self.closed = False

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        self.batches.append(list(requests))
        return [self.answer(r) for r in requests]

    def close(self) -> None:
        self.closed = True

    @property
    def requests(self) -> list[GenerationRequest]:
        return [r for batch in self.batches for r in batch]
