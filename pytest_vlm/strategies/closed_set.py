"""Closed-set: the prompt lists the class names; asked K times in shuffled orders; majority vote."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pytest_vlm.models.base import GenerationRequest, VisionLanguageModel
from pytest_vlm.strategies.answers import ClassMatcher
from pytest_vlm.strategies.base import Example, ImagePrediction, check_template, fill, shared_length
from pytest_vlm.strategies.class_subsets import check_class_counts

PROMPT = (
    "Question: Answer this question in one word: What type of object is in this photo? "
    "Choose one from {classes}. Answer:"
)


@dataclass(frozen=True)
class ClosedSetParams:
    votes: int = 3
    prompt: str = PROMPT
    max_new_tokens: int = 12
    class_counts: tuple[int, ...] = ()  # the class-count sweep (scoring/sweep.py): subset sizes to also run

    def __post_init__(self) -> None:
        check_template(self.prompt, "{classes}")


def shuffled_order(classes: Sequence[str], *, seed: int, image_id: str, vote: int) -> list[str]:
    """The class list as shown to the model for one image and vote.

    Seeded by sha256 of (seed, image id, vote): the same in every process, whatever the test
    selection, xdist distribution or PYTHONHASHSEED.
    """
    digest = hashlib.sha256(f"{seed}\x1f{image_id}\x1f{vote}".encode()).digest()
    order = list(classes)
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def majority(votes: Sequence[str | None]) -> str | None:
    """The most common readable vote; a tie goes to the tied class voted first. None if none readable."""
    counts = Counter(v for v in votes if v is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(v for v in votes if v is not None and counts[v] == best)


class ClosedSet:
    kind: ClassVar[str] = "closed_set"
    Params: ClassVar[type] = ClosedSetParams

    def __init__(self, params: ClosedSetParams, *, classes: Sequence[str], background: str | None, seed: int) -> None:
        self.params = params
        self.classes = list(classes)
        self.seed = seed
        self.matcher = ClassMatcher(self.classes)
        if params.class_counts:
            check_class_counts(params.class_counts, self.classes, background)

    def planned_requests(self, images: int) -> int:
        """Model requests for ``images`` images (for the progress bar)."""
        return images * self.params.votes

    def run(self, model: VisionLanguageModel, examples: Sequence[Example]) -> list[ImagePrediction]:
        choices = tuple(self.classes)
        shared = shared_length(self.params.prompt, "{classes}")
        orders = [
            [shuffled_order(self.classes, seed=self.seed, image_id=ex.id, vote=v) for v in range(self.params.votes)]
            for ex in examples
        ]
        requests = [
            GenerationRequest(
                ex, fill(self.params.prompt, "{classes}", ", ".join(order)), self.params.max_new_tokens, choices, shared
            )
            for ex, ex_orders in zip(examples, orders)
            for order in ex_orders
        ]
        answers = model.generate(requests)
        k = self.params.votes
        predictions = []
        for i, ex in enumerate(examples):
            raw = tuple(answers[i * k : (i + 1) * k])
            parsed = tuple(self.matcher.match(a) for a in raw)
            predictions.append(
                ImagePrediction(
                    image_id=ex.id,
                    label=ex.label,
                    prediction=majority(parsed),
                    asked=tuple(", ".join(o) for o in orders[i]),
                    raw=raw,
                    parsed=parsed,
                )
            )
        return predictions
