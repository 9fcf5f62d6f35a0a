"""Binary: one yes/no question per class in a fixed order; the first "yes" decides.

The background class is never asked about: it is the answer when no question got a "yes", so at
most n-1 questions are asked. Without a background class every class is asked and an image every
question got a "no" to is predicted NO_CLASS (wrong, but read). An image with an unreadable answer and no
"yes" also has no prediction: "background" would then be a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pytest_vlm.models.base import GenerationRequest, VisionLanguageModel
from pytest_vlm.strategies.answers import parse_yes_no
from pytest_vlm.strategies.base import NO_CLASS, Example, ImagePrediction, check_template, fill, shared_length

YES_NO = ("yes", "no")
PROMPT = "Answer the question in one word: yes or no. Is the {class} in this photo?"


@dataclass(frozen=True)
class BinaryParams:
    order: tuple[str, ...] | None = None  # default: the class list, background left out
    prompt: str = PROMPT
    max_new_tokens: int = 4

    def __post_init__(self) -> None:
        check_template(self.prompt, "{class}")


def question_order(classes: Sequence[str], background: str | None, order: Sequence[str] | None) -> list[str]:
    """The classes asked about, in order; checks a configured order names each non-background class once."""
    expected = [c for c in classes if c != background]
    if order is None:
        return expected
    unknown = [c for c in order if c not in expected]
    missing = [c for c in expected if c not in order]
    problems = []
    if unknown:
        problems.append(f"not classes to ask about: {', '.join(unknown)}")
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if problems:
        raise ValueError(
            "'order' must list every class except the background exactly once (" + "; ".join(problems) + ")"
        )
    return list(order)


class Binary:
    kind: ClassVar[str] = "binary"
    Params: ClassVar[type] = BinaryParams

    def __init__(self, params: BinaryParams, *, classes: Sequence[str], background: str | None, seed: int) -> None:
        self.params = params
        self.background = background
        self.order = question_order(classes, background, params.order)

    def planned_requests(self, images: int) -> int:
        """At most this many model requests for ``images`` images (for the progress bar)."""
        return images * len(self.order)

    def run(self, model: VisionLanguageModel, examples: Sequence[Example]) -> list[ImagePrediction]:
        asked: list[list[str]] = [[] for _ in examples]
        raw: list[list[str]] = [[] for _ in examples]
        parsed: list[list[str | None]] = [[] for _ in examples]
        decided: dict[int, str] = {}
        pending = list(range(len(examples)))
        shared = shared_length(self.params.prompt, "{class}")
        # One batched round per class: every still-undecided image gets the same question.
        for name in self.order:
            if not pending:
                break
            prompt = fill(self.params.prompt, "{class}", name)
            answers = model.generate(
                [GenerationRequest(examples[i], prompt, self.params.max_new_tokens, YES_NO, shared) for i in pending]
            )
            still_pending = []
            for i, answer in zip(pending, answers):
                reading = parse_yes_no(answer)
                asked[i].append(name)
                raw[i].append(answer)
                parsed[i].append(reading)
                if reading == "yes":
                    decided[i] = name
                else:
                    still_pending.append(i)
            pending = still_pending
        predictions = []
        for i, ex in enumerate(examples):
            prediction = decided.get(i)
            if prediction is None and None not in parsed[i]:
                prediction = self.background if self.background is not None else NO_CLASS
            predictions.append(
                ImagePrediction(ex.id, ex.label, prediction, tuple(asked[i]), tuple(raw[i]), tuple(parsed[i]))
            )
        return predictions
