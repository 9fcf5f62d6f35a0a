"""Tiny checkpoints of real transformers architectures, built locally from config classes.

No model hub is needed: the tokenizer is a byte-level BPE trained here on the benchmark prompts,
the processor is the architecture's real processor class and the chat template is the real one.
The folders these functions write load through exactly the same ``from_pretrained`` path as a
downloaded checkpoint. Used for the embedded ``tiny-shapes`` model (then trained) and in tests
(random weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_vlm.data.shapes import SHAPES

# The chat template Qwen/Qwen2-VL-7B-Instruct ships, verbatim.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN2_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CORPUS_WORDS = (
    "yes no Yes No background clutter object photo image picture class type shape colour color "
    "red green blue yellow black white orange purple pink brown grey gray dog cat car bird "
    "ak47 airplane bicycle bus person horse boat truck bottle chair table cup phone"
)


def tokenizer_corpus(class_names: tuple[str, ...] = SHAPES) -> list[str]:
    """Sentences the tiny BPE is trained on: the reference prompts with the given class names."""
    names = list(class_names)
    lines = [
        "Question: Answer this question in one word: What type of object is in this photo? "
        f"Choose one from {', '.join(names)}. Answer:",
        "You are a helpful assistant.",
        _CORPUS_WORDS,
    ]
    for name in names:
        lines += [
            f"Answer the question in one word: yes or no. Is the {name} in this photo?",
            f"{name} {name.capitalize()} {name}s a {name} an {name} the {name}",
        ]
    return lines * 8


def build_qwen2_tokenizer(class_names: tuple[str, ...] = SHAPES, vocab_size: int = 450) -> Any:
    """A byte-level BPE ``Qwen2TokenizerFast`` with Qwen2-VL's special tokens, trained locally."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast  # type: ignore[attr-defined]  # a lazy alias in 5.x

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(QWEN2_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tokenizer_corpus(class_names), trainer)
    return Qwen2TokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None, bos_token=None
    )


def build_qwen2_vl_processor(tokenizer: Any, image_size: int = 64, patch_size: int = 8, merge_size: int = 2) -> Any:
    """The real Qwen2-VL processor (image-only: no torchvision needed) for ``image_size`` square images."""
    from transformers import Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from pytest_vlm.models.hf.processor import image_only_processor_class

    pixels = image_size * image_size
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=pixels, max_pixels=pixels, patch_size=patch_size, merge_size=merge_size, temporal_patch_size=2
    )
    processor_cls = image_only_processor_class(Qwen2VLProcessor)
    return processor_cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN2_VL_CHAT_TEMPLATE)


def qwen2_vl_config(
    tokenizer: Any,
    *,
    text_hidden: int = 128,
    text_layers: int = 2,
    vision_hidden: int = 64,
    vision_layers: int = 2,
    patch_size: int = 8,
    merge_size: int = 2,
) -> Any:
    """A ``Qwen2VLConfig`` of the given (tiny) size wired to ``tokenizer``'s special tokens."""
    from transformers import Qwen2VLConfig

    ids = tokenizer.convert_tokens_to_ids
    heads = max(2, text_hidden // 32)
    head_dim = text_hidden // heads
    # mrope splits each rotary half (head_dim / 2) into temporal, height and width sections.
    half = head_dim // 2
    section = [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]
    return Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": text_hidden,
            "intermediate_size": text_hidden * 2,
            "num_hidden_layers": text_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // 2),
            "max_position_embeddings": 1024,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
            "tie_word_embeddings": True,
            "bos_token_id": None,
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "depth": vision_layers,
            "embed_dim": vision_hidden,
            "hidden_size": text_hidden,
            "num_heads": max(1, vision_hidden // 16),
            "mlp_ratio": 2,
            "patch_size": patch_size,
            "spatial_merge_size": merge_size,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def build_qwen2_vl(
    folder: str | Path,
    *,
    class_names: tuple[str, ...] = SHAPES,
    image_size: int = 64,
    seed: int = 0,
    model: Any = None,
    **sizes: Any,
) -> Path:
    """Write a Qwen2-VL checkpoint folder (weights, config, tokenizer, processor, chat template).

    With ``model=None`` the weights are random (seeded); pass a trained model to save it with the
    matching processor. Returns the folder.
    """
    import torch
    from transformers import GenerationConfig, Qwen2VLForConditionalGeneration

    folder = Path(folder)
    tokenizer = build_qwen2_tokenizer(class_names)
    processor = build_qwen2_vl_processor(tokenizer, image_size=image_size)
    if model is None:
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(qwen2_vl_config(tokenizer, **sizes)).eval()
    model.generation_config = GenerationConfig(
        do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
