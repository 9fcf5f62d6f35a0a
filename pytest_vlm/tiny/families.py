"""Tiny random checkpoints of every transformers-native VLM family pytest-vlm supports.

Each builder writes a folder that loads through the plugin's normal ``from_pretrained`` path:
the family's config class at tiny sizes, a byte-level BPE tokenizer trained here carrying the
family's special tokens (image tokens, BOS/EOS, chat markers), the family's REAL processor class
and the chat template the family's published checkpoint ships. Weights are random (seeded), so
answers are garbage: the folders prove loading, templating, batching and decoding, not accuracy.
Each builds in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_vlm.tiny.checkpoints import QWEN2_VL_CHAT_TEMPLATE, build_qwen2_vl, tokenizer_corpus

IMAGE_SIZE = 32  # pixels per side of the vision towers' input (patch 8: a 4x4 grid)
TEXT_HIDDEN = 64

# --- chat templates, as the published checkpoints ship them --------------------------------------

# llava-hf/llava-v1.6-mistral-7b-hf (chat_template.json).
LLAVA_NEXT_MISTRAL_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\\n' + message['content'][0]['text'] + '\\n<</SYS>>\\n\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{{' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'][0]['text'] + '<\\\\s> '}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

# llava-hf/llama3-llava-next-8b-hf (chat_template.json).
LLAVA_NEXT_LLAMA3_TEMPLATE = (
    "{% for message in messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] | trim + '<|eot_id|>' }}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

# meta-llama/Llama-3.2-11B-Vision-Instruct, reduced to the part a single image-and-text user turn
# reaches: the published template adds no system block when the conversation has images (the
# transformers processor tests use this same reduction).
MLLAMA_TEMPLATE = (
    "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<|image|>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

# OpenGVLab/InternVL3-*-hf: ChatML with a fixed system turn; the processor expands each
# '<IMG_CONTEXT>' into '<img>', image_seq_length context tokens per tile, '</img>'.
INTERNVL_TEMPLATE = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\\n' }}{% endif %}"
)

_IDEFICS_TURNS = (
    "{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
IDEFICS3_TEMPLATE = "<|begin_of_text|>" + _IDEFICS_TURNS  # HuggingFaceM4/Idefics3-8B-Llama3
SMOLVLM_TEMPLATE = "<|im_start|>" + _IDEFICS_TURNS  # HuggingFaceTB/SmolVLM-Instruct

# google/gemma-3-4b-it (chat_template.json).
GEMMA3_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    '    {%- set first_user_prefix = "" -%}\n'
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    '        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}\n'
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    '        {%- set role = "model" -%}\n'
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    '        {{ raise_exception("Invalid content type") }}\n'
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)


# --- tokenizer ---------------------------------------------------------------------------------


def build_tokenizer(
    specials: tuple[str, ...],
    *,
    bos: str | None,
    eos: str,
    pad: str,
    extra: dict[str, str] | None = None,
    vocab_size: int = 400,
) -> Any:
    """A byte-level BPE trained on the benchmark prompts, carrying ``specials`` as special tokens.

    ``extra`` names family-specific special tokens (``image_token``, ``boi_token`` ...) that the
    family's processor reads off the tokenizer as attributes.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(dict.fromkeys(specials)),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tokenizer_corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=bos, eos_token=eos, pad_token=pad, extra_special_tokens=extra or {}
    )


def _text(tokenizer: Any, **overrides: Any) -> dict[str, Any]:
    """A tiny decoder-only text config (Llama/Mistral/Qwen2/Gemma keys) wired to ``tokenizer``."""
    config = {
        "vocab_size": len(tokenizer),
        "hidden_size": TEXT_HIDDEN,
        "intermediate_size": TEXT_HIDDEN * 2,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": TEXT_HIDDEN // 4,
        "max_position_embeddings": 512,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": False,
    }
    return {**config, **overrides}


_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def _save(folder: Path, model_cls: Any, config: Any, processor: Any, tokenizer: Any, seed: int) -> Path:
    import torch
    from transformers import GenerationConfig

    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config = GenerationConfig(
        do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# --- one builder per family ----------------------------------------------------------------------


def build_qwen2_5_vl(folder: Path, seed: int = 0) -> Path:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from pytest_vlm.models.hf.processor import image_only_processor_class
    from pytest_vlm.tiny.checkpoints import QWEN2_SPECIAL_TOKENS

    tokenizer = build_tokenizer(QWEN2_SPECIAL_TOKENS, bos=None, eos="<|im_end|>", pad="<|endoftext|>")
    ids = tokenizer.convert_tokens_to_ids
    pixels = IMAGE_SIZE * IMAGE_SIZE
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=pixels, max_pixels=pixels, patch_size=8, merge_size=2, temporal_patch_size=2
    )
    processor = image_only_processor_class(Qwen2_5_VLProcessor)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN2_VL_CHAT_TEMPLATE
    )
    head_dim = TEXT_HIDDEN // 4
    config = Qwen2_5_VLConfig(
        text_config=_text(
            tokenizer,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        ),
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": TEXT_HIDDEN,
            "patch_size": 8,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 16,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    assert head_dim // 2 == 8  # mrope_section above splits the rotary half of head_dim
    return _save(folder, Qwen2_5_VLForConditionalGeneration, config, processor, tokenizer, seed)


def mistral_v1_tokenizer(folder: Path) -> Any:
    """The real Mistral v1 SentencePiece tokenizer (the one llava-hf/llava-v1.6-mistral-7b-hf ships,
    32,000 pieces), from the ``mistral_common`` wheel, with the checkpoint's added ``<image>`` (32000)
    and ``<pad>`` (32001)."""
    import importlib.resources
    import json

    from transformers import AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    model_file = importlib.resources.files("mistral_common") / "data" / "tokenizer.model.v1"
    (folder / "tokenizer.model").write_bytes(model_file.read_bytes())
    config = {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "legacy": False}), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_special_tokens({"extra_special_tokens": ["<image>"], "pad_token": "<pad>"})
    return tokenizer


def _build_llava_next(
    folder: Path, seed: int, text_type: str, template: str, specials: tuple[str, ...], tokenizer: Any = None
) -> Path:
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    bos, eos = specials[0], specials[1]
    if tokenizer is None:
        tokenizer = build_tokenizer((*specials, "<image>"), bos=bos, eos=eos, pad=specials[2])
    pinpoints = [[IMAGE_SIZE, IMAGE_SIZE], [IMAGE_SIZE, 2 * IMAGE_SIZE], [2 * IMAGE_SIZE, IMAGE_SIZE]]
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_grid_pinpoints=pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token
        chat_template=template,
    )
    config = LlavaNextConfig(  # type: ignore[call-arg]  # a PreTrainedConfig kwarg the typed signature omits
        vision_config={"model_type": "clip_vision_model", "image_size": IMAGE_SIZE, "patch_size": 8, **_VISION},
        text_config={"model_type": text_type, **_text(tokenizer)},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    return _save(folder, LlavaNextForConditionalGeneration, config, processor, tokenizer, seed)


def build_llava_next_mistral(folder: Path, seed: int = 0) -> Path:
    return _build_llava_next(folder, seed, "mistral", LLAVA_NEXT_MISTRAL_TEMPLATE, ("<s>", "</s>", "<unk>"))


def build_llava_next_mistral_sentencepiece(folder: Path, seed: int = 0) -> Path:
    """LLaVA-NeXT-Mistral with the real Mistral SentencePiece tokenizer (needs ``mistral_common``)."""
    tokenizer = mistral_v1_tokenizer(folder / "sentencepiece")
    specials = ("<s>", "</s>", "<pad>")
    return _build_llava_next(folder, seed, "mistral", LLAVA_NEXT_MISTRAL_TEMPLATE, specials, tokenizer)


def build_llava_next_llama3(folder: Path, seed: int = 0) -> Path:
    specials = ("<|begin_of_text|>", "<|eot_id|>", "<pad>", "<|start_header_id|>", "<|end_header_id|>")
    return _build_llava_next(folder, seed, "llama", LLAVA_NEXT_LLAMA3_TEMPLATE, specials)


def build_mllama(folder: Path, seed: int = 0) -> Path:
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    specials = ("<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", "<|start_header_id|>")
    tokenizer = build_tokenizer(
        (*specials, "<|end_header_id|>", "<|image|>", "<|python_tag|>"),
        bos=specials[0],
        eos=specials[1],
        pad=specials[2],
    )
    image_processor = MllamaImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, max_image_tiles=2)
    processor = MllamaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=MLLAMA_TEMPLATE)
    vision_hidden = 32
    config = MllamaConfig(
        vision_config={
            "hidden_size": vision_hidden,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_global_layers": 1,
            "attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
            "max_num_tiles": 2,
            "intermediate_layers_indices": [0],
            "vision_output_dim": vision_hidden * 2,
            "supported_aspect_ratios": [[1, 1], [1, 2], [2, 1]],
        },
        text_config=_text(tokenizer, num_hidden_layers=2, cross_attention_layers=[1]),
        image_token_index=tokenizer.convert_tokens_to_ids("<|image|>"),
    )
    return _save(folder, MllamaForConditionalGeneration, config, processor, tokenizer, seed)


def build_internvl(folder: Path, seed: int = 0) -> Path:
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from pytest_vlm.models.hf.processor import image_only_processor_class

    extra = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tokenizer = build_tokenizer(
        ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *extra.values()),
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        extra=extra,
    )
    image_processor = GotOcr2ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, crop_to_patches=False)
    seq = (IMAGE_SIZE // 8) ** 2 // 4  # patches, pixel-shuffled by downsample_ratio 0.5
    processor = image_only_processor_class(InternVLProcessor)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=INTERNVL_TEMPLATE, image_seq_length=seq
    )
    config = InternVLConfig(
        vision_config={
            "image_size": [IMAGE_SIZE, IMAGE_SIZE],
            "patch_size": [8, 8],
            "use_absolute_position_embeddings": True,
            **_VISION,
        },
        text_config={"model_type": "qwen2", **_text(tokenizer)},
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        downsample_ratio=0.5,
        image_seq_length=seq,
    )
    return _save(folder, InternVLForConditionalGeneration, config, processor, tokenizer, seed)


def _idefics_tokenizer(bos: str, eos: str) -> Any:
    specials = (bos, eos, "<pad>", "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>")
    return build_tokenizer(specials, bos=bos, eos=eos, pad="<pad>")


def _build_idefics_like(
    folder: Path,
    seed: int,
    *,
    bos: str,
    template: str,
    config_cls: type,
    model_cls: type,
    processor_cls: type,
    image_cls: type,
) -> Path:
    """Idefics3 and SmolVLM (built on it): one image tile, ``image_seq_len`` tokens per image."""
    tokenizer = _idefics_tokenizer(bos, "<end_of_utterance>")
    edge = {"longest_edge": IMAGE_SIZE}
    image_processor = image_cls(do_image_splitting=False, size=edge, max_image_size=edge)
    seq = (IMAGE_SIZE // 8) ** 2 // 4
    processor = processor_cls(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_len=seq, chat_template=template
    )
    config = config_cls(
        vision_config={"image_size": IMAGE_SIZE, "patch_size": 8, **_VISION},
        text_config={"model_type": "llama", **_text(tokenizer)},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    return _save(folder, model_cls, config, processor, tokenizer, seed)


def build_idefics3(folder: Path, seed: int = 0) -> Path:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    return _build_idefics_like(
        folder,
        seed,
        bos="<|begin_of_text|>",
        template=IDEFICS3_TEMPLATE,
        config_cls=Idefics3Config,
        model_cls=Idefics3ForConditionalGeneration,
        processor_cls=Idefics3Processor,
        image_cls=Idefics3ImageProcessorPil,
    )


def build_smolvlm(folder: Path, seed: int = 0) -> Path:
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMProcessor
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    from pytest_vlm.models.hf.processor import image_only_processor_class

    return _build_idefics_like(
        folder,
        seed,
        bos="<|im_start|>",
        template=SMOLVLM_TEMPLATE,
        config_cls=SmolVLMConfig,
        model_cls=SmolVLMForConditionalGeneration,
        processor_cls=image_only_processor_class(SmolVLMProcessor),
        image_cls=SmolVLMImageProcessorPil,
    )


def build_paligemma(folder: Path, seed: int = 0) -> Path:
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = build_tokenizer(("<bos>", "<eos>", "<pad>", "<image>"), bos="<bos>", eos="<eos>", pad="<pad>")
    seq = (IMAGE_SIZE // 8) ** 2
    image_processor = SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    image_processor.image_seq_length = seq  # type: ignore[attr-defined]  # PaliGemmaProcessor reads it
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)  # no chat template
    config = PaliGemmaConfig(  # type: ignore[call-arg]  # a PreTrainedConfig kwarg the typed signature omits
        vision_config={"model_type": "siglip_vision_model", "image_size": IMAGE_SIZE, "patch_size": 8, **_VISION},
        text_config={"model_type": "gemma", **_text(tokenizer)},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        projection_dim=TEXT_HIDDEN,
    )
    config.text_config.num_image_tokens = seq  # type: ignore[union-attr]  # a Gemma config by now
    return _save(folder, PaliGemmaForConditionalGeneration, config, processor, tokenizer, seed)


def build_gemma3(folder: Path, seed: int = 0) -> Path:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    extra = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tokenizer = build_tokenizer(
        ("<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>", *extra.values()),
        bos="<bos>",
        eos="<end_of_turn>",
        pad="<pad>",
        extra=extra,
    )
    seq = 4  # 16 patches average-pooled to 4 soft tokens
    image_processor = Gemma3ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = Gemma3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_length=seq, chat_template=GEMMA3_TEMPLATE
    )
    ids = tokenizer.convert_tokens_to_ids
    config = Gemma3Config(
        text_config=_text(tokenizer, sliding_window=64),
        vision_config={"model_type": "siglip_vision_model", "image_size": IMAGE_SIZE, "patch_size": 8, **_VISION},
        mm_tokens_per_image=seq,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
    )
    return _save(folder, Gemma3ForConditionalGeneration, config, processor, tokenizer, seed)


def build_qwen2_vl_tiny(folder: Path, seed: int = 0) -> Path:
    return build_qwen2_vl(folder, seed=seed, image_size=IMAGE_SIZE * 2, text_hidden=TEXT_HIDDEN, vision_hidden=32)


@dataclass(frozen=True)
class TinyFamily:
    """One architecture pytest-vlm proves on a tiny checkpoint; ``image_token`` must reach the model."""

    name: str
    architecture: str
    build: Callable[[Path, int], Path]
    image_token: str


TINY_FAMILIES: tuple[TinyFamily, ...] = (
    TinyFamily("qwen2-vl", "Qwen2VLForConditionalGeneration", build_qwen2_vl_tiny, "<|image_pad|>"),
    TinyFamily("qwen2.5-vl", "Qwen2_5_VLForConditionalGeneration", build_qwen2_5_vl, "<|image_pad|>"),
    TinyFamily("llava-next-mistral", "LlavaNextForConditionalGeneration", build_llava_next_mistral, "<image>"),
    TinyFamily("llava-next-llama3", "LlavaNextForConditionalGeneration", build_llava_next_llama3, "<image>"),
    TinyFamily("mllama", "MllamaForConditionalGeneration", build_mllama, "<|image|>"),
    TinyFamily("internvl", "InternVLForConditionalGeneration", build_internvl, "<IMG_CONTEXT>"),
    TinyFamily("idefics3", "Idefics3ForConditionalGeneration", build_idefics3, "<image>"),
    TinyFamily("smolvlm", "SmolVLMForConditionalGeneration", build_smolvlm, "<image>"),
    TinyFamily("paligemma", "PaliGemmaForConditionalGeneration", build_paligemma, "<image>"),
    TinyFamily("gemma3", "Gemma3ForConditionalGeneration", build_gemma3, "<image_soft_token>"),
)
