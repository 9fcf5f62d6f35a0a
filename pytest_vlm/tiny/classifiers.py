"""Tiny random classifier checkpoints built from config classes, for tests of the classifier backend.

Real architectures, real processors (PIL image processors, a real ``CLIPTokenizer``), random
weights: they prove that a folder laid out like a hub checkpoint loads and runs, not that it is
accurate (the trained ``tiny-shapes-classifier`` is for that).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def build_clip_tokenizer() -> Any:
    """A character-level ``CLIPTokenizer``: every byte-level character alone and word-final, no merges."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [*alphabet, *(f"{c}</w>" for c in alphabet), "<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[])


def _towers(tokenizer: Any, image_size: int) -> dict[str, Any]:
    """The tiny text and vision tower sizes of the dual-encoder (CLIP, SigLIP) checkpoints."""
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    return {
        "text_config": {
            **layers,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        "vision_config": {**layers, "image_size": image_size, "patch_size": 8},
    }


def build_tiny_clip(out: Path, *, seed: int = 0, image_size: int = 32) -> Path:
    """A random ``CLIPModel`` with its ``CLIPProcessor`` (tokenizer + PIL image processor) in ``out``."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = build_clip_tokenizer()
    config = CLIPConfig(
        **_towers(tokenizer, image_size),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return out


def build_tiny_siglip(out: Path, *, seed: int = 0, image_size: int = 32) -> Path:
    """A random ``SiglipModel`` with a ``SiglipProcessor`` (PIL image processor) in ``out``.

    Its tokenizer is the character-level ``CLIPTokenizer`` above: SigLIP's own is SentencePiece,
    which needs the ``sentencepiece`` package. Model, image processor and processor class are SigLIP's.
    """
    import torch
    from transformers import SiglipConfig, SiglipModel, SiglipProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = build_clip_tokenizer()
    tokenizer.model_max_length = 64
    config = SiglipConfig(
        **_towers(tokenizer, image_size),
    )
    torch.manual_seed(seed)
    model = SiglipModel(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return out


def build_tiny_vit(out: Path, labels: Sequence[str], *, seed: int = 0, image_size: int = 32) -> Path:
    """A random ``ViTForImageClassification`` over ``labels`` with its PIL ``ViTImageProcessor`` in ``out``."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    config = ViTConfig(  # type: ignore[call-arg]  # a PreTrainedConfig kwarg the typed signature omits
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=8,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = ViTForImageClassification(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    ViTImageProcessorPil(size={"height": image_size, "width": image_size}).save_pretrained(out)
    return out
