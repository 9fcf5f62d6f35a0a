"""Which device a model runs on, and whether its weights are spread over several GPUs.

``auto`` is the GPU when there is one, else the CPU. Under pytest-xdist each worker takes its own
GPU: worker ``gwN`` gets visible GPU ``N mod count`` (the count honours ``CUDA_VISIBLE_DEVICES``,
which torch applies itself), so ``-n 4`` on a 4-GPU box loads one copy per GPU instead of four
copies on GPU 0. ``cuda`` without an index means the same worker GPU; ``cuda:N`` is taken as given.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pytest_vlm.errors import ModelError

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
