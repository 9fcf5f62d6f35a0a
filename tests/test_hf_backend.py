"""The transformers backend on a real (tiny, random) Qwen2-VL checkpoint built at test time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from transformers.utils import is_torchvision_available

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import GeneratedImage, generated_images
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.hf.processor import load_processor
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.strategies.closed_set import PROMPT as CLOSED_SET_PROMPT


def images(count: int, seed: int = 3) -> list[GeneratedImage]:
    return generated_images(count, seed=seed, classes=shapes.SHAPES)


@pytest.fixture(scope="module")
def model(tiny_qwen2_vl: Path) -> HFModel:
    return HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions(batch_size=4))


def test_loads_a_checkpoint_folder_on_cpu(model: HFModel, tiny_qwen2_vl: Path) -> None:
    info = model.describe()
    assert info["architecture"] == "Qwen2VLForConditionalGeneration"
    assert (info["device"], info["dtype"]) == ("cpu", "float32")
    assert info["source"] == str(tiny_qwen2_vl)
    assert model.tokenizer.padding_side == "left"


@pytest.mark.skipif(is_torchvision_available(), reason="the fallback only matters without torchvision")
def test_processor_falls_back_to_image_only_without_torchvision(tiny_qwen2_vl: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - what transformers raises here is its business
        transformers.AutoProcessor.from_pretrained(tiny_qwen2_vl).image_processor  # noqa: B018
    processor = load_processor(str(tiny_qwen2_vl))
    assert type(processor).__name__ == "Qwen2VLProcessor"
    assert isinstance(processor, transformers.Qwen2VLProcessor)
    assert not hasattr(processor, "video_processor")
    assert processor.image_processor is not None


def test_prompt_goes_through_the_models_chat_template(model: HFModel) -> None:
    assert model._chat("Is the circle in this photo?") == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Is the circle in this photo?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_predictions_identical_across_batch_sizes(tiny_qwen2_vl: Path) -> None:
    spec = resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd())
    examples = images(10)
    prompts = [
        CLOSED_SET_PROMPT.replace("{classes}", ", ".join(shapes.SHAPES[: 2 + i % 5])) for i in range(len(examples))
    ]
    requests = [GenerationRequest(ex, p, max_new_tokens=5) for ex, p in zip(examples, prompts)]
    answers = {bs: HFModel(spec, RuntimeOptions(batch_size=bs)).generate(requests) for bs in (1, 3, 16)}
    assert answers[1] == answers[3] == answers[16]
    assert all(isinstance(a, str) for a in answers[1])


def test_generation_is_greedy_and_repeatable(model: HFModel) -> None:
    requests = [GenerationRequest(ex, "Is the star in this photo?", 4) for ex in images(4)]
    assert model.generate(requests) == model.generate(requests)


def test_end_to_end_on_a_checkpoint_folder(pytester: pytest.Pytester, tiny_qwen2_vl: Path) -> None:
    pytester.makefile(
        ".vlm.yaml",
        tiny=f"""
dataset: {{generated: shapes, count: 12, seed: 4}}
models: [{tiny_qwen2_vl}]
strategies:
  closed_set: {{votes: 2}}
  binary: {{}}
""",
    )
    first = pytester.runpytest("--vlm-update-snapshots", "--vlm-json", "out.json")
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*tiny-qwen2-vl*closed_set*passed*recorded*"])
    document = json.loads((pytester.path / "out.json").read_text())
    closed = next(r for r in document["results"] if r["strategy"] == "closed_set")
    assert closed["model_info"]["architecture"] == "Qwen2VLForConditionalGeneration"
    assert closed["metrics"]["calls_per_image"] == 2
    # A second process with another batch size and two xdist workers gives the same predictions.
    again = pytester.runpytest("-n", "2", "--vlm-batch-size", "3")
    again.assert_outcomes(passed=2)


def test_unreadable_image_fails_its_items_naming_the_file(pytester: pytest.Pytester, tiny_qwen2_vl: Path) -> None:
    folder = pytester.mkdir("images")
    for label in ("cat", "dog"):
        (folder / label).mkdir()
        (folder / label / f"{label}1.png").write_bytes(b"not a png")
    pytester.makefile(".vlm.yaml", bad=f"dataset: images\nmodels: [{tiny_qwen2_vl}]\nstrategies: [closed_set]\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"cannot read image {folder}/cat/cat1.png (listed in folder {folder}/cat): *Fix or remove the file."]
    )
    assert "Traceback" not in result.stdout.str()


def test_missing_hub_model_fails_with_advice(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    # The hub library reads HF_HUB_OFFLINE when it is imported, so set its constant: no network here.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(pytester.path / "hf-home"))
    pytester.makefile(".vlm.yaml", hub="dataset: {generated: shapes, count: 6}\nstrategies: [closed_set]\n")
    result = pytester.runpytest("--vlm-model", "qwen2-vl-2b")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "cannot load model qwen2-vl-2b from Qwen/Qwen2-VL-2B-Instruct: *",
            "A hub id needs network access or a filled Hugging Face cache (HF_HOME); *",
            "Without network, set HF_HUB_OFFLINE=1: the cache alone is used, and a model not in it fails at once.",
        ]
    )


def test_scores_match_an_unbatched_forward_pass(model: HFModel) -> None:
    from pytest_vlm.models.base import ScoreRequest

    examples = images(3)
    continuations = ("circle", "teddy bear", "no")
    requests = [ScoreRequest(ex, "What is it?", continuations) for ex in examples]
    scores = model.score(requests)
    for ex, per_continuation in zip(examples, scores):
        prompt = model._chat("What is it?")
        for continuation, score in zip(continuations, per_continuation):
            # Independently: the full text through the processor alone, log-softmax by hand.
            inputs = model.processor(images=[ex.load()], text=[prompt + continuation], return_tensors="pt")
            prompt_len = model.processor(images=[ex.load()], text=[prompt], return_tensors="pt")["input_ids"].shape[1]
            with torch.inference_mode():
                logits = model.model(**inputs).logits[0]
            ids = inputs["input_ids"][0]
            expected = sum(float(torch.log_softmax(logits[i - 1], dim=-1)[ids[i]]) for i in range(prompt_len, len(ids)))
            assert score.tokens == len(ids) - prompt_len
            assert score.logprob == pytest.approx(expected, abs=1e-4)


def test_embedded_model_is_the_default_from_any_project(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".vlm.yaml",
        elsewhere="""
dataset: {generated: shapes, count: 28, seed: 2026}
classes: [circle, square, triangle, star, cross, heart, background]
background: background
strategies: {closed_set: {votes: 3}, binary: {}}
thresholds: {accuracy: ">= 0.85"}
""",
    )
    result = pytester.runpytest("--vlm-update-snapshots", "--vlm-json", "out.json")
    result.assert_outcomes(passed=2)
    document = json.loads((pytester.path / "out.json").read_text())
    assert {r["model"] for r in document["results"]} == {"tiny-shapes"}
    # A trained model answers: every answer is a class name or yes/no, none unreadable.
    assert all(r["metrics"]["unparseable_rate"] == 0 for r in document["results"])


def test_text_only_checkpoint_is_refused_clearly(tmp_path: Path) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from pytest_vlm.errors import ModelError
    from pytest_vlm.tiny.checkpoints import build_qwen2_tokenizer

    tokenizer = build_qwen2_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2
    )
    Qwen2ForCausalLM(config).save_pretrained(tmp_path / "text-only")
    tokenizer.save_pretrained(tmp_path / "text-only")
    with pytest.raises(ModelError) as exc:
        HFModel(resolve_model(str(tmp_path / "text-only"), base_dir=tmp_path), RuntimeOptions())
    assert str(exc.value).startswith(
        f"cannot load model text-only from {tmp_path / 'text-only'}: {tmp_path / 'text-only'} has no image processor "
        "(AutoProcessor returned Qwen2Tokenizer); is it a vision-language model?"
    )


@pytest.mark.skipif(is_torchvision_available(), reason="the fallback only matters without torchvision")
def test_broken_processor_files_are_reported_with_the_folder(tmp_path: Path, tiny_qwen2_vl: Path) -> None:
    import shutil

    from pytest_vlm.errors import ModelError

    broken = tmp_path / "broken"
    shutil.copytree(tiny_qwen2_vl, broken)
    (broken / "processor_config.json").write_text("{not json")
    with pytest.raises(ModelError) as exc:
        HFModel(resolve_model(str(broken), base_dir=tmp_path), RuntimeOptions())
    assert str(exc.value).startswith(
        f"cannot load model broken from {broken}: could not load the processor of {broken} "
        "(image-only, since torchvision is not installed): "
    )
