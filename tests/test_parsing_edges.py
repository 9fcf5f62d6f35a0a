"""Answer parsing and scoring edge cases an independent recomputation found (issue 12.5, 12.11)."""

from __future__ import annotations

import itertools

import pytest

from fakes import FakeModel, Img
from pytest_vlm.scoring.metrics import compute_metrics
from pytest_vlm.strategies.answers import ClassMatcher, normalise
from pytest_vlm.strategies.base import NO_CLASS
from pytest_vlm.strategies.binary import Binary, BinaryParams
from pytest_vlm.strategies.closed_set import vote_orders

# --- 12.5: letters of every script --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("Кошка.", "кошка"),
        ("СОБАКА!", "собака"),
        ("猫", "猫"),
        ("狗。", "狗"),
        ("Ёж", "ёж"),  # a letter of its own in Russian, not an accented е
        ("Café", "cafe"),  # Latin accents are stripped: safe
        ("Ελέφαντας", "ελέφαντασ"),  # casefold: final sigma reads as sigma
        ("हाथी", "हाथी"),  # Devanagari vowel signs are combining marks: kept
        ("ひらがな", "ひらがな"),
        ("Ｃａｔ", "cat"),  # full-width Latin folds to ASCII
    ],
)
def test_normalisation_keeps_letters_of_every_script(text: str, form: str) -> None:
    assert normalise(text) == form


def test_non_latin_class_names_are_usable() -> None:
    matcher = ClassMatcher(["кошка", "собака", "猫", "狗"])
    assert matcher.match("Кошка") == "кошка"
    assert matcher.match("Это собака.") == "собака"
    assert matcher.match("猫") == "猫"
    assert matcher.match("狗！") == "狗"
    assert matcher.match("кошка или собака") is None


# --- 12.11: hedges between nested names ---------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("teddy bear", "teddy bear"),  # the longer name is the one meant...
        ("A teddy bear.", "teddy bear"),
        ("bear", "bear"),
        ("bear or teddy bear", None),  # ...but an answer naming both is unparseable, as the README says
        ("teddy bear or bear", None),
        ("a teddy bear next to a bear", None),
        ("teddy bear, teddy bear", "teddy bear"),
    ],
)
def test_an_answer_naming_a_class_and_a_longer_one_that_contains_it(answer: str, expected: str | None) -> None:
    assert ClassMatcher(["bear", "teddy bear", "background"]).match(answer) == expected


# --- 12.11: plurals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("ties", "tie"),
        ("buses", "bus"),
        ("zeroes", "zero"),
        ("potatoes", "potato"),
        ("shoes", "shoe"),
        ("houses", "house"),
        ("puppies", "puppy"),
        ("cookies", "cookie"),
        ("movies", "movie"),
        ("boxes", "box"),
        ("glasses", "glass"),
        ("horses", "horse"),
        ("cats", "cat"),
        ("dishes", "dish"),
        ("viruses", "virus"),
    ],
)
def test_plurals_read_as_their_singulars(plural: str, singular: str) -> None:
    assert normalise(plural) == normalise(singular)
    assert ClassMatcher([singular, "background"]).match(f"Two {plural}.") == singular


def test_singulars_that_look_plural_stay_apart() -> None:
    ClassMatcher(["bus", "glass", "virus", "tie", "toe", "house", "horse"])  # no two read the same


# --- 12.11: closed-set orders -------------------------------------------------------------------


def test_closed_set_votes_use_distinct_orders_while_there_are_enough() -> None:
    classes = ["bear", "cat", "dog"]
    for i in range(36):
        orders = vote_orders(classes, seed=0, image_id=f"img-{i}", votes=3)
        assert len({tuple(o) for o in orders}) == 3, orders
        assert all(sorted(o) == classes for o in orders)
    every = vote_orders(classes, seed=0, image_id="x", votes=6)
    assert sorted(map(tuple, every)) == sorted(itertools.permutations(classes))
    assert len(vote_orders(["a", "b"], seed=0, image_id="x", votes=3)) == 3  # more votes than orders: repeats


def test_distinct_orders_are_deterministic() -> None:
    first = vote_orders(["a", "b", "c"], seed=4, image_id="img", votes=5)
    assert first == vote_orders(["a", "b", "c"], seed=4, image_id="img", votes=5)


# --- 12.11: binary without a background class ---------------------------------------------------


def test_binary_without_background_says_no_class_when_every_answer_is_no() -> None:
    strategy = Binary(BinaryParams(), classes=["circle", "square"], background=None, seed=0)
    (p,) = strategy.run(FakeModel(lambda r: "No."), [Img("x", "circle")])
    assert p.prediction == NO_CLASS
    assert not p.correct


def test_no_class_is_wrong_but_not_unparseable() -> None:
    metrics = compute_metrics(
        ["circle", "square", "circle", "square"],
        ["circle", NO_CLASS, NO_CLASS, None],
        ["circle", "square"],
        seconds=1.0,
        calls=4,
        peak_memory_mb=0.0,
    )
    assert metrics.accuracy == 0.25
    assert metrics.unparseable_rate == 0.25  # only the one answer that could not be read
    assert metrics.confusion_labels == ("circle", "square", NO_CLASS, "<unparseable>")
