"""The built-in model aliases: the one place that maps a short name to a backend and a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_vlm.models.spec import ModelSpec

TINY_SHAPES_DIR = Path(__file__).resolve().parent.parent / "tiny" / "tiny-shapes"
TINY_SHAPES_CLASSIFIER_DIR = TINY_SHAPES_DIR.parent / "tiny-shapes-classifier"
DEFAULT_MODEL = "tiny-shapes"


def _hf(name: str, source: str, notes: str = "", **fields: Any) -> ModelSpec:
    return ModelSpec(name, "hf", source, notes=notes, **fields)


def _remote(name: str, backend: str, source: str, notes: str) -> ModelSpec:
    """A family whose checkpoint ships its own code: ``backend`` calls it as its card shows."""
    return ModelSpec(name, backend, source, trust_remote_code=True, notes=notes)


_OPENAI = (("base_url", "https://api.openai.com/v1"), ("api_key_env", "OPENAI_API_KEY"))


ALIASES: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "tiny-shapes",
            "hf",
            str(TINY_SHAPES_DIR),
            notes="embedded 544k-parameter Qwen2-VL trained on generated shapes; demos, tests and CI examples",
        ),
        ModelSpec(
            "tiny-shapes-classifier",
            "classifier",
            str(TINY_SHAPES_CLASSIFIER_DIR),
            notes="embedded tiny ResNet trained on generated shapes: the direct-classifier baseline of tiny-shapes",
        ),
        ModelSpec(
            "vit-base-patch16-224",
            "classifier",
            "google/vit-base-patch16-224",
            notes="ImageNet-1k image classifier (general image recognition baseline); labels must name the classes",
        ),
        ModelSpec("clip-vit-base-patch32", "classifier", "openai/clip-vit-base-patch32", notes="zero-shot CLIP"),
        ModelSpec("siglip-base-patch16-224", "classifier", "google/siglip-base-patch16-224", notes="zero-shot SigLIP"),
        ModelSpec("qwen2-vl-2b", "hf", "Qwen/Qwen2-VL-2B-Instruct"),
        ModelSpec("qwen2-vl-7b", "hf", "Qwen/Qwen2-VL-7B-Instruct"),
        _hf("qwen2.5-vl-3b", "Qwen/Qwen2.5-VL-3B-Instruct"),
        _hf("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct"),
        _hf("llava-v1.6-mistral-7b", "llava-hf/llava-v1.6-mistral-7b-hf", "LLaVA-NeXT, Mistral text model"),
        _hf("llama3-llava-next-8b", "llava-hf/llama3-llava-next-8b-hf", "LLaVA-NeXT, Llama-3 text model"),
        _hf(
            "llama-3.2-11b-vision",
            "meta-llama/Llama-3.2-11B-Vision-Instruct",
            "Mllama (cross-attention); gated on the hub: accept the licence and set HF_TOKEN",
        ),
        _hf("internvl3-1b", "OpenGVLab/InternVL3-1B-hf", "InternVL, transformers-native (-hf) checkpoint"),
        _hf("internvl3-2b", "OpenGVLab/InternVL3-2B-hf", "InternVL, transformers-native (-hf) checkpoint"),
        _hf("internvl3-8b", "OpenGVLab/InternVL3-8B-hf", "InternVL, transformers-native (-hf) checkpoint"),
        _hf("smolvlm", "HuggingFaceTB/SmolVLM-Instruct", "SmolVLM 2B; its processor needs num2words"),
        _hf("smolvlm-500m", "HuggingFaceTB/SmolVLM-500M-Instruct", "its processor needs num2words"),
        _hf("idefics3-8b", "HuggingFaceM4/Idefics3-8B-Llama3"),
        _hf(
            "paligemma",
            "google/paligemma-3b-mix-224",
            "no chat template: the prompt is the raw prefix; gated on the hub (HF_TOKEN)",
        ),
        _hf("gemma-3-4b", "google/gemma-3-4b-it", "gated on the hub: accept the licence and set HF_TOKEN"),
        _remote("minicpm-v-2_6", "minicpm-v", "openbmb/MiniCPM-V-2_6", "needs --vlm-trust-remote-code"),
        _remote("phi-3-vision", "phi3-vision", "microsoft/Phi-3-vision-128k-instruct", "needs --vlm-trust-remote-code"),
        _remote(
            "internvl2-2b",
            "internvl-chat",
            "OpenGVLab/InternVL2-2B",
            "original InternVL2; needs --vlm-trust-remote-code; see internvl3-* for -hf",
        ),
        ModelSpec("gpt-4o", "openai", "gpt-4o", options=_OPENAI, notes="OpenAI API; key from OPENAI_API_KEY"),
        ModelSpec("gpt-4o-mini", "openai", "gpt-4o-mini", options=_OPENAI, notes="OpenAI API; key from OPENAI_API_KEY"),
        ModelSpec("scripted:oracle", "scripted", "oracle", notes="always right: checks spec plumbing"),
        ModelSpec("scripted:noisy", "scripted", "noisy", notes="unreadable answers for ~30% of images"),
        ModelSpec("scripted:mute", "scripted", "mute", notes="never gives a readable answer"),
    )
}
