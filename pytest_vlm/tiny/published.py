"""The real processors of the 7-8B checkpoints users run, built from their published configs.

Qwen/Qwen2-VL-7B-Instruct, llava-hf/llava-v1.6-mistral-7b-hf and OpenGVLab/InternVL3-8B-hf:
the image-processor and processor settings of their preprocessor_config.json /
processor_config.json, and the text sizes of their config.json. Only the tokenizer is a small
local one (image token counts do not depend on it), so no weights or hub access are needed: the
tests assert image token counts against them and benchmarks/memory.py plans batches with them.
"""

from __future__ import annotations

from typing import Any

from pytest_vlm.models.hf.processor import image_only_processor_class
from pytest_vlm.tiny.families import build_tokenizer

# Qwen/Qwen2-VL-7B-Instruct preprocessor_config.json
QWEN2_VL_7B = {"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2}
# llava-hf/llava-v1.6-mistral-7b-hf preprocessor_config.json and processor_config.json
LLAVA_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
# The text model of each checkpoint (config.json) and its parameter count (the model card).
TEXT_CONFIGS: dict[str, dict[str, int]] = {
    "Qwen2-VL-7B-Instruct": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                             "num_attention_heads": 28, "num_key_value_heads": 4},
    "llava-v1.6-mistral-7b-hf": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                                 "num_attention_heads": 32, "num_key_value_heads": 8},
    "InternVL3-8B-hf": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                        "num_attention_heads": 28, "num_key_value_heads": 4},
}  # fmt: skip
PARAMETERS = {"Qwen2-VL-7B-Instruct": 8.29e9, "llava-v1.6-mistral-7b-hf": 7.57e9, "InternVL3-8B-hf": 7.94e9}
MODEL_TYPES = {
    "Qwen2-VL-7B-Instruct": "qwen2_vl",
    "llava-v1.6-mistral-7b-hf": "llava_next",
    "InternVL3-8B-hf": "internvl",
}


def text_config(name: str) -> Any:
    """The checkpoint's text config as an object with attributes (what models/memory.py reads)."""
    return type("TextConfig", (), TEXT_CONFIGS[name])()


def _tokenizer() -> Any:
    extra = {
        "image_token": "<|image_pad|>",
        "video_token": "<|video_pad|>",
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
    }
    specials = ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<image>", *extra.values())
    return build_tokenizer(specials, bos=None, eos="<|im_end|>", pad="<|endoftext|>", extra=extra)


def qwen2_vl_7b_processor(**overrides: Any) -> Any:
    from transformers import Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil(**{**QWEN2_VL_7B, **overrides})
    return image_only_processor_class(Qwen2VLProcessor)(image_processor=image_processor, tokenizer=_tokenizer())


def llava_next_mistral_processor() -> Any:
    from transformers import LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}, image_grid_pinpoints=LLAVA_PINPOINTS
    )
    return LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=_tokenizer(),
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token="<image>",
    )


def internvl3_8b_processor() -> Any:
    from transformers import InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    image_processor = GotOcr2ImageProcessorPil(
        size={"height": 448, "width": 448}, crop_to_patches=True, min_patches=1, max_patches=12
    )
    return image_only_processor_class(InternVLProcessor)(
        image_processor=image_processor, tokenizer=_tokenizer(), image_seq_length=256
    )
