"""Memory planning for the transformers backend: batches sized by tokens and bytes, not rows.

One image costs 64 tokens in one model and 15,000 in another (Qwen2-VL at its published
``max_pixels`` on a 12 MP photo), so a fixed number of rows per batch either wastes a GPU or
overflows it. Each request's cost is estimated before batching: its prompt tokens, its image's
tokens as the model's own processor counts them (``_get_num_multimodal_tokens``, or one processed
sample per image size for processors without it), and the bytes of its decoded image. A batch is
filled until the next row would pass the token budget (derived from free device memory and the
model's per-token footprint) or the decoded-image budget; ``--vlm-batch-size`` stays a ceiling on
rows. Decoded images are cached by bytes too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_vlm.models.base import ImageSource
from pytest_vlm.models.device import ImageCache

BATCH_IMAGE_BYTES = 512 * 2**20  # decoded images one batch may hold at once
CPU_BATCH_BYTES = 4 * 2**30  # activations + cache of one batch on CPU
GPU_FREE_SHARE = 0.6  # of the GPU memory left free after loading, for one batch (the rest: caches, slack)


def image_size(source: ImageSource, cache: ImageCache) -> tuple[int, int]:
    """(height, width) of an image without decoding its pixels where the source allows it: a file's
    header, a generated image's size; otherwise the (cached) decoded image."""
    path = getattr(source, "path", None)
    if path is not None:
        from PIL import Image

        try:
            with Image.open(path) as image:
                return image.height, image.width
        except OSError:
            pass  # the decode below raises the source's own error message
    size = getattr(source, "size", None)
    if isinstance(size, int):
        return size, size
    image = cache.get(source)
    return image.height, image.width


class ImageTokens:
    """How many tokens the model's processor turns an image of a given size into."""

    def __init__(self, processor: Any, family: Any) -> None:
        self.processor = processor
        self.family = family
        self._by_size: dict[tuple[int, int], int] = {}

    def count(self, size: tuple[int, int], load: Callable[[], Any]) -> int:
        if size not in self._by_size:
            self._by_size[size] = self._count(size, load)
        return self._by_size[size]

    def _count(self, size: tuple[int, int], load: Callable[[], Any]) -> int:
        counter = getattr(self.processor, "_get_num_multimodal_tokens", None)
        if counter is not None:
            try:
                tokens = counter(image_sizes=[list(size)]).num_image_tokens
            except (AttributeError, TypeError, KeyError, ValueError):
                tokens = None
            if tokens:
                return int(tokens[0])
        # No counter: process one image of this size with an empty prompt and count its tokens.
        inputs = self.family.inputs(self.processor, [load()], [self.family.render(self.processor, "")])
        return int(inputs["input_ids"].shape[1])


@dataclass(frozen=True)
class Cost:
    """One row's share of a batch: sequence tokens (prompt, image, new tokens) and decoded-image bytes."""

    tokens: int
    image_bytes: int


@dataclass
class Budget:
    """What one batch may hold; ``rows`` is the --vlm-batch-size ceiling."""

    tokens: int
    image_bytes: int
    rows: int

    def batches(self, order: Sequence[Any], cost: Callable[[Any], Cost]) -> Iterator[list[Any]]:
        """Consecutive runs of ``order`` within the budget; a row over the budget on its own runs alone.

        A batch's tokens are its rows times its longest row: left padding makes every row as long.
        """
        batch: list[Any] = []
        longest = held = 0
        for i in order:
            c = cost(i)
            if batch and not self.admits(len(batch), longest, held, c):
                yield batch
                batch, longest, held = [], 0, 0
            batch.append(i)
            longest, held = max(longest, c.tokens), held + c.image_bytes
        if batch:
            yield batch

    def admits(self, rows: int, longest: int, held: int, cost: Cost) -> bool:
        """Whether a batch of ``rows`` rows (the longest ``longest`` tokens, ``held`` image bytes)
        takes one more row of ``cost``."""
        return (
            rows < self.rows
            and max(longest, cost.tokens) * (rows + 1) <= self.tokens
            and held + cost.image_bytes <= self.image_bytes
        )


def bytes_per_token(config: Any, element_size: int) -> int:
    """Device bytes one sequence token costs in a forward pass: its key/value cache in every layer,
    plus the widest activations of one layer (MLP intermediates), which are freed layer by layer."""
    text = getattr(config, "text_config", None) or config
    layers = getattr(text, "num_hidden_layers", 32)
    heads = getattr(text, "num_attention_heads", 32)
    hidden = getattr(text, "hidden_size", 4096)
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    intermediate = getattr(text, "intermediate_size", 4 * hidden)
    cache = 2 * layers * kv_heads * head_dim * element_size
    return cache + 4 * max(hidden, intermediate) * element_size


def token_budget(device: str, per_token: int, ram_bytes: int = CPU_BATCH_BYTES) -> int:
    """Tokens one batch may hold: a share of the GPU's free memory, or a RAM budget on CPU."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        available = int(free * GPU_FREE_SHARE)
    else:
        available = ram_bytes
    return max(1, available // max(per_token, 1))
