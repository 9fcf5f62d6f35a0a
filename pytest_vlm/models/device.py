"""What every backend holding torch weights shares: run options, device and dtype choice, decoded
images, peak memory, and where a checkpoint's answers come from.

``auto`` is the GPU when there is one, else the CPU. Under pytest-xdist each worker takes its own
GPU: worker ``gwN`` gets visible GPU ``N mod count`` (the count honours ``CUDA_VISIBLE_DEVICES``,
which torch applies itself), so ``-n 4`` on a 4-GPU box loads one copy per GPU instead of four
copies on GPU 0. ``cuda`` without an index means the same worker GPU; ``cuda:N`` is taken as given.
"""

from __future__ import annotations

import os
import re
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
    device_map: str = ""  # "auto": spread every model over the worker's GPUs; "none": never; "": when it cannot fit
    max_pixels: int | None = None  # pixels per image kept by the processor, for every model (models/hf/resolution.py)


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def worker_index() -> int | None:
    """The xdist worker number (``gw3`` -> 3), or None outside xdist."""
    match = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return int(match.group(1)) if match else None


def choose_device(device: str) -> str:
    """``auto``/``cpu``/``mps``/``cuda``/``cuda:N`` -> the concrete device this process uses."""
    import torch

    if not _DEVICE.fullmatch(device):
        raise ModelError(f"--vlm-device {device!r}: expected auto, cpu, mps, cuda or cuda:N (N a GPU index)")
    if device in ("cpu", "mps"):
        return device
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto" and count == 0:
        return "cpu"
    if count == 0:
        raise ModelError(f"--vlm-device {device}: no CUDA GPU is visible (CUDA_VISIBLE_DEVICES, drivers); use cpu")
    if device.startswith("cuda:"):
        index = int(device.split(":")[1])
        if index >= count:
            raise ModelError(
                f"--vlm-device {device}: only {count} GPU(s) are visible (indices 0-{count - 1}); "
                "indices count the GPUs left by CUDA_VISIBLE_DEVICES"
            )
        return device
    return f"cuda:{(worker_index() or 0) % count}"


def worker_gpus(device: str) -> list[int]:
    """The visible GPUs a model of this worker may spread over with ``device_map="auto"``: all of
    them outside xdist; under xdist with several workers, only the worker's own GPU so workers
    never share one (a model too big for one GPU needs fewer workers than GPUs)."""
    import torch

    count = torch.cuda.device_count()
    own = int(device.split(":")[1]) if ":" in device else 0
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers <= 1:
        return list(range(count))
    return [gpu for gpu in range(count) if gpu % workers == own % workers] or [own]


def spread_kwargs(device: str) -> dict[str, Any]:
    """``from_pretrained`` arguments that spread a model over this worker's GPUs (``device_map="auto"``),
    with ``max_memory`` naming only those GPUs, at their free memory less a tenth for activations."""
    import torch

    gpus = worker_gpus(device)
    budget = {gpu: f"{int(torch.cuda.mem_get_info(gpu)[0] * 0.9) // 2**20}MiB" for gpu in gpus}
    return {"device_map": "auto", "max_memory": budget}


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocator failure: ``torch.OutOfMemoryError``, or the RuntimeErrors CPU allocators and
    some CUDA paths (cuBLAS, cuDNN workspaces) raise instead."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        marker in text
        for marker in (
            "out of memory",
            "defaultcpuallocator: can't allocate",
            "cublas_status_alloc_failed",
            "not enough memory",
        )
    )


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


IMAGE_CACHE_BYTES = 512 * 2**20  # decoded RGB images kept for the votes / questions that follow


def image_bytes(image: Any) -> int:
    """Bytes a decoded PIL image holds."""
    return image.width * image.height * len(image.getbands())


class ImageCache:
    """Decoded images, so K votes or n-1 questions about one image decode it once; least recently
    used dropped first, bounded in bytes (one 12 MP photo is 36 MB decoded: a bound of 256 images
    let 300 photos of 3000x3000 reach 11 GB)."""

    def __init__(self, max_bytes: int = IMAGE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
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
        self.bytes += image_bytes(image)
        while len(self._images) > 1 and self.bytes > self.max_bytes:
            self.bytes -= image_bytes(self._images.popitem(last=False)[1])
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
