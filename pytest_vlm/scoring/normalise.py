"""Text normalisation shared by class answers (strategies/answers.py) and open-ended scorers.

It lives outside ``strategies`` so that scoring can use it without importing every strategy.
"""

from __future__ import annotations

import re
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
