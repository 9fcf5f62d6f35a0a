"""Text normalisation shared by class answers (strategies/answers.py) and open-ended scorers.

It lives outside ``strategies`` so that scoring can use it without importing every strategy.
"""

from __future__ import annotations

import unicodedata

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
# Endings that singular and plural share once the plural "s" is gone, written one way so that both
# read the same: cookie/cookies and puppy/puppies, house/houses and bus/buses, shoe/shoes and
# zero/zeroes. Words of three letters or fewer (tie, toe, use) keep theirs.
_ONE_WAY = (("ie", "y"), ("use", "us"), ("oe", "o"))


def _singular(word: str) -> str:
    if len(word) > 3 and not word.endswith(_NOT_PLURAL):
        if word.endswith(("ches", "shes", "xes", "sses", "zes")):
            word = word[:-2]
        elif word.endswith("s"):
            word = word[:-1]
    if len(word) > 3:
        for ending, written in _ONE_WAY:
            if word.endswith(ending):
                return word[: -len(ending)] + written
    return word


def _fold(text: str) -> str:
    """Case-folded, compatibility forms folded (full-width Ｃａｔ is cat), accents stripped from
    Latin letters only: other scripts' marks (й, Devanagari vowel signs) are part of the letter."""
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", text.casefold()):
        if unicodedata.combining(char) and out and out[-1].isascii():
            continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def normalise(text: str) -> str:
    """Lower case, no Latin accents or punctuation, no articles or lead-ins, singular words.

    Applied to both answers and class names, so that "Circles.", "a circle" and "CIRCLE" all
    become "circle", and the class "teddy-bear" matches "Teddy bears". Letters and digits of every
    script are kept (кошка, 猫); plurals are only reduced for English.
    """
    text = _fold(text)
    text = "".join(c if c.isalnum() or unicodedata.category(c).startswith("M") else " " for c in text)
    text = " ".join(text.split())
    for lead in _LEAD_INS:
        if text == lead:
            return ""
        if text.startswith(lead + " "):
            text = text[len(lead) + 1 :]
            break
    return " ".join(_singular(w) for w in text.split() if w not in _ARTICLES)
