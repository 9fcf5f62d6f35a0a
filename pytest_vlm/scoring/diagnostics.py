"""Closed-set diagnostics: how far the K shuffled votes agreed, and whether the list order sways answers.

Both are read from what every closed-set prediction already records: ``asked`` (the class list in
the order shown, joined with ", "), ``parsed`` (the class each vote was read as) and the final
prediction. Nothing is asked of the model again, and no prediction changes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pytest_vlm.strategies.base import ImagePrediction

SEPARATOR = ", "  # how closed_set joins the shown class list


def shown_order(asked: str, classes: Sequence[str]) -> list[str] | None:
    """The class list as shown, recovered from the joined text; None if it is not a permutation of
    ``classes`` (e.g. a class name that itself holds ", " made it ambiguous)."""
    names = sorted(classes, key=len, reverse=True)  # longest first: "sea lion" before "sea"
    order, rest = [], asked
    while rest:
        match = next((c for c in names if rest == c or rest.startswith(c + SEPARATOR)), None)
        if match is None:
            return None
        order.append(match)
        rest = rest[len(match) + len(SEPARATOR) :] if rest != match else ""
    return order if sorted(order) == sorted(classes) else None


def agreement(prediction: ImagePrediction) -> int:
    """How many of the votes named the final prediction (0 when there is none)."""
    if prediction.prediction is None:
        return 0
    return sum(1 for vote in prediction.parsed if vote == prediction.prediction)


def closed_set_diagnostics(predictions: Sequence[ImagePrediction], classes: Sequence[str]) -> dict[str, Any]:
    """Vote agreement per image (with accuracy per agreement level) and the position-bias table:
    per slot of the shown list, how many votes chose the class in that slot, split by whether the
    vote was right or wrong. Without bias, wrong votes spread evenly over the slots."""
    votes = max((len(p.parsed) for p in predictions), default=0)
    per_image = {p.image_id: agreement(p) for p in predictions}
    histogram = []
    for agreed in range(votes, -1, -1):
        group = [p for p in predictions if per_image[p.image_id] == agreed]
        if group:
            right = sum(1 for p in group if p.correct)
            histogram.append({"agreed": agreed, "images": len(group), "accuracy": right / len(group)})
    slots = len(classes)
    right_slots, wrong_slots = [0] * slots, [0] * slots
    unreadable = unknown_order = 0
    for p in predictions:
        for asked, vote in zip(p.asked, p.parsed):
            if vote is None:
                unreadable += 1
                continue
            order = shown_order(asked, classes)
            if order is None or vote not in order:
                unknown_order += 1
                continue
            (right_slots if vote == p.label else wrong_slots)[order.index(vote)] += 1
    return {
        "votes": votes,
        "agreement": per_image,
        "agreement_histogram": histogram,
        "position_bias": {
            "slots": slots,
            "right": right_slots,
            "wrong": wrong_slots,
            "unreadable_votes": unreadable,
            "unknown_order_votes": unknown_order,
        },
    }


def unreadable_answers(predictions: Sequence[ImagePrediction], top: int = 3) -> str | None:
    """The most common raw answers that could not be read as any class, with how often each came."""
    counts = Counter(raw for p in predictions for raw, read in zip(p.raw, p.parsed) if read is None)
    if not counts:
        return None
    shown = ", ".join(f"{json.dumps(_clip(raw), ensure_ascii=False)} x{n}" for raw, n in counts.most_common(top))
    more = f" (and {len(counts) - top} other texts)" if len(counts) > top else ""
    return f"unreadable answers, most common first: {shown}{more}"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
