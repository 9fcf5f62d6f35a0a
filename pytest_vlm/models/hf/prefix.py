"""Encode an image once, ask it many questions: the prefix-reuse path of the transformers backend.

A strategy asks several questions about one image (K shuffled class lists, or one yes/no question
per class). The chat text of each is ``head + prompt + tail``: ``head`` holds the system turn and
the image, which is almost all of the work (image preprocessing, the vision tower, and the image
tokens through the language model). So ``head`` is run once per image and its key/value cache kept;
each question then only runs its own few tokens (``prompt + tail``) on top of a copy of that cache,
and decoding continues from there with plain greedy argmax.

Positions must be those the plain path would give: text positions continue after the prefix's last
real position (1-D for most families; Qwen2-VL and Qwen2.5-VL use 3-D multimodal RoPE, whose text
positions restart after the image's largest index). Families whose attention is not causal over
the prompt (PaliGemma's prefix-LM) or that attend to the image through cross-attention (Mllama)
are not reused: they take the plain path.
``models/hf/families.py`` says which, per family. Every other family, including ones not listed
there, is checked once against the plain path before its first reuse.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_SENTINEL = "\ue000pytest-vlm-prompt\ue000"


@dataclass(frozen=True)
class PromptSplit:
    """The chat text around a prompt: ``render(prompt) == head + prompt + tail``.

    ``verbatim`` when the template was seen to keep an awkward prompt (edge whitespace, braces,
    newlines) exactly, so a chat can be assembled without rendering the template per prompt.
    """

    head: str
    tail: str
    verbatim: bool

    @classmethod
    def of(cls, render: Callable[[str], str]) -> PromptSplit | None:
        text = render(_SENTINEL)
        if text.count(_SENTINEL) != 1:
            return None
        head, tail = text.split(_SENTINEL)
        probe = f" \t{_SENTINEL}{{{{ x }}}}\n "
        return cls(head, tail, verbatim=render(probe) == head + probe + tail)

    def chat(self, prompt: str, render: Callable[[str], str]) -> str | None:
        """The chat text of ``prompt``, or None when the template does not keep it as one piece."""
        if self.verbatim:
            return self.head + prompt + self.tail
        text = render(prompt)
        if text.startswith(self.head + prompt) and text.endswith(self.tail):
            return text
        return None


@dataclass
class Prefix:
    """One image's encoded head: its token ids, per-layer keys and values, the next text position."""

    input_ids: Any  # 1-D LongTensor, no padding
    layers: list[tuple[Any, Any]]  # (keys, values), each [1, heads, length, head_dim]
    next_position: int

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(k.nelement() * k.element_size() + v.nelement() * v.element_size() for k, v in self.layers)


class PrefixCache:
    """Encoded prefixes by (image, start text), least recently used dropped first.

    They hold device memory (a 7B model's prefix of a few hundred tokens is tens of MB), so the
    cache is bounded by bytes as well as by count; the prefixes a batch is using are held by the
    batch itself, so dropping them here never loses work in flight.
    """

    def __init__(self, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Any, Prefix] = OrderedDict()

    def get(self, key: Any) -> Prefix | None:
        prefix = self._items.get(key)
        if prefix is not None:
            self._items.move_to_end(key)
        return prefix

    def put(self, key: Any, prefix: Prefix) -> None:
        if key in self._items:
            self.bytes -= self._items[key].nbytes
        self._items[key] = prefix
        self._items.move_to_end(key)
        self.bytes += prefix.nbytes
        while self._items and (len(self._items) > self.size or self.bytes > self.max_bytes):
            self.bytes -= self._items.popitem(last=False)[1].nbytes

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)


class LinearPositions:
    """Ordinary 1-D positions: each real token one more than the last, padding ignored."""

    def prefix(self, model: Any, inputs: dict[str, Any]) -> tuple[Any, list[int]]:
        mask = inputs["attention_mask"]
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        return positions, [int(n) for n in mask.sum(-1)]

    def following(self, starts: Any, mask: Any) -> Any:
        """Positions of ``mask``'s real tokens, continuing from ``starts`` (one per row)."""
        return starts[:, None] + (mask.long().cumsum(-1) - 1).clamp(min=0)


class MultimodalRopePositions(LinearPositions):
    """Qwen2-VL's 3-D positions: the model's own ``get_rope_index`` for the head, then text positions."""

    def prefix(self, model: Any, inputs: dict[str, Any]) -> tuple[Any, list[int]]:
        import inspect

        import torch

        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        grids = inputs.get("image_grid_thw")
        if grids is None or len(grids) != len(ids):  # not one image per row: ask for every row
            rows = list(range(len(ids)))
        else:
            # Rows with the same tokens and image grid have the same positions (a batch of heads
            # usually is one text over same-sized images): compute each distinct row once.
            first: dict[tuple, int] = {}
            keys = [(tuple(i.tolist()), tuple(m.tolist()), tuple(g.tolist())) for i, m, g in zip(ids, mask, grids)]
            rows = [first.setdefault(key, r) for r, key in enumerate(keys)]
        distinct = sorted(set(rows))
        rope_index = model.model.get_rope_index
        accepted = inspect.signature(rope_index).parameters
        kwargs = {k: v for k, v in inputs.items() if k in accepted and k != "input_ids"}
        if len(distinct) < len(rows):
            kwargs = {k: v[distinct] for k, v in kwargs.items()}
            picked, _ = rope_index(ids[distinct], **kwargs)
            where = torch.tensor([distinct.index(r) for r in rows], device=ids.device)
            positions = picked[:, where]
        else:
            positions, _ = rope_index(ids, **kwargs)
        starts = [int(positions[:, row][:, mask[row].bool()].max()) + 1 for row in range(positions.shape[1])]
        return positions, starts

    def following(self, starts: Any, mask: Any) -> Any:
        return super().following(starts, mask).unsqueeze(0).expand(3, -1, -1)


POSITIONS: dict[str, type[LinearPositions]] = {"linear": LinearPositions, "mrope": MultimodalRopePositions}


def assemble(prefixes: Sequence[Prefix], suffixes: Sequence[Sequence[int]], pad_id: int, device: Any) -> dict[str, Any]:
    """One batch: each row's prefix cache right-aligned (left padding), then its suffix, left-padded.

    Padding sits between a row's prefix and its suffix where suffixes differ in length; the
    attention mask hides it and positions skip it, so every row ends at the last column.
    """
    import torch
    from transformers import DynamicCache

    rows = len(prefixes)
    width = max(p.length for p in prefixes)
    length = max(len(s) for s in suffixes)
    head_mask = torch.zeros(rows, width, dtype=torch.long, device=device)
    suffix_ids = torch.full((rows, length), pad_id, dtype=torch.long, device=device)
    suffix_mask = torch.zeros(rows, length, dtype=torch.long, device=device)
    for row, (prefix, suffix) in enumerate(zip(prefixes, suffixes)):
        head_mask[row, width - prefix.length :] = 1
        suffix_ids[row, length - len(suffix) :] = torch.tensor(suffix, dtype=torch.long, device=device)
        suffix_mask[row, length - len(suffix) :] = 1
    cache = DynamicCache()
    for layer in range(len(prefixes[0].layers)):
        keys, values = (_right_aligned([p.layers[layer][i] for p in prefixes], width) for i in (0, 1))
        cache.update(keys, values, layer)
    starts = torch.tensor([p.next_position for p in prefixes], dtype=torch.long, device=device)
    return {
        "input_ids": suffix_ids,
        "attention_mask": torch.cat([head_mask, suffix_mask], dim=1),
        "suffix_mask": suffix_mask,
        "cache": cache,
        "starts": starts,
    }


def _right_aligned(tensors: Sequence[Any], width: int) -> Any:
    import torch

    if all(t.shape[-2] == width for t in tensors):
        return torch.cat(list(tensors), dim=0)
    first = tensors[0]
    out = first.new_zeros((len(tensors), first.shape[1], width, first.shape[3]))
    for row, t in enumerate(tensors):
        out[row, :, width - t.shape[-2] :] = t[0]
    return out


def split_prefixes(inputs: dict[str, Any], cache: Any, starts: list[int]) -> list[Prefix]:
    """Per-row prefixes (padding dropped) out of a batched head pass."""
    mask = inputs["attention_mask"].bool()
    layers = [(layer.keys, layer.values) for layer in cache.layers]
    prefixes = []
    for row in range(mask.shape[0]):
        real = mask[row]
        prefixes.append(
            Prefix(
                input_ids=inputs["input_ids"][row, real],
                layers=[(k[row : row + 1, :, real], v[row : row + 1, :, real]) for k, v in layers],
                next_position=starts[row],
            )
        )
    return prefixes


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """``cache`` as the keyword the model's forward takes it by: ``cache`` since transformers renamed
    it (the old name then warns on every call), ``past_key_values`` before."""
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    return {name: cache}


def returned_cache(out: Any) -> Any:
    """The cache a forward pass returned, under either name (reading the old one warns)."""
    return out["cache"] if "cache" in out.keys() else out["past_key_values"]
