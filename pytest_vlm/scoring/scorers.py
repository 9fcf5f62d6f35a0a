"""Scorers of free-text answers against reference answers: each a small object with a name and a direction.

An answer's score is its best score over the image's references (any one reference may be matched).
Text scorers are pure; the similarity scorer embeds texts with a sentence-embedding model
(:mod:`pytest_vlm.scoring.embeddings`).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

from pytest_vlm.scoring.normalise import normalise

ANLS_THRESHOLD = 0.5


class Scorer(Protocol):
    """Scores answers against their references; ``higher_is_better`` says the direction."""

    name: ClassVar[str]
    higher_is_better: ClassVar[bool]

    def score(self, answers: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        """One score per answer: the best over that answer's references."""
        ...


def best_over_references(
    pair: Callable[[str, str], float], answers: Sequence[str], references: Sequence[Sequence[str]]
) -> list[float]:
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} reference lists")
    for i, refs in enumerate(references):
        if not refs:
            raise ValueError(f"answer {i} has no reference to score it against")
    return [max(pair(answer, ref) for ref in refs) for answer, refs in zip(answers, references)]


class ExactMatch:
    """1.0 when the answer equals a reference after class-answer normalisation (case, punctuation,
    articles, plurals, lead-ins such as "It is"), else 0.0."""

    name: ClassVar[str] = "exact_match"
    higher_is_better: ClassVar[bool] = True

    def score(self, answers: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        return best_over_references(lambda a, r: float(normalise(a) == normalise(r)), answers, references)


def _contains(answer: str, reference: str) -> float:
    ref = normalise(reference)
    return float(bool(ref) and f" {ref} " in f" {normalise(answer)} ")


class Contains:
    """1.0 when a reference appears in the answer as whole words, after class-answer normalisation."""

    name: ClassVar[str] = "contains"
    higher_is_better: ClassVar[bool] = True

    def score(self, answers: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        return best_over_references(_contains, answers, references)


def squad_normalise(text: str) -> str:
    """SQuAD v1.1's ``normalize_answer``: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(answer: str, reference: str) -> float:
    """SQuAD's token-level F1 between two texts (bag of normalised tokens)."""
    predicted, truth = squad_normalise(answer).split(), squad_normalise(reference).split()
    if not predicted or not truth:
        return float(predicted == truth)
    common = sum((Counter(predicted) & Counter(truth)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(truth)
    return 2 * precision * recall / (precision + recall)


class TokenF1:
    """SQuAD-style token F1 (max over references)."""

    name: ClassVar[str] = "token_f1"
    higher_is_better: ClassVar[bool] = True

    def score(self, answers: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        return best_over_references(token_f1, answers, references)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def anls(answer: str, reference: str, threshold: float = ANLS_THRESHOLD) -> float:
    """DocVQA's ANLS for one pair: 1 - normalised edit distance, 0 when that distance is >= ``threshold``."""
    a, r = " ".join(answer.lower().split()), " ".join(reference.lower().split())
    if not a and not r:
        return 1.0
    distance = levenshtein(a, r) / max(len(a), len(r))
    return 1.0 - distance if distance < threshold else 0.0


class ANLS:
    """Average Normalised Levenshtein Similarity (DocVQA, threshold 0.5), max over references."""

    name: ClassVar[str] = "anls"
    higher_is_better: ClassVar[bool] = True

    def score(self, answers: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        return best_over_references(anls, answers, references)


class Embedder(Protocol):
    """Turns texts into unit-length vectors (rows)."""

    def encode(self, texts: Sequence[str]):  # -> numpy array (len(texts), dim), rows of norm 1
        ...


class CosineSimilarity:
    """Cosine similarity of sentence embeddings of the answer and each reference, max over references."""

    name: ClassVar[str] = "similarity"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def score(self, answers: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        best_over_references(lambda a, r: 0.0, answers, references)  # the same checks as the text scorers
        flat = [ref for refs in references for ref in refs]
        vectors = self.embedder.encode([*answers, *flat])
        answer_vectors, reference_vectors = vectors[: len(answers)], vectors[len(answers) :]
        scores, start = [], 0
        for i, refs in enumerate(references):
            block = reference_vectors[start : start + len(refs)]
            start += len(refs)
            scores.append(float((block @ answer_vectors[i]).max()))
        return scores


TEXT_SCORERS: dict[str, type] = {s.name: s for s in (ExactMatch, Contains, TokenF1, ANLS)}
SCORER_NAMES: tuple[str, ...] = (*TEXT_SCORERS, CosineSimilarity.name)
