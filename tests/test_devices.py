"""Issue 10, finding 2: devices. Each xdist worker takes its own GPU, ``cuda:N`` is honoured,
models larger than one GPU are spread with ``device_map="auto"``, and a failed load is remembered.

There is no GPU here: the GPU count is simulated (monkeypatched), as torch reports it after
``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pytest_vlm.errors import ModelError
from pytest_vlm.models import pool as pool_module
from pytest_vlm.models.device import RuntimeOptions, choose_device, is_out_of_memory, spread_kwargs, worker_gpus
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.pool import ModelPool
from pytest_vlm.models.spec import ModelSpec


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Pretend ``count`` GPUs are visible, each with 40 GiB free."""

    def visible(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (40 * 2**30, 80 * 2**30))

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    return visible


@pytest.mark.parametrize(
    ("worker", "count", "device"),
    [("gw0", 4, "cuda:0"), ("gw3", 4, "cuda:3"), ("gw5", 4, "cuda:1"), ("gw1", 1, "cuda:0")],
)
def test_each_xdist_worker_takes_its_own_gpu(
    gpus: Any, monkeypatch: pytest.MonkeyPatch, worker: str, count: int, device: str
) -> None:
    gpus(count)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    assert choose_device("auto") == device
    assert choose_device("cuda") == device  # "cuda" without an index is the worker's GPU too
    assert choose_device("cuda:0") == "cuda:0"  # an explicit index is taken as given


def test_without_xdist_or_gpu(gpus: Any) -> None:
    gpus(2)
    assert choose_device("auto") == "cuda:0"
    gpus(0)
    assert choose_device("auto") == "cpu"
    assert choose_device("cpu") == "cpu"


def test_device_errors_say_what_is_visible(gpus: Any) -> None:
    gpus(2)
    with pytest.raises(ModelError) as exc:
        choose_device("cuda:2")
    assert str(exc.value) == (
        "--vlm-device cuda:2: only 2 GPU(s) are visible (indices 0-1); "
        "indices count the GPUs left by CUDA_VISIBLE_DEVICES"
    )
    with pytest.raises(ModelError) as exc:
        choose_device("gpu1")
    assert str(exc.value) == "--vlm-device 'gpu1': expected auto, cpu, mps, cuda or cuda:N (N a GPU index)"
    gpus(0)
    with pytest.raises(ModelError) as exc:
        choose_device("cuda")
    assert str(exc.value) == "--vlm-device cuda: no CUDA GPU is visible (CUDA_VISIBLE_DEVICES, drivers); use cpu"


def test_a_spread_model_stays_on_its_workers_gpus(gpus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus(4)
    assert worker_gpus("cuda:0") == [0, 1, 2, 3]  # one process: every visible GPU
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert worker_gpus("cuda:1") == [1, 3]  # two workers on four GPUs: two each, never shared
    kwargs = spread_kwargs("cuda:1")
    assert kwargs["device_map"] == "auto"
    assert kwargs["max_memory"] == {1: "36864MiB", 3: "36864MiB"}


def test_allocator_failures_are_recognised() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"))
    assert is_out_of_memory(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"))
    assert not is_out_of_memory(RuntimeError("expected scalar type Float but found BFloat16"))
    assert not is_out_of_memory(ValueError("out of memory"))


class FakeWeights:
    """What ``from_pretrained`` returns here: records where it was asked to go."""

    def __init__(self, kwargs: dict[str, Any], fits: bool) -> None:
        self.kwargs = kwargs
        self.fits = fits
        self.device = torch.device("cuda:1") if "device_map" in kwargs else torch.device("cpu")

    def to(self, device: str) -> FakeWeights:
        if not self.fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 14.00 GiB")
        return self


def _loader(monkeypatch: pytest.MonkeyPatch, fits: bool) -> list[dict[str, Any]]:
    from transformers import AutoModelForImageTextToText

    calls: list[dict[str, Any]] = []

    def from_pretrained(source: str, **kwargs: Any) -> FakeWeights:
        calls.append(kwargs)
        return FakeWeights(kwargs, fits)

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", from_pretrained)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    return calls


def _bare_model(device: str) -> HFModel:
    model = HFModel.__new__(HFModel)
    model.device, model.dtype = device, torch.bfloat16
    return model


def test_a_model_that_does_not_fit_is_spread_over_the_workers_gpus(gpus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus(2)
    calls = _loader(monkeypatch, fits=False)
    model = _bare_model("cuda:0")
    spec = ModelSpec("big", "hf", "org/big-model")
    weights = model._load_weights(spec, device_map="")
    assert [c.get("device_map") for c in calls] == [None, "auto"]
    assert weights.kwargs["max_memory"] == {0: "36864MiB", 1: "36864MiB"}
    assert (model.spread, model.device) == ("the weights did not fit on cuda:0", "cuda:1")


def test_device_map_auto_when_asked_and_never_when_refused(gpus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus(2)
    calls = _loader(monkeypatch, fits=False)
    spec = ModelSpec("big", "hf", "org/big-model")
    asked = _bare_model("cuda:0")
    asked._load_weights(spec, device_map="auto")
    assert [c.get("device_map") for c in calls] == ["auto"] and asked.spread == "device_map: auto was asked for"
    calls.clear()
    refused = _bare_model("cuda:0")
    with pytest.raises(ModelError) as exc:
        refused._load_weights(spec, device_map="none")
    assert str(exc.value) == ("cannot load model big onto cuda:0: CUDA out of memory. Tried to allocate 14.00 GiB")
    assert len(calls) == 1


def test_an_alias_device_map_must_be_auto_or_none(gpus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus(1)
    _loader(monkeypatch, fits=True)
    with pytest.raises(ModelError) as exc:
        _bare_model("cuda:0")._load_weights(ModelSpec("big", "hf", "org/big-model"), device_map="balanced")
    assert str(exc.value) == (
        "model big: device_map 'balanced' is not one of auto, none; "
        "set options: {device_map: auto} in vlm-models.yaml, or --vlm-device-map"
    )


def test_a_failed_load_is_remembered_and_reported_for_every_item(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def load_model(spec: ModelSpec, runtime: RuntimeOptions) -> Any:
        attempts.append(spec.name)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 28.00 GiB")

    monkeypatch.setattr(pool_module, "load_model", load_model)
    pool = ModelPool(RuntimeOptions())
    spec = ModelSpec("qwen2-vl-7b", "hf", "Qwen/Qwen2-VL-7B-Instruct")
    messages = []
    for _ in range(3):
        with pytest.raises(ModelError) as exc:
            pool.get(spec)
        messages.append(str(exc.value))
    assert attempts == ["qwen2-vl-7b"]
    assert (
        messages
        == [
            "cannot load model qwen2-vl-7b (Qwen/Qwen2-VL-7B-Instruct): OutOfMemoryError: "
            "CUDA out of memory. Tried to allocate 28.00 GiB"
        ]
        * 3
    )


def test_the_tiny_checkpoint_loads_straight_on_the_chosen_device(tiny_qwen2_vl: Path) -> None:
    from pytest_vlm.models.resolve import resolve_model

    model = HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions(device="cpu"))
    assert (model.device, model.spread) == ("cpu", None)
    assert {p.device.type for p in model.model.parameters()} == {"cpu"}
