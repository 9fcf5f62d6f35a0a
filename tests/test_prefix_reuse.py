"""The fast path of the transformers backend gives the plain path's answers, on every family.

"Plain" is ``generate`` on whole prompts; "reused" encodes each image and the prompt's shared
start once and decodes every question on top of that cache (models/hf/prefix.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import GeneratedImage, generated_images
from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import GenerationRequest, ScoreRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.hf.prefix import LinearPositions, Prefix, PrefixCache, PromptSplit
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.strategies import Binary, ClosedSet, Likelihood
from pytest_vlm.strategies.answers import settled
from pytest_vlm.strategies.binary import BinaryParams
from pytest_vlm.strategies.closed_set import PROMPT as CLOSED_SET_PROMPT
from pytest_vlm.strategies.closed_set import ClosedSetParams
from pytest_vlm.strategies.likelihood import LikelihoodParams
from pytest_vlm.tiny.families import TINY_FAMILIES

CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)
PLAIN = RuntimeOptions(prefix_reuse=False, early_stop=False, batch_size=4)
NOT_REUSED = {"mllama": "cross-attention", "paligemma": "prefix-LM"}


def images(count: int, seed: int = 3) -> list[GeneratedImage]:
    return generated_images(count, seed=seed, classes=CLASSES)


def questions(examples: list[GeneratedImage]) -> list[GenerationRequest]:
    """Two closed-set questions per image, class lists of different lengths (so suffixes pad)."""
    shared = CLOSED_SET_PROMPT.index("{classes}")
    return [
        GenerationRequest(
            ex, CLOSED_SET_PROMPT.replace("{classes}", ", ".join(shapes.SHAPES[: 2 + (i + v) % 5])), 6, shared=shared
        )
        for i, ex in enumerate(examples)
        for v in range(2)
    ]


@pytest.mark.parametrize("name", [family.name for family in TINY_FAMILIES])
def test_every_family_answers_the_same_with_and_without_reuse(name: str, tiny_folders: dict[str, Path]) -> None:
    spec = resolve_model(str(tiny_folders[name]), base_dir=Path.cwd())
    requests = questions(images(5))
    plain = HFModel(spec, PLAIN)
    expected = plain.generate(requests)
    for batch_size in (1, 7):
        model = HFModel(spec, RuntimeOptions(early_stop=False, batch_size=batch_size))
        assert model.generate(requests) == expected
        info = model.describe()
        if name in NOT_REUSED:
            assert info["path"] == "plain" and NOT_REUSED[name] in info["plain_reason"]
        else:
            assert (info["path"], info["plain_reason"]) == ("prefix reuse", None)
            assert len(model._prefixes) == 5  # one encoded prefix per image, shared by its questions
    # Scores through the reused prefix match a plain forward pass (one- and multi-token answers).
    score_requests = [ScoreRequest(ex, "Is it a circle?", ("yes", "no", " circle square")) for ex in images(3)]
    reused = HFModel(spec, RuntimeOptions(batch_size=2)).score(score_requests)
    for got, want in zip(reused, plain.score(score_requests)):
        assert [s.tokens for s in got] == [s.tokens for s in want]
        assert [s.logprob for s in got] == pytest.approx([s.logprob for s in want], abs=1e-4)


@pytest.fixture(scope="module")
def embedded() -> dict[str, HFModel]:
    spec = resolve_model("tiny-shapes", base_dir=Path.cwd())
    return {
        "plain": HFModel(spec, PLAIN),
        "reused": HFModel(spec, RuntimeOptions(early_stop=False, batch_size=5)),
        "fast": HFModel(spec, RuntimeOptions(batch_size=16)),
    }


STRATEGIES = {
    "closed_set": ClosedSet(ClosedSetParams(votes=3), classes=CLASSES, background=shapes.BACKGROUND, seed=0),
    "binary": Binary(BinaryParams(), classes=CLASSES, background=shapes.BACKGROUND, seed=0),
    "likelihood": Likelihood(LikelihoodParams(), classes=CLASSES, background=shapes.BACKGROUND, seed=0),
}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_embedded_model_predicts_the_same_on_every_path(strategy: str, embedded: dict[str, HFModel]) -> None:
    """The trained tiny-shapes gives real answers, so agreement here is not agreement on noise."""
    examples = images(14, seed=2026)
    runs = {path: STRATEGIES[strategy].run(model, examples) for path, model in embedded.items()}
    assert sum(p.correct for p in runs["plain"]) >= 11  # the model answers, and mostly right
    for path in ("reused", "fast"):
        assert [p.prediction for p in runs[path]] == [p.prediction for p in runs["plain"]]
        assert [p.parsed for p in runs[path]] == [p.parsed for p in runs["plain"]]
    if strategy != "likelihood":  # without early stopping even the raw text is the same
        assert [p.raw for p in runs["reused"]] == [p.raw for p in runs["plain"]]


def test_early_stop_decodes_only_until_the_answer_is_settled(embedded: dict[str, HFModel]) -> None:
    ex = images(7, seed=2026)
    prompt = CLOSED_SET_PROMPT.replace("{classes}", ", ".join(CLASSES))
    full = embedded["plain"].generate([GenerationRequest(e, prompt, 12) for e in ex])
    fast = embedded["fast"].generate([GenerationRequest(e, prompt, 12, CLASSES) for e in ex])
    assert [settled(a, CLASSES) for a in fast] == [settled(a, CLASSES) for a in full]
    assert all(len(a) <= len(b) for a, b in zip(fast, full))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Circle", "circle"),
        ("a circle.", "circle"),
        ("back", "background"),  # the start of one class only
        ("c", None),  # circle or cross
        ("", None),
        ("It is", None),
        ("square or", "square"),
    ],
)
def test_settled_among_shapes(answer: str, expected: str | None) -> None:
    assert settled(answer, CLASSES) == expected


@pytest.mark.parametrize(
    ("answer", "choices", "expected"),
    [
        ("cat", ("cat", "caterpillar"), None),  # could still become caterpillar
        ("caterpillar", ("cat", "caterpillar"), "caterpillar"),
        ("teddy", ("teddy bear", "bear"), "teddy bear"),
        ("bear", ("teddy bear", "bear", "bear cub"), None),
        ("Yes", ("yes", "no"), "yes"),
        ("n", ("yes", "no"), "no"),
        ("maybe", ("yes", "no"), None),
    ],
)
def test_settled_waits_while_a_longer_choice_is_possible(answer: str, choices: tuple, expected: str | None) -> None:
    assert settled(answer, choices) == expected


def test_prompt_split_probes_whether_the_template_keeps_prompts_verbatim() -> None:
    split = PromptSplit.of(lambda p: f"<s>[INST] {p} [/INST]")
    assert split == PromptSplit("<s>[INST] ", " [/INST]", verbatim=True)
    assert split.chat("Is it?", lambda p: "unused") == "<s>[INST] Is it? [/INST]"
    trimming = PromptSplit.of(lambda p: f"<s>{p.strip()}</s>")
    assert trimming is not None and not trimming.verbatim
    assert trimming.chat("Is it?", lambda p: f"<s>{p.strip()}</s>") == "<s>Is it?</s>"
    assert trimming.chat(" Is it? ", lambda p: f"<s>{p.strip()}</s>") is None  # not kept as is: plain path
    assert PromptSplit.of(lambda p: f"{p} and again {p}") is None


def test_a_failed_check_against_the_plain_path_falls_back(tiny_qwen2_vl: Path) -> None:
    """Wrong positions (1-D where Qwen2-VL needs 3-D) change the logits: the model notices once
    and answers through the plain path, with the reason in describe()."""
    spec = resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd())
    requests = questions(images(3))
    broken = HFModel(spec, RuntimeOptions(early_stop=False))
    broken._positions = LinearPositions()
    assert broken.generate(requests) == HFModel(spec, PLAIN).generate(requests)
    assert broken.describe()["path"] == "plain"
    assert "differ from the plain path" in broken.describe()["plain_reason"]


def _refuse_batches_over(model: HFModel, largest: int, error: type[Exception] = torch.OutOfMemoryError) -> None:
    def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[0] > largest:
            if error is RuntimeError:  # what the CPU allocator (and some CUDA paths) raise instead
                raise RuntimeError(
                    f"[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate {ids.shape[0]} bytes"
                )
            raise error(f"pretend a batch of {ids.shape[0]} does not fit")

    model.model.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, RuntimeError])
@pytest.mark.parametrize("prefix_reuse", [True, False])
def test_out_of_memory_lowers_the_token_budget_and_keeps_the_answers(
    tiny_qwen2_vl: Path, prefix_reuse: bool, error: type[Exception]
) -> None:
    """Allocator failures of both kinds are retried with a smaller token budget; the row ceiling
    (--vlm-batch-size) is not halved for the rest of the session."""
    spec = resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd())
    requests = questions(images(4))
    expected = HFModel(spec, PLAIN).generate(requests)
    model = HFModel(spec, RuntimeOptions(batch_size=8, prefix_reuse=prefix_reuse, early_stop=False))
    budget = model.budget.tokens
    _refuse_batches_over(model, 3, error)
    assert model.generate(requests) == expected
    assert model.out_of_memory_retries >= 1
    assert model.budget.tokens < budget
    assert (model.budget.rows, model.describe()["batch_size"]) == (8, 8)


def test_other_runtime_errors_are_not_taken_for_out_of_memory(tiny_qwen2_vl: Path) -> None:
    model = HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions(batch_size=8))

    def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x64 and 32x64)")

    model.model.register_forward_pre_hook(hook, with_kwargs=True)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        model.generate(questions(images(2)))
    assert model.out_of_memory_retries == 0


def test_out_of_memory_at_batch_size_one_says_what_to_do(tiny_qwen2_vl: Path) -> None:
    model = HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions(batch_size=2))
    _refuse_batches_over(model, 0)
    with pytest.raises(ModelError) as exc:
        model.generate(questions(images(1)))
    assert str(exc.value) == (
        f"model {model.name} ran out of cpu memory with batch size 1; "
        "use a smaller dtype (--vlm-dtype) or a larger device"
    )


def test_switches_reach_the_model_from_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_sessionfinish(session):
            from pytest_vlm.options import read_options
            o = read_options(session.config)
            print("switches", o.prefix_reuse, o.early_stop)
        """
    )
    result = pytester.runpytest("-s", "--vlm-prefix-reuse", "off", "--vlm-early-stop=on")
    result.stdout.fnmatch_lines(["*switches False True*"])
    bad = pytester.runpytest("--vlm-early-stop", "sometimes")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--vlm-early-stop / vlm_early_stop: expected on or off, got 'sometimes'*"])


def test_reuse_is_off_when_asked(tiny_qwen2_vl: Path) -> None:
    spec = dataclasses.replace(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()))
    info = HFModel(spec, RuntimeOptions(prefix_reuse=False)).describe()
    assert (info["path"], info["plain_reason"]) == ("plain", "prefix reuse switched off")


def test_prefixes_of_different_lengths_share_a_batch(tiny_qwen2_vl: Path) -> None:
    """Some questions share the prompt's start and some do not, so heads of different lengths are
    left-padded in one batch (and their positions computed per distinct row): answers stay the
    plain path's."""
    requests = [dataclasses.replace(r, shared=r.shared * (i % 2)) for i, r in enumerate(questions(images(6)))]
    spec = resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd())
    expected = HFModel(spec, PLAIN).generate(requests)
    model = HFModel(spec, RuntimeOptions(early_stop=False, batch_size=4))
    assert model.generate(requests) == expected
    assert model.describe()["path"] == "prefix reuse"
    assert len({p.length for p in model._prefixes._items.values()}) == 2


def _prefix(length: int) -> Prefix:
    keys = torch.zeros(1, 2, length, 4)  # 4-byte floats: 32 bytes per token per tensor
    return Prefix(torch.arange(length), [(keys, keys.clone())], next_position=length)


def test_prefix_cache_is_bounded_by_bytes_and_count() -> None:
    cache = PrefixCache(size=3, max_bytes=640)
    for key, length in (("a", 4), ("b", 4), ("c", 2)):  # 256 + 256 + 128 bytes
        cache.put(key, _prefix(length))
    assert (len(cache), cache.bytes) == (3, 640)
    assert cache.get("a") is not None  # now the most recently used
    cache.put("d", _prefix(1))  # 64 bytes more: the least recently used ("b") goes
    assert [cache.get(k) is not None for k in "abcd"] == [True, False, True, True]
    assert cache.bytes == 256 + 128 + 64
    cache.put("e", _prefix(20))  # larger than the whole budget: nothing else can stay, nor it
    assert (len(cache), cache.bytes) == (0, 0)


def test_a_prefix_budget_smaller_than_a_batch_keeps_the_answers(embedded: dict[str, HFModel]) -> None:
    """Binary asks every image again in each round; with room for two prefixes they are encoded
    again each round, and nothing a batch is using is lost."""
    model = embedded["fast"].variant(prefix_reuse=True, early_stop=True)
    examples = images(14, seed=2026)
    strategy = STRATEGIES["binary"]
    strategy.run(model, examples[:1])
    per_prefix = next(iter(model._prefixes._items.values())).nbytes  # every image's is as long
    model._prefixes = PrefixCache(size=256, max_bytes=2 * per_prefix)
    assert [p.prediction for p in strategy.run(model, examples)] == [
        p.prediction for p in strategy.run(embedded["plain"], examples)
    ]
    assert len(model._prefixes) <= 2
