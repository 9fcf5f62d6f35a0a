"""Every transformers family on a tiny random checkpoint of its own architecture, through the
one generic backend path: its processor, its chat template (or raw prefix), batching, decoding."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import GeneratedImage, generated_images
from pytest_vlm.models.base import GenerationRequest, ScoreRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.families import DEFAULT_FAMILY, FAMILIES, RawPrefixFamily, family_for
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.strategies.closed_set import PROMPT as CLOSED_SET_PROMPT
from pytest_vlm.tiny.families import TINY_FAMILIES, TinyFamily

NAMES = [family.name for family in TINY_FAMILIES]
QUESTION = "Is the circle in this photo?"

# What each family's published template makes of one user turn (image, then QUESTION), written
# out by hand from the model cards, not produced by the templates under test.
RENDERED = {
    "qwen2-vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    f"<|vision_start|><|image_pad|><|vision_end|>{QUESTION}<|im_end|>\n<|im_start|>assistant\n",
    "qwen2.5-vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    f"<|vision_start|><|image_pad|><|vision_end|>{QUESTION}<|im_end|>\n<|im_start|>assistant\n",
    "llava-next-mistral": f"[INST] <image>\n{QUESTION} [/INST]",
    "llava-next-llama3": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    f"<image>\n{QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "mllama": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    f"<|image|>{QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "internvl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    f"<IMG_CONTEXT>\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n",
    "idefics3": f"<|begin_of_text|>User:<image>{QUESTION}<end_of_utterance>\nAssistant:",
    "smolvlm": f"<|im_start|>User:<image>{QUESTION}<end_of_utterance>\nAssistant:",
    "paligemma": QUESTION,  # no chat template: the processor adds image tokens, BOS and "\n"
    "gemma3": f"<bos><start_of_turn>user\n<start_of_image>{QUESTION}<end_of_turn>\n<start_of_turn>model\n",
}


@pytest.fixture(scope="module")
def models(tiny_folders: dict[str, Path]) -> dict[str, HFModel]:
    return {
        name: HFModel(resolve_model(str(folder), base_dir=Path.cwd()), RuntimeOptions(batch_size=4))
        for name, folder in tiny_folders.items()
    }


def images(count: int, seed: int = 3) -> list[GeneratedImage]:
    return generated_images(count, seed=seed, classes=shapes.SHAPES)


def test_every_family_has_a_tiny_checkpoint() -> None:
    assert NAMES == [
        "qwen2-vl",
        "qwen2.5-vl",
        "llava-next-mistral",
        "llava-next-llama3",
        "mllama",
        "internvl",
        "idefics3",
        "smolvlm",
        "paligemma",
        "gemma3",
    ]
    assert set(RENDERED) == set(NAMES)


@pytest.mark.parametrize("family", TINY_FAMILIES, ids=NAMES)
def test_builds_fast_and_small(family: TinyFamily, tiny_folders: dict[str, Path], tmp_path: Path) -> None:
    # CPU time, not wall time: a loaded CI box (xdist workers, other jobs) stretches the wall clock.
    start = time.process_time()  # imports were paid for by the session's first build
    folder = family.build(tmp_path / "ckpt", 1)
    assert time.process_time() - start < 1.0
    assert sum(f.stat().st_size for f in folder.iterdir()) < 1_500_000
    assert {f.name for f in folder.iterdir()} >= {"config.json", "model.safetensors", "processor_config.json"}


@pytest.mark.parametrize("family", TINY_FAMILIES, ids=NAMES)
def test_loads_as_its_own_architecture(family: TinyFamily, models: dict[str, HFModel]) -> None:
    model = models[family.name]
    assert model.describe()["architecture"] == family.architecture
    assert model.family is family_for(model.model.config.model_type)
    assert model.family is not DEFAULT_FAMILY  # every tested family is registered by name


@pytest.mark.parametrize("name", NAMES)
def test_prompt_is_the_familys_own_template(name: str, models: dict[str, HFModel]) -> None:
    assert models[name]._chat(QUESTION) == RENDERED[name]


@pytest.mark.parametrize("family", TINY_FAMILIES, ids=NAMES)
def test_image_tokens_reach_the_model(family: TinyFamily, models: dict[str, HFModel]) -> None:
    model = models[family.name]
    texts = [model._chat(QUESTION), model._chat("Choose one from circle, square. Answer:")]
    inputs = model.family.inputs(model.processor, [ex.load() for ex in images(2)], texts)
    image_id = model.tokenizer.convert_tokens_to_ids(family.image_token)
    per_row = (inputs["input_ids"] == image_id).sum(dim=1)
    assert per_row[0] > 0 and per_row[0] == per_row[1]  # the processor expanded one image per prompt
    bos = model.tokenizer.bos_token_id
    if bos is not None:  # never a doubled BOS from template + tokenizer
        ids = inputs["input_ids"][inputs["attention_mask"].bool()]
        assert int((ids == bos).sum()) <= 2
    if family.name == "mllama":
        assert inputs["cross_attention_mask"].shape[:2] == inputs["input_ids"].shape
    if isinstance(model.family, RawPrefixFamily):
        text = model.tokenizer.decode(inputs["input_ids"][0][inputs["attention_mask"][0].bool()])
        assert text.endswith(f"<bos>{QUESTION}\n")


@pytest.mark.parametrize("name", NAMES)
def test_predictions_identical_across_batch_sizes(name: str, tiny_folders: dict[str, Path]) -> None:
    spec = resolve_model(str(tiny_folders[name]), base_dir=Path.cwd())
    examples = images(7)
    prompts = [CLOSED_SET_PROMPT.replace("{classes}", ", ".join(shapes.SHAPES[: 2 + i % 5])) for i in range(7)]
    requests = [GenerationRequest(ex, p, max_new_tokens=4) for ex, p in zip(examples, prompts)]
    answers = {bs: HFModel(spec, RuntimeOptions(batch_size=bs)).generate(requests) for bs in (1, 7)}
    assert answers[1] == answers[7]
    assert len(answers[1]) == 7 and all(isinstance(a, str) for a in answers[1])


@pytest.mark.parametrize("name", NAMES)
def test_scores_identical_across_batch_sizes(
    name: str, models: dict[str, HFModel], tiny_folders: dict[str, Path]
) -> None:
    """The likelihood path (one- and two-token continuations) through each family's processor."""
    requests = [ScoreRequest(ex, QUESTION, ("yes", "no", " circle square")) for ex in images(3)]
    one = HFModel(resolve_model(str(tiny_folders[name]), base_dir=Path.cwd()), RuntimeOptions(batch_size=1))
    by_one, by_four = one.score(requests), models[name].score(requests)
    assert [[s.tokens for s in row] for row in by_one] == [[s.tokens for s in row] for row in by_four]
    assert all(s.tokens >= 1 and s.logprob < 0 for row in by_one for s in row)
    flat = [(a.logprob, b.logprob) for ra, rb in zip(by_one, by_four) for a, b in zip(ra, rb)]
    assert all(a == pytest.approx(b, abs=1e-4) for a, b in flat)


def test_alias_generation_budget_overrides_the_strategys(tiny_folders: dict[str, Path]) -> None:
    spec = resolve_model(str(tiny_folders["llava-next-mistral"]), base_dir=Path.cwd())
    prompts = [GenerationRequest(ex, QUESTION, max_new_tokens=6) for ex in images(3)]
    short = [GenerationRequest(ex, QUESTION, max_new_tokens=1) for ex in images(3)]
    capped = HFModel(dataclasses.replace(spec, max_new_tokens=1), RuntimeOptions()).generate(prompts)
    plain = HFModel(spec, RuntimeOptions())
    assert capped == plain.generate(short) != plain.generate(prompts)


def test_alias_dtype_applies_on_gpu_only_and_the_option_wins(tiny_folders: dict[str, Path]) -> None:
    spec = dataclasses.replace(resolve_model(str(tiny_folders["qwen2.5-vl"]), base_dir=Path.cwd()), dtype="bfloat16")
    assert HFModel(spec, RuntimeOptions(device="cpu")).describe()["dtype"] == "float32"
    assert HFModel(spec, RuntimeOptions(device="cpu", dtype="float16")).describe()["dtype"] == "float16"


def test_unknown_model_type_gets_the_chat_template_family() -> None:
    assert family_for("some_new_vlm") is DEFAULT_FAMILY
    assert set(FAMILIES) >= {"qwen2_vl", "qwen2_5_vl", "llava_next", "mllama", "internvl", "gemma3", "paligemma"}


SPEC = """
dataset: {generated: shapes, count: 4, seed: 5}
classes: [circle, square, background]
background: background
strategies:
  closed_set: {votes: 1}
  binary: {}
thresholds:
  accuracy: ">= 0"
snapshot: false
"""


def test_both_strategies_on_every_family_end_to_end(pytester: pytest.Pytester, tiny_folders: dict[str, Path]) -> None:
    """Each family's folder given as --vlm-model, as a user of a fresh clone would. Serial only:
    under -n 2 each worker would import transformers and load ten models again (~50 s here), and
    the family code path is the same in a worker (test_plugin.py covers -n 2)."""
    folders = tiny_folders
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    torch.set_num_threads(1)
    models = ",".join(str(folder) for folder in folders.values())
    result = pytester.runpytest("--vlm-model", models, "--vlm-json", "out.json", "--vlm-batch-size", "3")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2 * len(folders))
    rows = json.loads((pytester.path / "out.json").read_text())["results"]
    assert {(r["model"], r["strategy"]) for r in rows} == {
        (name, s) for name in folders for s in ("closed_set", "binary")
    }
    for row in rows:
        assert row["status"] == "passed"
        assert len(row["predictions"]) == 4
        assert all(isinstance(raw, str) for p in row["predictions"] for raw in p["raw"])
