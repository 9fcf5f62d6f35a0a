"""Answer parsing: normalise, ClassMatcher, parse_yes_no."""

from __future__ import annotations

import pytest

from pytest_vlm.strategies.answers import ClassMatcher, normalise, parse_yes_no

# --- normalise -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # case and punctuation
        ("CIRCLE", "circle"),
        ("Circle.", "circle"),
        ("  circle!!  ", "circle"),
        ("'circle'", "circle"),
        # separators become spaces
        ("teddy-bear", "teddy bear"),
        ("teddy_bear", "teddy bear"),
        ("teddy/bear", "teddy bear"),
        ("Teddy-Bears!", "teddy bear"),
        # accents
        ("Café", "cafe"),
        # articles anywhere
        ("a circle", "circle"),
        ("An apple", "apple"),
        ("the cat", "cat"),
        ("cat with the hat", "cat with hat"),
        # plurals
        ("Circles.", "circle"),
        ("butterflies", "butterfly"),
        ("boxes", "box"),
        ("watches", "watch"),
        ("dishes", "dish"),
        ("glasses", "glass"),
        # words that only look plural stay as they are
        ("cross", "cross"),
        ("cactus", "cactus"),
        ("octopus", "octopus"),
        ("ibis", "ibis"),
        ("bus", "bus"),  # three letters or fewer: untouched
        ("gas", "gas"),
        ("yes", "yes"),
        # lead-ins models put before the answer
        ("a photo of a cat", "cat"),
        ("A photo of a cat.", "cat"),
        ("It is a cat.", "cat"),
        ("It's a cat", "cat"),
        ("Its a cat", "cat"),
        ("This is a dog", "dog"),
        ("This is a photo of a dog", "dog"),
        ("This is an image of two dogs", "two dog"),
        ("An image of a star", "star"),
        ("A picture of a heart", "heart"),
        ("There is a square", "square"),
        ("The answer is: triangle", "triangle"),
        ("Answer: triangle", "triangle"),
        # a lead-in on its own says nothing
        ("Answer:", ""),
        ("It is.", ""),
        ("", ""),
        ("...", ""),
        ("the", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_normalise_strips_only_one_lead_in() -> None:
    # Only the first lead-in goes; the rest of the sentence keeps its words (articles still dropped).
    assert normalise("The answer is it is a cat") == "it is cat"


def test_normalise_lead_in_must_be_whole_words() -> None:
    # "its" is a lead-in, but "itself" does not start with the word "its".
    assert normalise("itself") == "itself"
    assert normalise("answering machine") == "answering machine"


def test_normalise_is_idempotent() -> None:
    for text in ("Teddy-Bears!", "It is a photo of the Circles.", "Café au lait"):
        once = normalise(text)
        assert normalise(once) == once


# --- ClassMatcher ----------------------------------------------------------------------------

SHAPES = ["circle", "square", "triangle", "star", "cross", "heart"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("circle", "circle"),
        ("Circle.", "circle"),
        ("CIRCLES", "circle"),
        ("It is a star.", "star"),
        ("a photo of a heart", "heart"),
        ("A red triangle", "triangle"),  # one class contained in the answer
        ("I think it's a square shape", "square"),
        ("cross", "cross"),
        ("Crosses", "cross"),
    ],
)
def test_class_matcher_matches(answer: str, expected: str) -> None:
    assert ClassMatcher(SHAPES).match(answer) == expected


@pytest.mark.parametrize(
    "answer",
    [
        "circle or square",  # two classes: ambiguous
        "a star inside a heart",
        "hexagon",  # no class
        "I cannot tell.",
        "",
        "Answer:",
        "circular",  # word-level match only, not substrings
        "stars and circles",
    ],
)
def test_class_matcher_returns_none_when_unmatched_or_ambiguous(answer: str) -> None:
    assert ClassMatcher(SHAPES).match(answer) is None


def test_class_matcher_returns_the_class_name_as_given() -> None:
    matcher = ClassMatcher(["Teddy-Bear", "Golden Retriever"])
    assert matcher.match("teddy bears") == "Teddy-Bear"
    assert matcher.match("It is a golden retriever.") == "Golden Retriever"


def test_class_matcher_longer_name_wins() -> None:
    matcher = ClassMatcher(["bear", "teddy bear"])
    assert matcher.match("bear") == "bear"
    assert matcher.match("teddy bear") == "teddy bear"
    assert matcher.match("It is a teddy bear toy") == "teddy bear"
    assert matcher.match("a brown bear in the woods") == "bear"
    # order of the class list does not matter
    assert ClassMatcher(["teddy bear", "bear"]).match("a teddy bear toy") == "teddy bear"


def test_class_matcher_longer_name_wins_but_two_long_names_are_ambiguous() -> None:
    matcher = ClassMatcher(["bear", "teddy bear", "polar bear"])
    assert matcher.match("a polar bear") == "polar bear"
    assert matcher.match("teddy bear or polar bear") is None


def test_class_matcher_multi_word_class_needs_whole_words() -> None:
    matcher = ClassMatcher(["car", "race car"])
    assert matcher.match("a race car") == "race car"
    assert matcher.match("a racecar") is None


def test_class_matcher_rejects_colliding_class_names() -> None:
    with pytest.raises(ValueError) as exc:
        ClassMatcher(["cat", "dog", "Cats"])
    assert str(exc.value) == (
        "class names 'cat' and 'Cats' read the same once normalised ('cat'), "
        "so answers could not tell them apart; rename one"
    )


def test_class_matcher_rejects_class_name_empty_once_normalised() -> None:
    with pytest.raises(ValueError) as exc:
        ClassMatcher(["cat", "the"])
    assert str(exc.value) == "class name 'the' is empty once normalised; rename it"


# --- parse_yes_no ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("yes", "yes"),
        ("Yes.", "yes"),
        ("YES!", "yes"),
        ("Yes, it is.", "yes"),
        ("The answer is yes", "yes"),
        ("no", "no"),
        ("No.", "no"),
        ("No, there is none.", "no"),
        ("Answer: no", "no"),
        ("yes and no", None),
        ("No... yes", None),
        ("maybe", None),
        ("yeah", None),
        ("nope", None),
        ("", None),
        ("I cannot tell.", None),
        ("eyes", None),  # whole words only
        ("know", None),
    ],
)
def test_parse_yes_no(answer: str, expected: str | None) -> None:
    assert parse_yes_no(answer) == expected
