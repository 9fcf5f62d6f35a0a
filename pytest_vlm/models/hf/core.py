"""What the transformers backend's parts share: the loaded pieces, the chat text, batching."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.device import DeviceModel, ImageCache
from pytest_vlm.models.hf.prefix import (
    LinearPositions,
    PrefixCache,
    PromptSplit,
)
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

    def _chat(self, prompt: str) -> str:
        return self.family.render(self.processor, prompt)

    def _in_batches(self, items: Sequence[Any], run: Callable[[Sequence[Any]], Any]) -> Iterator[tuple[Any, Any]]:
        """``run`` over consecutive chunks of ``batch_size`` items; on out-of-memory the batch size
        is halved for good and the chunk retried, so one large default fits every device."""
        import torch

        start = 0
        while start < len(items):
            chunk = items[start : start + self.batch_size]
            try:
                result = run(chunk)
            except torch.OutOfMemoryError as exc:
                if self.batch_size == 1:
                    raise self._out_of_memory() from exc
                self.batch_size = max(1, self.batch_size // 2)
                self._prefixes.clear()
                if self.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                continue
            yield chunk, result
            start += len(chunk)

    def _out_of_memory(self) -> ModelError:
        return ModelError(
            f"model {self.name} ran out of {self.device} memory with batch size 1; "
            "use a smaller dtype (--vlm-dtype) or a larger device"
        )
