"""Tiny remote-code checkpoints for the MiniCPM-V, Phi-3-vision and InternVL2 adapters.

Each folder holds config.json with ``auto_map`` pointing at ``configuration_tiny.py`` and
``modeling_tiny.py`` (and, for Phi-3, ``processing_tiny.py`` for ``AutoProcessor``) written here,
so transformers' real trust-remote-code machinery imports and runs them. Each model implements its
family's calling convention (MiniCPM-V's ``chat`` and InternVL2's ``batch_chat`` with the real
signatures, a Phi-3-style processor taking ``<|image_1|>`` prompts and ``generate``) on a tiny real network: a 3x3 linear
layer, stored as safetensors, that maps an image's mean colour to one of red, green and blue.
Its weights are the identity; freshly initialised they are zero (every image "red"), so the tests
can tell that the weights were loaded.

The rule (predictable by the tests): a prompt that contains "yes or no" is answered "Yes" when it
names exactly the image's colour and "No" otherwise; any other prompt is answered with the colour
name. Each model also refuses what a real one would get wrong: sampling, a missing image
placeholder, right padding, wrong tile sizes.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

COLOURS = ("red", "green", "blue")
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}"
    "{{- '<|assistant|>\\n' -}}{% endif %}"
)

CONFIGURATION = """
from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "{model_type}"

    def __init__(self, word_ids=(), yes_ids=(), no_ids=(), binary_ids=(), prompt_end_ids=(),
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), **kwargs):
        self.word_ids = [list(w) for w in word_ids]
        self.yes_ids, self.no_ids, self.binary_ids = list(yes_ids), list(no_ids), list(binary_ids)
        self.prompt_end_ids = list(prompt_end_ids)
        self.mean, self.std = list(mean), list(std)
        super().__init__(**kwargs)
"""

MODELING_COMMON = '''
import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig


def contains(ids, part):
    return any(ids[i : i + len(part)] == part for i in range(len(ids) - len(part) + 1))


def rule_answer(config, ids, colour):
    """Closed-set prompts get the colour's word; yes/no prompts "Yes" when they name that colour."""
    if contains(ids, config.binary_ids):
        asked = [i for i, word in enumerate(config.word_ids) if contains(ids, word)]
        return list(config.yes_ids if asked == [colour] else config.no_ids)
    return list(config.word_ids[colour])


class TinyBase(PreTrainedModel):
    config_class = TinyConfig
    base_model_prefix = "tiny"

    def __init__(self, config, **kwargs):
        super().__init__(config)
        self.head = nn.Linear(3, 3)  # mean colour -> red, green, blue scores
        self.seen_batches = []  # prompts per call, so tests can see the batching
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    def colour_of_normalised(self, pixels):
        """The colour index of normalised pixel tiles (..., 3, H, W), after undoing the normalisation."""
        mean = torch.tensor(self.config.mean)
        std = torch.tensor(self.config.std)
        rgb = pixels.float().transpose(0, -3).reshape(3, -1).mean(dim=1).cpu() * std + mean
        return int(self.head(rgb.to(self.head.weight.device, self.head.weight.dtype)).argmax())
'''

MINICPM_MODELING = (
    MODELING_COMMON
    + """

class TinyMiniCPMV(TinyBase):
    def chat(self, image, msgs, tokenizer, processor=None, vision_hidden_states=None, max_new_tokens=2048,
             min_new_tokens=0, sampling=True, max_inp_length=8192, system_prompt="", stream=False,
             max_slice_nums=None, use_image_id=None, **kwargs):
        if sampling:
            raise ValueError("tiny MiniCPM-V: sampling=True is not deterministic")
        generation_config = {"num_beams": 3, "repetition_penalty": 1.2}  # MiniCPM-V's sampling=False defaults
        generation_config.update((k, kwargs[k]) for k in generation_config.keys() & kwargs.keys())
        if generation_config != {"num_beams": 1, "repetition_penalty": 1.0}:
            raise ValueError(f"tiny MiniCPM-V: not greedy decoding: {generation_config}")
        batched = isinstance(msgs[0], list)  # as in MiniCPM-V's chat: a list of conversations
        if batched and image is not None:
            raise ValueError("Please integrate image to msgs when using batch inference.")
        answers = []
        self.seen_batches.append(len(msgs) if batched else 1)
        for conversation in msgs if batched else [msgs]:
            if len(conversation) != 1 or conversation[0]["role"] != "user":
                raise ValueError("tiny MiniCPM-V: expected one user message per conversation")
            picture, question = conversation[0]["content"]
            rgb = torch.tensor(np.asarray(picture.convert("RGB"), dtype=np.float32).mean(axis=(0, 1)) / 255.0)
            colour = int(self.head(rgb.to(self.head.weight.device, self.head.weight.dtype)).argmax())
            ids = tokenizer(question, add_special_tokens=False)["input_ids"]
            answer = rule_answer(self.config, ids, colour)[:max_new_tokens]
            answers.append(tokenizer.decode(answer, skip_special_tokens=True))
        return answers if batched else answers[0]
"""
)

INTERNVL_MODELING = (
    MODELING_COMMON
    + """

class TinyInternVLChat(TinyBase):
    def batch_chat(self, tokenizer, pixel_values, questions, generation_config, num_patches_list=None,
                   history=None, return_history=False, IMG_START_TOKEN="<img>", IMG_END_TOKEN="</img>",
                   IMG_CONTEXT_TOKEN="<IMG_CONTEXT>", verbose=False, image_counts=None):
        if generation_config.get("do_sample"):
            raise ValueError("tiny InternVL: do_sample=True is not deterministic")
        if len(num_patches_list) != len(questions) or sum(num_patches_list) != pixel_values.shape[0]:
            raise ValueError(f"tiny InternVL: num_patches_list {num_patches_list} does not match the tiles")
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != (3, 448, 448):
            raise ValueError(f"tiny InternVL: expected 448x448 tiles, got {tuple(pixel_values.shape)}")
        generation_config["eos_token_id"] = tokenizer.eos_token_id  # the real one writes into the config too
        answers = []
        self.seen_batches.append(len(questions))
        for question, tiles in zip(questions, pixel_values.split(list(num_patches_list))):
            if not question.startswith("<image>\\n"):
                raise ValueError(f"tiny InternVL: the question has no <image> placeholder: {question!r}")
            colour = self.colour_of_normalised(tiles)
            ids = tokenizer(question.removeprefix("<image>\\n"), add_special_tokens=False)["input_ids"]
            answer = rule_answer(self.config, ids, colour)[: generation_config["max_new_tokens"]]
            answers.append(tokenizer.decode(answer, skip_special_tokens=True))
        return answers
"""
)

PHI3_MODELING = (
    MODELING_COMMON
    + """

class TinyPhi3VForCausalLM(TinyBase):
    IMAGE_TOKENS = 4

    def generate(self, input_ids, attention_mask, pixel_values, image_sizes, eos_token_id, max_new_tokens,
                 do_sample=False, pad_token_id=None, **kwargs):
        if do_sample or kwargs:
            raise ValueError(f"tiny Phi-3-vision: unexpected generation arguments {kwargs or 'do_sample'}")
        answers = []
        self.seen_batches.append(input_ids.shape[0])
        for row in range(input_ids.shape[0]):
            mask = attention_mask[row].bool()
            if not bool(mask[-1]):
                raise ValueError("tiny Phi-3-vision: prompts must be left-padded")
            ids = input_ids[row][mask].tolist()
            if ids.count(-1) != self.IMAGE_TOKENS:
                raise ValueError(f"tiny Phi-3-vision: expected one image (<|image_1|>) in {ids}")
            text_ids = [i for i in ids if i >= 0]
            end = self.config.prompt_end_ids
            if text_ids[-len(end):] != end:
                raise ValueError("tiny Phi-3-vision: the prompt does not end with the chat template's assistant turn")
            crops = 1 + int(image_sizes[row][1]) // 16  # the processor's crop count for that width
            if pixel_values[row, crops:].abs().sum() != 0:
                raise ValueError("tiny Phi-3-vision: padding crops must be zero")
            colour = self.colour_of_normalised(pixel_values[row, :crops])
            answers.append((rule_answer(self.config, text_ids, colour) + [eos_token_id])[:max_new_tokens])
        width = max(len(a) for a in answers)
        out = torch.full((input_ids.shape[0], width), pad_token_id, dtype=input_ids.dtype)
        for row, answer in enumerate(answers):
            out[row, : len(answer)] = torch.tensor(answer)
        return torch.cat([input_ids, out.to(input_ids.device)], dim=1)
"""
)

PHI3_PROCESSING = '''
import re

import numpy as np
import torch
from transformers import AutoTokenizer, BatchFeature

MEAN = np.asarray({mean}, dtype=np.float32)
STD = np.asarray({std}, dtype=np.float32)


class TinyPhi3VProcessor:
    """Phi-3-vision's calling convention: processor(prompt, [image]) with <|image_N|> placeholders
    turned into negative ids, pixel values as (1, crops, 3, 8, 8) and image_sizes."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoProcessor"):
        pass

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        return cls(AutoTokenizer.from_pretrained(path, **kwargs))

    def __call__(self, text, images=None, return_tensors="pt"):
        if not isinstance(text, str) or len(images or []) != 1:
            raise ValueError("tiny Phi-3-vision processor: one prompt and one image per call, like the real one")
        chunks = re.split(r"<\\|image_\\d+\\|>", text)
        ids = list(self.tokenizer(chunks[0], add_special_tokens=False)["input_ids"])
        for chunk in chunks[1:]:
            ids += [-1] * 4 + list(self.tokenizer(chunk, add_special_tokens=False)["input_ids"])
        image = images[0].convert("RGB")
        crops = 1 + image.size[0] // 16
        array = (np.asarray(image.resize((8, 8)), dtype=np.float32) / 255.0 - MEAN) / STD
        tile = torch.from_numpy(array.transpose(2, 0, 1).copy())
        return BatchFeature({{
            "input_ids": torch.tensor([ids]),
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
            "pixel_values": tile.expand(1, crops, 3, 8, 8).clone(),
            "image_sizes": torch.tensor([[image.size[1], image.size[0]]]),
        }})

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)
'''

FAMILIES = {
    # family: (model_type, auto class -> class, modeling code, normalisation)
    "minicpm-v": ("minicpmv", {"AutoModel": "TinyMiniCPMV"}, MINICPM_MODELING, ((0.0,) * 3, (1.0,) * 3)),
    "phi3-vision": ("phi3_v", {"AutoModelForCausalLM": "TinyPhi3VForCausalLM"}, PHI3_MODELING, CLIP),
    "internvl-chat": ("internvl_chat", {"AutoModel": "TinyInternVLChat"}, INTERNVL_MODELING, IMAGENET),
}


@functools.cache
def _tokenizer() -> Any:
    """One locally trained byte-level BPE for every checkpoint (training it takes about a second),
    with Phi-3's chat turns as special tokens and its chat template."""
    from pytest_vlm.tiny.checkpoints import build_qwen2_tokenizer

    tokenizer = build_qwen2_tokenizer(COLOURS)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|user|>", "<|end|>", "<|assistant|>"]})
    tokenizer.chat_template = PHI3_CHAT_TEMPLATE
    return tokenizer


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def build_remote_checkpoint(folder: Path, family: str, *, trained: bool = True) -> Path:
    """Write a tiny remote-code checkpoint of ``family`` into ``folder`` (which must not exist)."""
    import safetensors.torch
    import torch
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    model_type, classes, modeling, (mean, std) = FAMILIES[family]
    folder.mkdir(parents=True)
    tokenizer = _tokenizer()
    tokenizer.save_pretrained(folder)
    (folder / "configuration_tiny.py").write_text(CONFIGURATION.format(model_type=model_type))
    (folder / "modeling_tiny.py").write_text(modeling)
    auto_map = {"AutoConfig": "configuration_tiny.TinyConfig"}
    auto_map.update({auto: f"modeling_tiny.{cls}" for auto, cls in classes.items()})
    if family == "phi3-vision":
        (folder / "processing_tiny.py").write_text(PHI3_PROCESSING.format(mean=list(mean), std=list(std)))
        (folder / "processor_config.json").write_text(
            json.dumps({"auto_map": {"AutoProcessor": "processing_tiny.TinyPhi3VProcessor"}})
        )
    config = {
        "model_type": model_type,
        "architectures": list(classes.values()),
        "auto_map": auto_map,
        "word_ids": [_ids(tokenizer, " " + colour) for colour in COLOURS],
        "yes_ids": _ids(tokenizer, "Yes"),
        "no_ids": _ids(tokenizer, "No"),
        "binary_ids": _ids(tokenizer, " yes or no"),
        "prompt_end_ids": _ids(tokenizer, "<|end|>\n<|assistant|>\n"),
        "mean": list(mean),
        "std": list(std),
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    weights = {"head.weight": torch.eye(3) if trained else torch.zeros(3, 3), "head.bias": torch.zeros(3)}
    safetensors.torch.save_file(weights, str(folder / "model.safetensors"))
    # The classes import: a checkpoint whose code is broken fails here, not inside a test.
    for cls in classes.values():
        get_class_from_dynamic_module(f"modeling_tiny.{cls}", str(folder))
    return folder
