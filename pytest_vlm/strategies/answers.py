"""Free-text answers -> class names, yes/no. Unmatched answers give ``None``: recorded, never guessed."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

_ARTICLES = {"a", "an", "the"}
# Lead-ins models put before the one word they were asked for ("It is a cat.", "A photo of a cat").
_LEAD_INS = (
    "the answer is",
    "answer",
    "this is a photo of",
    "this is an image of",
    "a photo of",
    "an image of",
    "a picture of",
    "this is",
    "it is",
    "it s",
    "its",
    "there is",
)
_NOT_PLURAL = ("ss", "us", "is", "ous")


def _singular(word: str) -> str:
    if len(word) <= 3 or word.endswith(_NOT_PLURAL):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def normalise(text: str) -> str:
    """Lower case, no accents or punctuation, no articles or lead-ins, singular words.

    Applied to both answers and class names, so that "Circles.", "a circle" and "CIRCLE" all
    become "circle", and the class "teddy-bear" matches "Teddy bears".
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[_\-/]", " ", text)
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    text = " ".join(text.split())
    for lead in _LEAD_INS:
        if text == lead:
            return ""
        if text.startswith(lead + " "):
            text = text[len(lead) + 1 :]
            break
    return " ".join(_singular(w) for w in text.split() if w not in _ARTICLES)


class ClassMatcher:
    """Matches answers to one of a fixed list of class names."""

    def __init__(self, classes: Sequence[str]) -> None:
        self._by_form: dict[str, str] = {}
        for name in classes:
            form = normalise(name)
            if not form:
                raise ValueError(f"class name {name!r} is empty once normalised; rename it")
            if form in self._by_form:
                raise ValueError(
                    f"class names {self._by_form[form]!r} and {name!r} read the same once normalised "
                    f"({form!r}), so answers could not tell them apart; rename one"
                )
            self._by_form[form] = name

    def match(self, answer: str) -> str | None:
        """The class the answer names, or None when it names none or several."""
        form = normalise(answer)
        if not form:
            return None
        if form in self._by_form:
            return self._by_form[form]
        padded = f" {form} "
        found = [f for f in self._by_form if f" {f} " in padded]
        # "teddy bear" also contains the class "bear": the longer name is the one meant.
        found = [f for f in found if not any(f != g and f" {f} " in f" {g} " for g in found)]
        return self._by_form[found[0]] if len(found) == 1 else None


def parse_yes_no(answer: str) -> str | None:
    """``"yes"`` or ``"no"`` when the answer says exactly one of them, else None."""
    words = set(normalise(answer).split())
    said = {w for w in ("yes", "no") if w in words}
    return said.pop() if len(said) == 1 else None


@functools.lru_cache(maxsize=64)
def _matcher(choices: tuple[str, ...]) -> tuple[ClassMatcher, tuple[str, ...]]:
    return ClassMatcher(choices), tuple(normalise(c) for c in choices)


def settled(answer: str, choices: tuple[str, ...]) -> str | None:
    """The choice a partial answer already decides, or None while it could still become another.

    Used to stop greedy decoding early. It decides when the text so far names exactly one choice
    and is the start of no longer one ("Circle" among circle/square; not "cat" among
    cat/caterpillar), or when it is the start of exactly one choice ("back" among circle and
    background). Words a model might add after that are not seen, so an answer like "circle or
    square" (unreadable in full) reads as circle when stopped early; requests without choices are
    decoded to the end.
    """
    matcher, forms = _matcher(choices)
    text = normalise(answer)
    if not text:
        return None
    choice = matcher.match(answer)
    if choice is not None:
        return None if any(form != text and form.startswith(text) for form in forms) else choice
    starting = [name for name, form in zip(choices, forms) if form.startswith(text)]
    return starting[0] if len(starting) == 1 else None


def settled_on_prefix(answer: str, choice: str) -> bool:
    """Whether ``settled`` decided ``answer`` from the start of ``choice`` rather than from its name."""
    return _matcher((choice,))[0].match(answer) is None
