"""The ``open_ended`` strategy: one greedy free-text answer per image, scored against its references."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pytest_vlm.models.base import GenerationRequest, ImageSource, VisionLanguageModel
from pytest_vlm.scoring.embeddings import DEFAULT_EMBEDDING_MODEL
from pytest_vlm.scoring.open_metrics import DEFAULT_WIN_THRESHOLD
from pytest_vlm.scoring.scorers import SCORER_NAMES, TEXT_SCORERS, CosineSimilarity, Scorer

KIND = "open_ended"
QUESTION = "{question}"
DEFAULT_SCORERS = SCORER_NAMES
# A new answer whose similarity to its baseline answer is below this has changed meaning (a flip):
# rewordings of the shapes captions measure 0.92-1.0 with all-MiniLM-L6-v2, a changed colour or shape <= 0.85.
DEFAULT_FLIP_THRESHOLD = 0.9


@dataclass(frozen=True)
class OpenEndedParams:
    prompt: str = QUESTION
    max_new_tokens: int = 32
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    win_threshold: float = DEFAULT_WIN_THRESHOLD
    flip_threshold: float = DEFAULT_FLIP_THRESHOLD

    def __post_init__(self) -> None:
        unknown = [s for s in self.scorers if s not in SCORER_NAMES]
        if unknown:
            raise ValueError(f"unknown scorer {unknown[0]!r}; known scorers: {', '.join(SCORER_NAMES)}")
        for name in ("win_threshold", "flip_threshold"):
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"{name} is a cosine similarity, between -1 and 1; got {value}")


class OpenExample(Protocol):
    """A question about an image and its reference answers (data/open_ended.py makes them)."""

    @property
    def id(self) -> str: ...
    @property
    def image(self) -> ImageSource: ...
    @property
    def question(self) -> str | None: ...
    @property
    def references(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class OpenAnswer:
    """What the model answered about one image, and how each scorer scored it."""

    image_id: str
    asked: str
    answer: str
    references: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)


def build_prompt(template: str, question: str | None, image_id: str) -> str:
    if QUESTION not in template:
        return template
    if not question:
        raise ValueError(
            f"image {image_id!r} has no question and the prompt {template!r} asks for one; "
            "give every image a question or set the strategy's prompt (e.g. 'Describe the image.')"
        )
    return template.replace(QUESTION, question)


def build_scorers(params: OpenEndedParams) -> list[Scorer]:
    """The scorers the params name, in that order (the embedding model loads once per process)."""
    scorers: list[Scorer] = []
    for name in params.scorers:
        if name == CosineSimilarity.name:
            from pytest_vlm.scoring.embeddings import load_embedder

            scorers.append(CosineSimilarity(load_embedder(params.embedding_model)))
        else:
            scorers.append(TEXT_SCORERS[name]())
    return scorers


class OpenEnded:
    kind: ClassVar[str] = KIND
    Params: ClassVar[type] = OpenEndedParams

    def __init__(self, params: OpenEndedParams, **_: Any) -> None:
        self.params = params

    def planned_requests(self, images: int) -> int:
        return images

    def prompts(self, examples: Sequence[OpenExample]) -> list[str]:
        """The prompt for each example; ValueError names an image the prompt cannot be filled for."""
        return [build_prompt(self.params.prompt, ex.question, ex.id) for ex in examples]

    def ask(self, model: VisionLanguageModel, examples: Sequence[OpenExample]) -> list[str]:
        """The model's answers; prompts that share a start let a backend encode it once per image."""
        prompts = self.prompts(examples)
        shared = len(os.path.commonprefix(prompts)) if prompts else 0
        requests = [
            GenerationRequest(ex.image, prompt, self.params.max_new_tokens, (), shared)
            for ex, prompt in zip(examples, prompts)
        ]
        return model.generate(requests)

    def score(self, examples: Sequence[OpenExample], answers: Sequence[str]) -> list[OpenAnswer]:
        """Each answer with every scorer's score against its example's references."""
        references = [ex.references for ex in examples]
        columns = {s.name: s.score(answers, references) for s in build_scorers(self.params)}
        return [
            OpenAnswer(
                image_id=ex.id,
                asked=build_prompt(self.params.prompt, ex.question, ex.id),
                answer=answer,
                references=ex.references,
                scores={name: column[i] for name, column in columns.items()},
            )
            for i, (ex, answer) in enumerate(zip(examples, answers))
        ]

    def run(self, model: VisionLanguageModel, examples: Sequence[OpenExample]) -> list[OpenAnswer]:
        return self.score(examples, self.ask(model, examples))
