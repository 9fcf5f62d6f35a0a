"""Binary strategy: one yes/no question per class, first "yes" decides, background when all say no."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from fakes import FakeModel, Img
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.strategies import STRATEGIES
from pytest_vlm.strategies.base import NO_CLASS
from pytest_vlm.strategies.binary import PROMPT, Binary, BinaryParams, question_order

REFERENCE_PROMPT = "Answer the question in one word: yes or no. Is the {class} in this photo?"
CLASSES = ["circle", "square", "star", "background"]


_ASKED = re.compile(r"Is the (.+) in this photo\?$")


def asked_class(request: GenerationRequest) -> str:
    match = _ASKED.search(request.prompt)
    assert match, request.prompt
    return match.group(1)


def truthful(request: GenerationRequest) -> str:
    return "Yes." if asked_class(request) == request.image.label else "No."


def table(answers: dict[tuple[str, str], str], default: str = "no") -> Callable[[GenerationRequest], str]:
    """Answers looked up by (image id, class asked), ``default`` otherwise."""
    return lambda r: answers.get((r.image.id, asked_class(r)), default)


def make(classes: Sequence[str] = CLASSES, background: str | None = "background", **params: object) -> Binary:
    return Binary(BinaryParams(**params), classes=classes, background=background, seed=0)


# --- question order --------------------------------------------------------------------------


def test_reference_prompt() -> None:
    assert PROMPT == REFERENCE_PROMPT
    assert BinaryParams().prompt == REFERENCE_PROMPT
    assert BinaryParams().max_new_tokens == 4
    assert STRATEGIES["binary"] is Binary


def test_default_order_is_the_class_order_without_background() -> None:
    assert question_order(CLASSES, "background", None) == ["circle", "square", "star"]
    assert question_order(["background", "b", "a"], "background", None) == ["b", "a"]
    assert make().order == ["circle", "square", "star"]


def test_default_order_without_background_asks_every_class() -> None:
    assert question_order(CLASSES, None, None) == CLASSES
    assert make(background=None).order == CLASSES


def test_configured_order() -> None:
    assert question_order(CLASSES, "background", ("star", "circle", "square")) == ["star", "circle", "square"]
    assert make(order=("square", "star", "circle")).order == ["square", "star", "circle"]


@pytest.mark.parametrize(
    ("order", "problems"),
    [
        (("star", "circle"), "missing: square"),
        (("star", "circle", "square", "hexagon"), "not classes to ask about: hexagon"),
        (("star", "circle", "square", "background"), "not classes to ask about: background"),
        (("star", "hexagon", "oval"), "not classes to ask about: hexagon, oval; missing: circle, square"),
        ((), "missing: circle, square, star"),
    ],
)
def test_configured_order_must_name_each_non_background_class(order: tuple[str, ...], problems: str) -> None:
    with pytest.raises(ValueError) as exc:
        question_order(CLASSES, "background", order)
    assert str(exc.value) == f"'order' must list every class except the background exactly once ({problems})"


def test_constructor_checks_the_order() -> None:
    with pytest.raises(ValueError, match=r"missing: star\)$"):
        make(order=("circle", "square"))


def test_params_require_the_class_placeholder() -> None:
    with pytest.raises(ValueError) as exc:
        BinaryParams(prompt="Is there a {classes}?")
    assert str(exc.value) == "the prompt must contain {class} (where the class names go); got 'Is there a {classes}?'"


# --- run ---------------------------------------------------------------------------------------


def test_stops_at_the_first_yes() -> None:
    images = [Img("c", "circle"), Img("s", "square"), Img("t", "star")]
    model = FakeModel(truthful)
    predictions = {p.image_id: p for p in make().run(model, images)}
    assert predictions["c"].asked == ("circle",)
    assert predictions["c"].parsed == ("yes",)
    assert predictions["s"].asked == ("circle", "square")
    assert predictions["s"].parsed == ("no", "yes")
    assert predictions["t"].asked == ("circle", "square", "star")
    assert predictions["t"].raw == ("No.", "No.", "Yes.")
    assert all(p.prediction == p.label and p.correct for p in predictions.values())


def test_first_yes_wins_even_if_a_later_class_would_also_say_yes() -> None:
    model = FakeModel(lambda r: "yes")
    (p,) = make().run(model, [Img("x", "star")])
    assert p.prediction == "circle"
    assert p.asked == ("circle",)
    assert not p.correct


def test_background_when_every_question_says_no() -> None:
    model = FakeModel(lambda r: "No, it is not.")
    (p,) = make().run(model, [Img("bg", "background")])
    # at most n-1 questions: the background class is never asked about
    assert p.asked == ("circle", "square", "star")
    assert p.parsed == ("no", "no", "no")
    assert p.prediction == "background"
    assert p.correct
    assert all("background" not in r.prompt for r in model.requests)


def test_at_most_n_minus_1_questions_with_a_background() -> None:
    images = [Img(f"i{n}", label) for n, label in enumerate(CLASSES * 2)]
    model = FakeModel(truthful)
    predictions = make().run(model, images)
    assert max(len(p.asked) for p in predictions) == len(CLASSES) - 1
    assert [p.prediction for p in predictions] == [ex.label for ex in images]


def test_without_background_every_class_is_asked_and_no_yes_gives_no_class() -> None:
    classes = ["circle", "square", "star"]
    model = FakeModel(lambda r: "no")
    (p,) = make(classes=classes, background=None).run(model, [Img("x", "star")])
    assert p.asked == ("circle", "square", "star")
    assert p.parsed == ("no", "no", "no")
    assert p.prediction == NO_CLASS  # read, and wrong: not unparseable
    assert not p.correct


def test_without_background_a_yes_on_the_last_class_is_kept() -> None:
    classes = ["circle", "square", "star"]
    model = FakeModel(truthful)
    (p,) = make(classes=classes, background=None).run(model, [Img("x", "star")])
    assert p.asked == ("circle", "square", "star")
    assert p.prediction == "star"


def test_unparseable_answer_without_yes_gives_none_not_background() -> None:
    model = FakeModel(table({("x", "square"): "I cannot tell."}))
    (p,) = make().run(model, [Img("x", "background")])
    assert p.asked == ("circle", "square", "star")
    assert p.raw == ("no", "I cannot tell.", "no")
    assert p.parsed == ("no", None, "no")
    assert p.prediction is None


def test_unparseable_answer_then_yes_keeps_the_yes() -> None:
    model = FakeModel(table({("x", "circle"): "yes and no", ("x", "square"): "Yes!"}))
    (p,) = make().run(model, [Img("x", "square")])
    assert p.asked == ("circle", "square")
    assert p.parsed == (None, "yes")
    assert p.prediction == "square"


def test_one_batched_call_per_round_with_only_undecided_images() -> None:
    images = [Img("c", "circle"), Img("s", "square"), Img("t", "star"), Img("b", "background")]
    model = FakeModel(truthful)
    make().run(model, images)
    assert [[r.image.id for r in batch] for batch in model.batches] == [
        ["c", "s", "t", "b"],
        ["s", "t", "b"],
        ["t", "b"],
    ]
    assert [{asked_class(r) for r in batch} for batch in model.batches] == [{"circle"}, {"square"}, {"star"}]


def test_no_more_rounds_once_every_image_is_decided() -> None:
    images = [Img("a", "circle"), Img("b", "circle")]
    model = FakeModel(truthful)
    make().run(model, images)
    assert len(model.batches) == 1


def test_prompt_text_and_max_new_tokens() -> None:
    model = FakeModel(lambda r: "no")
    make().run(model, [Img("x", "background")])
    assert [r.prompt for r in model.requests] == [
        "Answer the question in one word: yes or no. Is the circle in this photo?",
        "Answer the question in one word: yes or no. Is the square in this photo?",
        "Answer the question in one word: yes or no. Is the star in this photo?",
    ]
    assert {r.max_new_tokens for r in model.requests} == {4}


def test_custom_prompt_and_order() -> None:
    template = "Does this {picture} show a {class}? {yes/no}"
    model = FakeModel(lambda r: "yes" if "show a star?" in r.prompt else "no")
    (p,) = make(order=("star", "square", "circle"), prompt=template, max_new_tokens=2).run(model, [Img("x", "star")])
    assert [r.prompt for r in model.requests] == ["Does this {picture} show a star? {yes/no}"]
    assert [r.max_new_tokens for r in model.requests] == [2]
    assert p.asked == ("star",)
    assert p.prediction == "star"


def test_calls_per_image_are_counted_right() -> None:
    # circle: 1 call; square: 2; star and background: 3 (n-1) each.
    images = [Img("c", "circle"), Img("s", "square"), Img("t", "star"), Img("b", "background")]
    model = FakeModel(truthful)
    predictions = make().run(model, images)
    per_image = Counter(r.image.id for r in model.requests)
    assert per_image == {"c": 1, "s": 2, "t": 3, "b": 3}
    assert {p.image_id: len(p.asked) for p in predictions} == dict(per_image)
    assert all(len(p.asked) == len(p.raw) == len(p.parsed) for p in predictions)
    assert sum(len(p.asked) for p in predictions) == len(model.requests) == 9


def test_predictions_keep_example_order_and_labels() -> None:
    images = [Img("z", "star"), Img("a", "circle"), Img("m", "background")]
    predictions = make().run(FakeModel(truthful), images)
    assert [(p.image_id, p.label) for p in predictions] == [("z", "star"), ("a", "circle"), ("m", "background")]


def test_run_with_no_examples() -> None:
    model = FakeModel(truthful)
    assert make().run(model, []) == []
    assert model.batches == []
