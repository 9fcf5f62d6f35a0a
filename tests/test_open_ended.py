"""The open_ended strategy (prompts, shared starts, scores) and answer baselines (flips, gates)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakes import FakeModel, Img
from pytest_vlm.baseline.answers import compare_answers, evaluate_gates, serialize_answers
from pytest_vlm.data.open_ended import OpenExample
from pytest_vlm.strategies.open_ended import OpenAnswer, OpenEnded, OpenEndedParams

EXAMPLES = [
    OpenExample("a", Img("a", ""), "What colour is the shape?", ("red", "the shape is red")),
    OpenExample("b", Img("b", ""), "What shape is it?", ("a star",)),
    OpenExample("c", Img("c", ""), None, ("a blue circle",)),
]
TEXT_SCORERS = ("exact_match", "contains", "token_f1", "anls")


def test_prompts_fill_the_question_and_share_their_start():
    model = FakeModel(lambda r: {"a": "Red.", "b": "a star", "c": "x"}[r.image.id])
    strategy = OpenEnded(OpenEndedParams(prompt="Answer briefly. {question}", scorers=TEXT_SCORERS))
    answers = strategy.run(model, EXAMPLES[:2])
    (batch,) = model.batches
    assert [r.prompt for r in batch] == [
        "Answer briefly. What colour is the shape?",
        "Answer briefly. What shape is it?",
    ]
    assert [r.shared for r in batch] == [len("Answer briefly. What ")] * 2
    assert all(r.choices == () and r.max_new_tokens == 32 for r in batch)  # decoded to the end
    assert answers[0] == OpenAnswer(
        "a",
        "Answer briefly. What colour is the shape?",
        "Red.",
        ("red", "the shape is red"),
        {"exact_match": 1.0, "contains": 1.0, "token_f1": 1.0, "anls": pytest.approx(0.75)},
    )


def test_a_fixed_prompt_is_asked_about_every_image_and_a_missing_question_is_named():
    model = FakeModel(lambda r: "a blue circle")
    answers = OpenEnded(OpenEndedParams(prompt="Describe the image.", scorers=("exact_match",))).run(model, EXAMPLES)
    assert {r.prompt for r in model.requests} == {"Describe the image."}
    assert [a.scores["exact_match"] for a in answers] == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="image 'c' has no question and the prompt '.question.' asks for one"):
        OpenEnded(OpenEndedParams()).run(model, EXAMPLES)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"scorers": ("similarity", "bleu")}, "unknown scorer 'bleu'; known scorers: exact_match, contains"),
        ({"win_threshold": 1.5}, "win_threshold is a cosine similarity, between -1 and 1; got 1.5"),
    ],
)
def test_params_are_checked(params, message):
    with pytest.raises(ValueError, match=message):
        OpenEndedParams(**params)


class _WordEmbedder:
    """Bag-of-words unit vectors: "grey" and "gray" are one word, so rewording keeps similarity high."""

    VOCAB = ["red", "blue", "star", "circle", "on", "grey", "background", "a", "the", "is", "shape"]

    def encode(self, texts):
        rows = []
        for text in texts:
            words = text.lower().replace("gray", "grey").replace(".", "").split()
            rows.append([words.count(w) + 1e-9 for w in self.VOCAB])
        rows = np.array(rows)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _answers(texts, similarity):
    return [
        OpenAnswer(f"img{i}", "Describe the image.", t, ("ref",), {"similarity": s})
        for i, (t, s) in enumerate(zip(texts, similarity))
    ]


def test_a_reworded_answer_is_no_flip_and_a_changed_meaning_is():
    old = _answers(["a red star on a grey background", "a blue circle", "a red star"], [0.9, 0.8, 0.7])
    baseline = json.loads(serialize_answers(old))
    new = _answers(["a red star on a gray background.", "a red star", "A red star"], [0.9, 0.5, 0.7])
    found = compare_answers(
        baseline,
        new,
        baseline_name="m",
        path="p.json",
        flip_threshold=0.9,
        embedder=_WordEmbedder(),
        score="similarity",
    )
    assert [(f.image_id, f.old, f.new) for f in found.flips] == [("img1", "a blue circle", "a red star")]
    assert found.flips[0].similarity == pytest.approx(1 / 3)  # {a} shared of {a, blue, circle} / {a, red, star}
    assert found.changed == 3 and found.n == 3
    assert found.paired_win_rate == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert (found.worse, found.better, found.mean_old, found.mean_new) == (1, 0, pytest.approx(0.8), pytest.approx(0.7))


def test_without_an_embedder_any_change_of_the_normalised_answer_flips():
    old = _answers(["a red star", "blue"], [1, 1])
    new = _answers(["Red star.", "a blue thing"], [1, 0])
    found = compare_answers(
        json.loads(serialize_answers(old)),
        new,
        baseline_name="m",
        path="p",
        flip_threshold=0.9,
        embedder=None,
        score="similarity",
    )
    assert [f.image_id for f in found.flips] == ["img1"] and found.flips[0].similarity is None


def test_gates_on_flip_rate_and_a_significant_drop():
    n = 30
    old = _answers([f"answer {i}" for i in range(n)], [0.9] * n)
    dropped = _answers([f"answer {i}" for i in range(n)], [0.9 - 0.01 * (i + 1) for i in range(n)])
    found = compare_answers(
        json.loads(serialize_answers(old)),
        dropped,
        baseline_name="m",
        path="p",
        flip_threshold=0.9,
        embedder=None,
        score="similarity",
    )
    gates = evaluate_gates(0.1, 0.05, found)
    assert [g["passed"] for g in gates] == [True, False]
    assert "Wilcoxon signed-rank one-sided p=" in gates[1]["detail"] and "a significant drop" in gates[1]["detail"]
    assert gates[0]["detail"] == "flip rate 0.0000 (0 of 30 answers changed meaning) <= max_flip_rate 0.1"
    noisy = _answers([f"answer {i}" for i in range(n)], [0.9 + (0.01 if i % 2 else -0.01) for i in range(n)])
    found = compare_answers(
        json.loads(serialize_answers(old)),
        noisy,
        baseline_name="m",
        path="p",
        flip_threshold=0.9,
        embedder=None,
        score="similarity",
    )
    assert evaluate_gates(None, 0.05, found)[0]["passed"]
