"""Issue 10, findings 3 and 5: answers are scored as the chat template writes the assistant's turn,
and generation stops where the template ends it.

The SentencePiece checks use the real Mistral v1 tokenizer (the one llava-hf/llava-v1.6-mistral-7b-hf
ships), from the ``mistral_common`` wheel, in a tiny LLaVA-NeXT with the published chat template.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import generated_images
from pytest_vlm.models.base import GenerationRequest, ScoreRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.resolve import resolve_model

CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)
PROMPT = "Question: What type of object is in this photo? Choose one from triangle, circle. Answer:"


@pytest.fixture(scope="module")
def sentencepiece_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.environ.get("CI"):
        pytest.importorskip("mistral_common", reason="the real Mistral tokenizer ships in mistral_common")
    from pytest_vlm.tiny.families import build_llava_next_mistral_sentencepiece

    return build_llava_next_mistral_sentencepiece(tmp_path_factory.mktemp("sp") / "llava-next-mistral-sp")


def _models(folder: Path) -> tuple[HFModel, HFModel]:
    spec = resolve_model(str(folder), base_dir=Path.cwd())
    return HFModel(spec, RuntimeOptions(prefix_reuse=False)), HFModel(spec, RuntimeOptions(batch_size=3))


def test_class_names_are_scored_as_the_model_writes_them(sentencepiece_llava: Path) -> None:
    """``[/INST]`` then a space then the answer: ``triangle`` is one piece, ``▁triangle``, not ``tri``, ``angle``."""
    plain, _ = _models(sentencepiece_llava)
    assert plain.turn.lead == " "
    assert plain.tokenizer.tokenize(plain._chat(PROMPT) + " triangle")[-1] == "▁triangle"
    example = generated_images(1, seed=2, classes=CLASSES)[0]
    [scores] = plain.score([ScoreRequest(example, PROMPT, ("triangle", "circle", "background clutter"))])
    assert [s.tokens for s in scores] == [1, 1, 3]  # ▁background ▁cl utter


def test_plain_and_reused_scores_agree_on_a_sentencepiece_tokenizer(sentencepiece_llava: Path) -> None:
    """The text after the image is tokenized in context on the reuse path (``Is``, not ``▁Is``)."""
    plain, reused = _models(sentencepiece_llava)
    requests = [
        ScoreRequest(ex, f"Is it a {shape}? Answer yes or no.", ("yes", "no", "triangle", "background clutter"))
        for ex, shape in zip(generated_images(4, seed=5, classes=CLASSES), ("circle", "square", "star", "circle"))
    ]
    want = plain.score(requests)
    got = reused.score(requests)
    assert (reused.describe()["path"], reused.describe()["plain_reason"]) == ("prefix reuse", None)
    for g, w in zip(got, want):
        assert [s.tokens for s in g] == [s.tokens for s in w]
        assert [s.logprob for s in g] == pytest.approx([s.logprob for s in w], abs=1e-5)


def test_idefics_answers_follow_assistant_colon_and_a_space(tiny_folders: dict[str, Path]) -> None:
    plain, reused = _models(tiny_folders["smolvlm"])
    assert plain.turn.lead == " "
    requests = [ScoreRequest(ex, PROMPT, ("triangle", "circle")) for ex in generated_images(2, seed=1, classes=CLASSES)]
    full = plain._continuation_rows([plain._chat(PROMPT)], requests[:1])
    texts = [plain.tokenizer.decode(ids[-count:]) for _, _, ids, count in full[1]]
    singles = [plain.tokenizer.decode([token]) for _, token in next(iter(full[0].values()), ([], []))[1]]
    assert sorted(texts + singles) == [" circle", " triangle"]
    for g, w in zip(reused.score(requests), plain.score(requests)):
        assert [s.logprob for s in g] == pytest.approx([s.logprob for s in w], abs=1e-4)


# -- where generation stops ------------------------------------------------------------------------


def _without_turn_end_in_generation_config(folder: Path, tmp_path: Path) -> Path:
    """A copy whose generation_config.json stops only at <|endoftext|>, as many published ones do."""
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    config = json.loads((copy / "generation_config.json").read_text())
    tokens = json.loads((copy / "tokenizer.json").read_text())["added_tokens"]
    config["eos_token_id"] = next(t["id"] for t in tokens if t["content"] == "<|endoftext|>")
    (copy / "generation_config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize("prefix_reuse", [True, False])
def test_generation_stops_at_the_templates_turn_end(tiny_qwen2_vl: Path, tmp_path: Path, prefix_reuse: bool) -> None:
    folder = _without_turn_end_in_generation_config(tiny_qwen2_vl, tmp_path)
    model = HFModel(resolve_model(str(folder), base_dir=Path.cwd()), RuntimeOptions(prefix_reuse=prefix_reuse))
    im_end = model.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert model.turn.end_ids == (im_end,)
    assert im_end in model._eos and im_end in model._generation.eos_token_id
    # Make the model end its turn at once: one forward pass, not max_new_tokens of them.
    head = model.model.get_output_embeddings()
    passes: list[int] = []

    def end_turn(module: torch.nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor:
        passes.append(1)
        out = out.clone()
        out[..., im_end] = out.abs().max() + 100.0
        return out

    head.register_forward_hook(end_turn)
    example = generated_images(1, seed=1, classes=CLASSES)[0]
    assert model.generate([GenerationRequest(example, "What shape?", 10)]) == [""]
    # Reused: the one-off check (image head, plain pass, reused pass), then the question's pass.
    assert len(passes) == (4 if prefix_reuse else 1)


def test_every_familys_turn_end_is_found(tiny_folders: dict[str, Path]) -> None:
    ends = {
        "qwen2-vl": "<|im_end|>",
        "internvl": "<|im_end|>",
        "llava-next-llama3": "<|eot_id|>",
        "mllama": "<|eot_id|>",
        "gemma3": "<end_of_turn>",
        "idefics3": "<end_of_utterance>",
        "smolvlm": "<end_of_utterance>",
    }
    for name, token in ends.items():
        model = HFModel(resolve_model(str(tiny_folders[name]), base_dir=Path.cwd()), RuntimeOptions())
        assert model.turn.end_ids == (model.tokenizer.convert_tokens_to_ids(token),), name
