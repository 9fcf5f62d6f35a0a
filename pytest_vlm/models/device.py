"""What every backend holding torch weights shares: run options, device and dtype choice, decoded
images, peak memory, and where a checkpoint's answers come from."""

from __future__ import annotations

import os
import resource
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ImageSource
from pytest_vlm.models.spec import ModelSpec

if TYPE_CHECKING:
    from pytest_vlm.models.openai_compat import ApiOptions
    from pytest_vlm.models.vllm_options import EngineOptions


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how models run; ``auto`` picks the GPU (bf16) when there is one, else CPU (fp32)."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 64
    prefix_reuse: bool = True  # encode each image once and reuse it for every question about it
    early_stop: bool = True  # stop decoding a row once its answer is settled among the request's choices
    api: ApiOptions | None = None  # remote (OpenAI-compatible) models: base URL, concurrency, timeouts
    engine: EngineOptions | None = None  # vLLM models: parallelism, memory, context length


def choose_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def choose_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ModelError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def image_key(source: ImageSource) -> Any:
    """What identifies an image across benchmarks: the source itself (path, or generator seed and
    index) when hashable, so two datasets reusing an id never share cached pixels or prefixes."""
    try:
        hash(source)
    except TypeError:
        return (type(source).__name__, source.id)
    return source


class ImageCache:
    """Decoded images, so K votes or n-1 questions about one image decode it once."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._images: OrderedDict[Any, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._images)

    def get(self, source: ImageSource) -> Any:
        key = image_key(source)
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key]
        image = source.load()
        self._images[key] = image
        if len(self._images) > self.size:
            self._images.popitem(last=False)
        return image


class DeviceModel:
    """What every backend holding torch weights (``self.model``) on ``self.device`` shares:
    measuring its peak memory and releasing it."""

    device: str
    model: Any

    def _place(self, spec: ModelSpec, runtime: RuntimeOptions, *, alias_dtype: bool = True) -> None:
        """Name, device, dtype and batch size, from the alias and the run's options."""
        import torch

        self.name = spec.name
        self.spec = spec
        self.device = choose_device(runtime.device)
        # An alias's dtype applies on GPU when --vlm-dtype is left at auto; CPU runs stay float32.
        wanted = spec.dtype if alias_dtype and spec.dtype and self.device.startswith("cuda") else "auto"
        self.dtype = choose_dtype(runtime.dtype if runtime.dtype != "auto" else wanted, self.device)
        self.batch_size = runtime.batch_size
        if self.device == "cpu" and os.environ.get("PYTEST_XDIST_WORKER"):
            torch.set_num_threads(1)  # one thread per xdist worker: workers already fill the cores

    def reset_peak_memory(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_mb(self) -> float:
        if self.device.startswith("cuda"):
            import torch

            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return process_peak_rss_mb()

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def load_error(what: str, detail: str, advice: str) -> ModelError:
    """The one message every torch backend gives when a checkpoint does not load: which model from
    where (``what``), why (``detail``), and what a hub id and the backend's folders need."""
    return ModelError(
        f"cannot load {what}: {detail}\n"
        f"A hub id needs network access or a filled Hugging Face cache (HF_HOME); {advice}\n"
        "Without network, set HF_HUB_OFFLINE=1: the cache alone is used, and a model not in it fails at once."
    )


def checkpoint_identity(source: str, config: Any) -> dict[str, Any] | None:
    """Where a checkpoint's answers come from, for the result cache (models/cache/results.py): a local
    folder (whose files the cache hashes), or a hub id at its resolved commit; None for a hub
    model without one, which cannot be pinned and so is not cached."""
    if os.path.isdir(source):
        return {"files": source}
    commit = getattr(config, "_commit_hash", None)
    return {"source": source, "commit": commit} if commit else None


def process_peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
