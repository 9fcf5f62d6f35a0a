"""What the transformers backend's parts share: the loaded pieces, the chat text, batching."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ImageSource
from pytest_vlm.models.device import DeviceModel, ImageCache, is_out_of_memory
from pytest_vlm.models.hf.memory import Budget, Cost, ImageTokens, image_size
from pytest_vlm.models.hf.prefix import (
    LinearPositions,
    PrefixCache,
    PromptSplit,
)
from pytest_vlm.models.hf.turns import AssistantTurn
from pytest_vlm.models.spec import ModelSpec


class HFCore(DeviceModel):
    """The state of a loaded transformers model (set by :class:`~pytest_vlm.models.hf.model.HFModel`)
    and the helpers every path uses."""

    spec: ModelSpec
    batch_size: int
    early_stop: bool
    processor: Any
    tokenizer: Any
    family: Any  # models/hf/families.py: the family's quirks
    _eos: set[int]
    _generation: Any
    _images: ImageCache
    _prefixes: PrefixCache
    _split: PromptSplit | None
    _positions: LinearPositions | None
    _reuse_checked: bool
    plain_reason: str | None
    budget: Budget  # models/hf/memory.py: what one batch may hold
    out_of_memory_retries: int
    _image_tokens: ImageTokens
    turn: AssistantTurn  # models/hf/turns.py: what precedes an answer and what ends it

    def _chat(self, prompt: str) -> str:
        return self.family.render(self.processor, prompt)

    def _in_batches(
        self, items: Sequence[Any], run: Callable[[Sequence[Any]], Any], cost: Callable[[Any], Cost]
    ) -> Iterator[tuple[Any, Any]]:
        """``run`` over consecutive chunks of ``items`` that fit the budget (models/memory.py).

        An allocator failure (``torch.OutOfMemoryError``, or a RuntimeError saying so) lowers the
        token budget to three quarters of the failed batch's tokens and retries: the budget is in
        tokens, so later batches of shorter rows still fill up."""
        import torch

        items = list(items)
        start = 0
        while start < len(items):
            chunk = next(self.budget.batches(items[start:], cost))
            try:
                result = run(chunk)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                failed = len(chunk) * max(cost(item).tokens for item in chunk)
                # One row that failed with the budget already at its size: nothing smaller to try.
                # (With a larger budget the failure may be the images encoded ahead with it.)
                if len(chunk) == 1 and self.budget.tokens <= failed:
                    raise self._out_of_memory() from exc
                self._after_out_of_memory(failed)
                continue
            yield chunk, result
            start += len(chunk)

    def _out_of_memory(self) -> ModelError:
        return ModelError(
            f"model {self.name} ran out of {self.device} memory with batch size 1; "
            "use a smaller dtype (--vlm-dtype) or a larger device"
        )

    def _after_out_of_memory(self, failed_tokens: int) -> None:
        import torch

        self.out_of_memory_retries += 1
        self.budget.tokens = max(1, min(self.budget.tokens, failed_tokens * 3 // 4))
        self._prefixes.clear()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _cost(self, source: ImageSource, text_tokens: int, new_tokens: int = 0) -> Cost:
        """One row's tokens (text, image as the processor counts it, new tokens) and image bytes."""
        size = image_size(source, self._images)
        image = self._image_tokens.count(size, lambda: self._images.get(source))
        return Cost(text_tokens + image + new_tokens, size[0] * size[1] * 3)

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as the model's tokenizer counts them, where they could matter: when
        full batches of the longest text would take a quarter of the token budget or more. Below
        that, each text's UTF-8 length plus one (no tokenizer writes more tokens than bytes, bar a
        leading piece) stands in for it, which only ever errs towards smaller batches."""
        distinct = sorted(set(texts))
        if not distinct:
            return []
        bounds = {text: len(text.encode()) + 1 for text in distinct}
        if 4 * self.budget.rows * max(bounds.values()) <= self.budget.tokens:
            return [bounds[text] for text in texts]
        counts = dict(zip(distinct, map(len, self.tokenizer(distinct, add_special_tokens=False)["input_ids"])))
        return [counts[text] for text in texts]

    def _generation_for(self, max_new_tokens: int) -> Any:
        """The decoding settings with this batch's budget: transformers deprecates passing
        ``max_new_tokens`` next to a ``generation_config``."""
        config = copy.deepcopy(self._generation)
        config.max_new_tokens = max_new_tokens
        return config
