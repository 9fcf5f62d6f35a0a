"""Free-text answers -> class names, yes/no. Unmatched answers give ``None``: recorded, never guessed."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from pytest_vlm.scoring.normalise import normalise


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
        words = form.split()
        spans = {f: _spans(words, f.split()) for f in self._by_form}
        taken = [(start, end) for found in spans.values() for start, end in found]
        # "teddy bear" also contains the class "bear": the longer name is the one meant, unless
        # "bear" is also said on its own ("bear or teddy bear" names two classes).
        named = [
            f
            for f, found in spans.items()
            if any(
                not any(s <= start and end <= e and (s, e) != (start, end) for s, e in taken) for start, end in found
            )
        ]
        return self._by_form[named[0]] if len(named) == 1 else None


def _spans(words: list[str], name: list[str]) -> list[tuple[int, int]]:
    """Where the word sequence ``name`` occurs in ``words``, as (start, end) word indices."""
    n = len(name)
    return [(i, i + n) for i in range(len(words) - n + 1) if words[i : i + n] == name]


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
