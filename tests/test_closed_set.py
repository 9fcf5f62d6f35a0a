"""Closed-set strategy: shuffled class orders, majority vote, batched model calls, prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence

import pytest

from fakes import FakeModel, Img
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.strategies import STRATEGIES
from pytest_vlm.strategies.closed_set import PROMPT, ClosedSet, ClosedSetParams, majority, shuffled_order, vote_orders

SHAPES = ["circle", "square", "triangle", "star", "cross", "heart"]
REFERENCE_PROMPT = (
    "Question: Answer this question in one word: What type of object is in this photo? "
    "Choose one from {classes}. Answer:"
)


def listed_options(prompt: str) -> list[str]:
    """The class list shown in a prompt built from the reference template."""
    head, tail = "Choose one from ", ". Answer:"
    start = prompt.index(head) + len(head)
    return prompt[start : prompt.index(tail, start)].split(", ")


def first_option(request: GenerationRequest) -> str:
    return listed_options(request.prompt)[0]


class Scripted:
    """Answers per (image id, vote): the n-th request about an image is its vote n."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.seen: Counter[str] = Counter()

    def __call__(self, request: GenerationRequest) -> str:
        vote = self.seen[request.image.id]
        self.seen[request.image.id] += 1
        return self.script[request.image.id][vote]


def make(votes: int = 3, classes: Sequence[str] = SHAPES, seed: int = 0, **params: object) -> ClosedSet:
    return ClosedSet(ClosedSetParams(votes=votes, **params), classes=classes, background=None, seed=seed)


# --- shuffled_order --------------------------------------------------------------------------


def test_reference_prompt_is_the_documented_one() -> None:
    assert PROMPT == REFERENCE_PROMPT
    assert ClosedSetParams().prompt == REFERENCE_PROMPT
    assert ClosedSetParams().votes == 3
    assert STRATEGIES["closed_set"] is ClosedSet


@pytest.mark.parametrize("image_id", ["a", "circle-0-00000", "001.ak47/001_0001"])
@pytest.mark.parametrize("vote", [0, 1, 5])
def test_shuffled_order_is_a_permutation(image_id: str, vote: int) -> None:
    order = shuffled_order(SHAPES, seed=3, image_id=image_id, vote=vote)
    assert sorted(order) == sorted(SHAPES)
    assert len(order) == len(SHAPES)


def test_shuffled_order_does_not_modify_its_input() -> None:
    classes = list(SHAPES)
    shuffled_order(classes, seed=0, image_id="x", vote=0)
    assert classes == SHAPES


def test_shuffled_order_is_deterministic() -> None:
    first = [shuffled_order(SHAPES, seed=1, image_id=f"img{i}", vote=v) for i in range(10) for v in range(3)]
    again = [shuffled_order(SHAPES, seed=1, image_id=f"img{i}", vote=v) for i in range(10) for v in range(3)]
    assert first == again


def test_shuffled_order_golden_value() -> None:
    # Baselines were recorded with these orders: changing the shuffle changes what models are shown.
    assert shuffled_order(SHAPES, seed=0, image_id="circle-0-00000", vote=0) == [
        "square",
        "triangle",
        "circle",
        "star",
        "cross",
        "heart",
    ]
    assert shuffled_order(SHAPES, seed=0, image_id="circle-0-00000", vote=1) == [
        "square",
        "circle",
        "star",
        "cross",
        "triangle",
        "heart",
    ]


def test_shuffled_order_differs_across_votes() -> None:
    orders = {tuple(shuffled_order(SHAPES, seed=0, image_id="img", vote=v)) for v in range(10)}
    assert len(orders) >= 8  # 720 possible orders: repeats among 10 are rare


def test_shuffled_order_differs_across_images() -> None:
    orders = {tuple(shuffled_order(SHAPES, seed=0, image_id=f"img{i}", vote=0)) for i in range(10)}
    assert len(orders) >= 8


def test_shuffled_order_differs_across_seeds() -> None:
    orders = {tuple(shuffled_order(SHAPES, seed=s, image_id="img", vote=0)) for s in range(10)}
    assert len(orders) >= 8


def test_shuffled_order_does_not_mix_up_fields() -> None:
    # seed/id/vote are separated, so ("1", "2") is not the same input as ("12", "") etc.
    a = [shuffled_order(SHAPES, seed=1, image_id="2", vote=v) for v in range(4)]
    b = [shuffled_order(SHAPES, seed=12, image_id="", vote=v) for v in range(4)]
    assert a != b


_SUBPROCESS = """
import json
from pytest_vlm.strategies.closed_set import shuffled_order
classes = {classes!r}
print(json.dumps([shuffled_order(classes, seed=s, image_id=f"img-{{i}}", vote=v)
                  for s in (0, 7) for i in range(5) for v in range(3)]))
"""


def test_shuffled_order_is_the_same_in_other_processes_whatever_pythonhashseed() -> None:
    expected = [
        shuffled_order(SHAPES, seed=s, image_id=f"img-{i}", vote=v) for s in (0, 7) for i in range(5) for v in range(3)
    ]
    results = []
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS.format(classes=SHAPES)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        results.append(json.loads(out.stdout))
    assert results[0] == expected
    assert results[1] == expected


def test_orders_do_not_depend_on_the_order_images_are_processed_in() -> None:
    images = [Img(f"img{i}", SHAPES[i % 6]) for i in range(8)]
    forward = FakeModel(first_option)
    backward = FakeModel(first_option)
    by_id_forward = {p.image_id: p for p in make(votes=3).run(forward, images)}
    by_id_backward = {p.image_id: p for p in make(votes=3).run(backward, list(reversed(images)))}
    assert by_id_forward == by_id_backward
    # and a run on a subset sees the same orders for the images it has
    subset = {p.image_id: p for p in make(votes=3).run(FakeModel(first_option), images[3:5])}
    assert subset == {k: by_id_forward[k] for k in ("img3", "img4")}


# --- majority --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        (["cat"], "cat"),
        (["cat", "dog", "dog"], "dog"),
        (["dog", "cat", "dog"], "dog"),
        (["cat", "cat", "dog"], "cat"),
        # ties: the tied class voted first wins
        (["cat", "dog"], "cat"),
        (["dog", "cat"], "dog"),
        (["bird", "cat", "dog", "dog", "cat"], "cat"),
        (["bird", "dog", "cat", "cat", "dog"], "dog"),
        # unreadable votes do not count
        ([None, "cat"], "cat"),
        ([None, None, "dog"], "dog"),
        ([None, "cat", "dog", None], "cat"),
        (["cat", None, None, "dog", "dog"], "dog"),
        ([None, None, None], None),
        ([], None),
    ],
)
def test_majority(votes: list[str | None], expected: str | None) -> None:
    assert majority(votes) == expected


# --- ClosedSet.run ---------------------------------------------------------------------------


def test_run_sends_every_request_in_one_batch_with_k_per_image() -> None:
    images = [Img("a", "circle"), Img("b", "star"), Img("c", "heart")]
    model = FakeModel(first_option)
    make(votes=5).run(model, images)
    assert len(model.batches) == 1
    assert len(model.requests) == 15
    assert Counter(r.image.id for r in model.requests) == {"a": 5, "b": 5, "c": 5}
    # requests are grouped by image, in the order of the examples
    assert [r.image.id for r in model.requests] == ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    assert all(r.image is images[i // 5] for i, r in enumerate(model.requests))
    assert {r.max_new_tokens for r in model.requests} == {12}


def test_run_prompts_are_the_reference_prompt_with_shuffled_classes() -> None:
    images = [Img("a", "circle"), Img("b", "star")]
    model = FakeModel(first_option)
    make(votes=3, seed=4).run(model, images)
    expected = [
        "Question: Answer this question in one word: What type of object is in this photo? Choose one from "
        + ", ".join(shuffled_order(SHAPES, seed=4, image_id=image.id, vote=v))
        + ". Answer:"
        for image in images
        for v in range(3)
    ]
    assert [r.prompt for r in model.requests] == expected


def test_run_records_orders_answers_and_prediction() -> None:
    images = [Img("a", "circle"), Img("b", "star")]
    model = FakeModel(first_option)
    predictions = make(votes=3, seed=2).run(model, images)
    assert [p.image_id for p in predictions] == ["a", "b"]
    for image, p in zip(images, predictions):
        orders = [shuffled_order(SHAPES, seed=2, image_id=image.id, vote=v) for v in range(3)]
        assert p.label == image.label
        assert p.asked == tuple(", ".join(o) for o in orders)
        assert p.raw == tuple(o[0] for o in orders)
        assert p.parsed == tuple(o[0] for o in orders)
        assert p.prediction == majority([o[0] for o in orders])
        assert p.correct == (p.prediction == image.label)


def test_run_scripted_answers_majority_and_unreadable() -> None:
    images = [Img("a", "circle"), Img("b", "star"), Img("c", "heart"), Img("d", "cross")]
    script = {
        "a": ["Circle.", "It is a circle", "square"],  # 2 of 3 -> right
        "b": ["square", "Star", "squares"],  # majority wrong
        "c": ["I cannot tell.", "circle or heart", "???"],  # nothing readable
        "d": ["star", "cross", "hexagon"],  # tie among readable: first voted wins
    }
    model = FakeModel(Scripted(script))
    predictions = {p.image_id: p for p in make(votes=3).run(model, images)}

    assert predictions["a"].raw == ("Circle.", "It is a circle", "square")
    assert predictions["a"].parsed == ("circle", "circle", "square")
    assert predictions["a"].prediction == "circle"
    assert predictions["a"].correct

    assert predictions["b"].parsed == ("square", "star", "square")
    assert predictions["b"].prediction == "square"
    assert not predictions["b"].correct

    assert predictions["c"].parsed == (None, None, None)
    assert predictions["c"].prediction is None
    assert not predictions["c"].correct

    assert predictions["d"].parsed == ("star", "cross", None)
    assert predictions["d"].prediction == "star"


def test_run_single_vote() -> None:
    model = FakeModel(lambda r: "heart")
    (prediction,) = make(votes=1).run(model, [Img("x", "heart")])
    assert len(model.requests) == 1
    assert prediction.prediction == "heart"
    assert prediction.asked == (", ".join(shuffled_order(SHAPES, seed=0, image_id="x", vote=0)),)


def test_run_with_no_examples() -> None:
    model = FakeModel(first_option)
    assert make().run(model, []) == []
    assert model.requests == []


def test_run_matches_multi_word_class_names() -> None:
    classes = ["bear", "teddy bear", "dog"]
    model = FakeModel(lambda r: "A teddy bear.")
    (p,) = make(votes=2, classes=classes).run(model, [Img("t", "teddy bear")])
    assert p.parsed == ("teddy bear", "teddy bear")
    assert p.prediction == "teddy bear"


def test_run_custom_prompt_template_and_max_new_tokens() -> None:
    template = 'Which of {classes} is shown? Reply as JSON like {"answer": ...}'
    model = FakeModel(lambda r: "star")
    (p,) = make(votes=2, classes=["star", "heart"], seed=9, prompt=template, max_new_tokens=5).run(
        model, [Img("s", "star")]
    )
    orders = vote_orders(["star", "heart"], seed=9, image_id="s", votes=2)
    assert orders[0] != orders[1]  # distinct orders: both there are of two classes
    assert [r.prompt for r in model.requests] == [
        "Which of " + ", ".join(o) + ' is shown? Reply as JSON like {"answer": ...}' for o in orders
    ]
    assert {r.max_new_tokens for r in model.requests} == {5}
    assert p.prediction == "star"


def test_params_require_the_classes_placeholder() -> None:
    with pytest.raises(ValueError) as exc:
        ClosedSetParams(prompt="What is this? Choose one from {class}.")
    assert str(exc.value) == (
        "the prompt must contain {classes} (where the class names go); got 'What is this? Choose one from {class}.'"
    )


def test_constructor_rejects_classes_that_read_the_same() -> None:
    with pytest.raises(ValueError, match="read the same once normalised"):
        make(classes=["circle", "Circles"])


def test_closed_set_does_not_close_the_model() -> None:
    model = FakeModel(first_option)
    make().run(model, [Img("a", "circle")])
    assert not model.closed
