"""How each transformers VLM family turns (image, prompt) into model inputs.

The transformers backend is one generic code path: render the prompt, call the model's own
processor on the images and texts, generate, decode. What differs between families lives here,
one ``Family`` object per ``config.model_type``, so shared code never branches on a model type:

- the default renders one user turn (the image, then the prompt) with the processor's own chat
  template and, like ``processor.apply_chat_template(tokenize=True)``, does not add special tokens
  a second time when the template already wrote the BOS token;
- some processors take the images of a batch as one list per prompt (Mllama, Gemma 3, Idefics3,
  SmolVLM), the others a flat list;
- PaliGemma has no chat template: its processor takes the raw prompt and adds the image tokens,
  BOS and the closing newline itself;
- SmolVLM's own ``apply_chat_template`` reads video settings, which an image-only processor
  (no torchvision) does not have; the generic renderer gives the same text.

Mllama's cross-attention mask needs nothing here: its processor returns ``cross_attention_mask``
and the backend passes every processor output to the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def conversation(prompt: str, answer: str | None = None) -> list[dict[str, Any]]:
    """One user turn (the image, then the prompt), and the assistant's answer when given."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


@dataclass(frozen=True)
class Family:
    """A family whose processor carries a chat template (the common case)."""

    name: str
    nested_images: bool = False  # the processor wants [[image], [image], ...] for a batch
    # Prefix reuse (models/hf/prefix.py): how text positions continue after a reused prefix
    # ("linear", or "mrope" for Qwen2-VL's 3-D positions), or why a prefix cannot be reused.
    positions: str = "linear"
    no_reuse: str = ""

    def render(self, processor: Any, prompt: str) -> str:
        """The text the processor receives for ``prompt`` about one image."""
        return self._apply(processor, conversation(prompt), generation_prompt=True)

    def render_turn(self, processor: Any, prompt: str, answer: str) -> str:
        """The chat text of ``prompt`` followed by the assistant's ``answer`` turn, as the template
        writes it (models/turns.py reads what comes before and after the answer off it)."""
        return self._apply(processor, conversation(prompt, answer), generation_prompt=False)

    def _apply(self, processor: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        return processor.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False)

    def inputs(self, processor: Any, images: Sequence[Any], texts: Sequence[str]) -> Any:
        """Processor outputs (input ids, pixels, masks ...) for a batch, one image per text."""
        bos = processor.tokenizer.bos_token
        templated_bos = bos is not None and all(text.startswith(bos) for text in texts)
        return processor(
            images=[[image] for image in images] if self.nested_images else list(images),
            text=list(texts),
            return_tensors="pt",
            padding=True,
            add_special_tokens=not templated_bos,
        )


@dataclass(frozen=True)
class GenericTemplateFamily(Family):
    """A family whose processor overrides ``apply_chat_template`` with needs an image-only
    processor cannot meet; the template itself is rendered the generic way."""

    def _apply(self, processor: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        from transformers import ProcessorMixin

        return ProcessorMixin.apply_chat_template(
            processor, messages, add_generation_prompt=generation_prompt, tokenize=False
        )


@dataclass(frozen=True)
class RawPrefixFamily(Family):
    """A family without a chat template whose processor builds the prefix from the raw prompt."""

    def render(self, processor: Any, prompt: str) -> str:
        return prompt

    def render_turn(self, processor: Any, prompt: str, answer: str) -> str:
        return prompt + answer  # the processor ends the prefix with a newline; the answer follows it

    def inputs(self, processor: Any, images: Sequence[Any], texts: Sequence[str]) -> Any:
        return processor(images=list(images), text=list(texts), return_tensors="pt", padding=True)


DEFAULT_FAMILY = Family("chat-template")

# config.model_type -> family; a model type not listed here gets DEFAULT_FAMILY.
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("qwen2_vl", positions="mrope"),
        Family("qwen2_5_vl", positions="mrope"),
        Family("llava_next"),
        Family("internvl"),
        Family(
            "mllama",
            nested_images=True,
            no_reuse="the image enters through cross-attention layers, not as tokens of a reusable prefix",
        ),
        Family("gemma3", nested_images=True),
        Family("idefics3", nested_images=True),
        GenericTemplateFamily("smolvlm", nested_images=True),
        RawPrefixFamily(
            "paligemma",
            no_reuse="prefix-LM: the prompt attends bidirectionally to the image, so the image's cache depends on it",
        ),
    )
}


def family_for(model_type: str) -> Family:
    """The family of a checkpoint, from its config's ``model_type``."""
    return FAMILIES.get(model_type, DEFAULT_FAMILY)
