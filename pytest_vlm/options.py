"""The ``--vlm-*`` command-line options and their ``vlm_*`` ini keys, read once into VlmOptions."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_vlm.models.openai_compat import ApiOptions
from pytest_vlm.models.vllm_options import EngineOptions
from pytest_vlm.option_table import VALUED_OPTIONS

DEFAULT_FILES = ("*.vlm.yaml", "*.vlm.yml")


@dataclass(frozen=True)
class VlmOptions:
    models: tuple[str, ...]  # from --vlm-model / vlm_models; empty: each spec's own, else the default
    update_snapshots: bool
    json_path: Path | None
    device: str
    dtype: str
    batch_size: int
    files: tuple[str, ...]
    seed: int | None
    prefix_reuse: bool = True
    early_stop: bool = True
    api: ApiOptions = ApiOptions()  # OpenAI-compatible servers: --vlm-api-*
    cache_dir: Path | None = None  # the result cache's folder; None: --vlm-no-cache
    progress_after: float | None = 2.0  # seconds before an item shows a progress bar; None: never
    baseline: str | None = None  # --vlm-baseline: compare with this model's baselines instead of each model's own
    markdown_path: Path | None = None
    html_path: Path | None = None
    trust_remote_code: bool = False  # run code shipped with checkpoints (models/trust.py)
    engine: EngineOptions = EngineOptions()  # vLLM models: --vlm-tensor-parallel-size ... (models/vllm.py)
    max_pixels: int | None = None  # --vlm-max-pixels: pixels per image the processor keeps (models/hf/resolution.py)
    device_map: str = ""  # --vlm-device-map: auto (spread over the worker's GPUs), none, or "" (when it cannot fit)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("vlm", "vision-language model benchmarks (pytest-vlm)")
    group.addoption(
        "--vlm-model",
        action="append",
        default=[],
        metavar="MODEL",
        help="model to benchmark: alias, hub id or checkpoint folder; repeat or comma-separate for several; "
        "write a folder as --vlm-model=PATH so that pytest does not take it for a test path "
        "(default: the spec's 'models', else ini vlm_models, else tiny-shapes)",
    )
    parser.addini("vlm_models", "models to benchmark when --vlm-model is not given", type="linelist", default=[])
    group.addoption(
        "--vlm-update-snapshots",
        action="store_true",
        default=False,
        help="record the predictions of the models and benchmarks that ran as their new baselines "
        "(other models' baselines are never touched)",
    )
    group.addoption(
        "--vlm-files",
        metavar="GLOB",
        action="append",
        default=[],
        help=f"file name patterns collected as benchmark specs (default: {' '.join(DEFAULT_FILES)})",
    )
    parser.addini(
        "vlm_files", "file name patterns collected as benchmark specs", type="args", default=list(DEFAULT_FILES)
    )
    group.addoption(
        "--vlm-trust-remote-code",
        action="store_true",
        default=False,
        help="allow models that need code shipped with their checkpoint (MiniCPM-V, Phi-3-vision, InternVL2) "
        "to run it; read that code first (ini: vlm_trust_remote_code)",
    )
    parser.addini(
        "vlm_trust_remote_code", "allow models to run code shipped with their checkpoint", type="bool", default=False
    )
    group.addoption("--vlm-list-models", action="store_true", default=False, help="list the model aliases and exit")
    parser.addini(
        "vlm_aliases",
        "YAML files of model aliases to add or override (relative to the ini file), one per line",
        type="linelist",
        default=[],
    )
    group.addoption(
        "--vlm-cache",
        dest="vlm_cache",
        default=None,
        metavar="DIR",
        help="folder of the result cache of model answers (default: .vlm_cache under the rootdir; ini: vlm_cache)",
    )
    parser.addini("vlm_cache", "folder of the result cache of model answers, relative to the rootdir", default=None)
    group.addoption(
        "--vlm-no-cache",
        action="store_true",
        default=False,
        help="neither read nor write the result cache: every answer comes from the model (ini: vlm_no_cache)",
    )
    parser.addini("vlm_no_cache", "disable the result cache of model answers", type="bool", default=False)
    group.addoption(
        "--vlm-progress-after",
        dest="vlm_progress_after",
        default=None,
        metavar="SECONDS",
        help="show a progress bar for items running longer than this on a terminal; 'off' never (default: 2; "
        "ini: vlm_progress_after)",
    )
    parser.addini("vlm_progress_after", "seconds before an item shows a progress bar, or 'off'", default="2")
    for flag, ini, metavar, help_text, default in VALUED_OPTIONS:
        shown = f"default: {default}; ini: {ini}" if default is not None else f"ini: {ini}"
        group.addoption(flag, dest=ini, default=None, metavar=metavar, help=f"{help_text} ({shown})")
        parser.addini(ini, help_text, default=default)


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _value(config: pytest.Config, ini: str) -> str | None:
    cli = config.getoption(ini)
    value = cli if cli is not None else config.getini(ini)
    return str(value).strip() if value not in (None, "") else None


def _int(config: pytest.Config, ini: str, minimum: int) -> int | None:
    value = _value(config, ini)
    if value is None:
        return None
    flag = "--" + ini.replace("_", "-")
    try:
        number = int(value)
    except ValueError:
        raise pytest.UsageError(f"{flag} / {ini}: expected an integer, got {value!r}") from None
    if number < minimum:
        raise pytest.UsageError(f"{flag} / {ini}: must be >= {minimum}, got {number}")
    return number


def _switch(config: pytest.Config, ini: str) -> bool:
    value = (_value(config, ini) or "on").lower()
    if value not in ("on", "off"):
        flag = "--" + ini.replace("_", "-")
        raise pytest.UsageError(f"{flag} / {ini}: expected on or off, got {value!r}")
    return value == "on"


def _cache_dir(config: pytest.Config) -> Path | None:
    if config.getoption("vlm_no_cache") or config.getini("vlm_no_cache"):
        return None
    from pytest_vlm.models.cache.store import DEFAULT_FOLDER

    cli = config.getoption("vlm_cache")
    if cli:
        return Path(config.invocation_params.dir, cli)
    return Path(config.rootpath, config.getini("vlm_cache") or DEFAULT_FOLDER)


def _progress_after(config: pytest.Config) -> float | None:
    value = _value(config, "vlm_progress_after") or "2"
    if value.lower() == "off":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise pytest.UsageError(
            f"--vlm-progress-after / vlm_progress_after: expected seconds (a number >= 0) or 'off', got {value!r}"
        )
    return seconds


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _device(config: pytest.Config) -> str:
    """The device, refused in one line when it is not a device name or this machine has no such device."""
    device = _value(config, "vlm_device") or "auto"
    where = "--vlm-device / vlm_device"
    if not _DEVICE.fullmatch(device):
        hint = device.lower().replace("gpu", "cuda")
        close = f" (did you mean {hint!r}?)" if _DEVICE.fullmatch(hint) else ""
        raise pytest.UsageError(
            f"{where}: unknown device {device!r}{close}; use auto (the GPU when there is one), cpu, cuda, "
            "cuda:N (the GPU of index N) or mps"
        )
    if device in ("auto", "cpu"):
        return device
    import torch  # only when a device was asked for by name: checking it needs torch

    if device == "mps" and not torch.backends.mps.is_available():
        raise pytest.UsageError(
            f"{where}: mps asked for, but this machine or torch build has no Apple GPU; use auto or cpu"
        )
    if device.startswith("cuda"):
        if torch.version.cuda is None:
            raise pytest.UsageError(
                f"{where}: {device} asked for, but this torch ({torch.__version__}) is built without CUDA; "
                "install a CUDA build of torch, or use auto (the GPU when there is one) or cpu"
            )
        count = torch.cuda.device_count()
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            seen = f"{count} GPU(s) are visible (cuda:0 to cuda:{count - 1})" if count else "no GPU is visible"
            raise pytest.UsageError(
                f"{where}: {device} asked for, but {seen}; check the driver and CUDA_VISIBLE_DEVICES, "
                "or use auto or cpu"
            )
    return device


def read_options(config: pytest.Config) -> VlmOptions:
    models = _split(config.getoption("vlm_model")) or _split(config.getini("vlm_models"))
    json_path = _value(config, "vlm_json")
    return VlmOptions(
        models=models,
        update_snapshots=bool(config.getoption("vlm_update_snapshots")),
        json_path=Path(config.invocation_params.dir, json_path) if json_path else None,
        device=_device(config),
        dtype=_value(config, "vlm_dtype") or "auto",
        batch_size=_int(config, "vlm_batch_size", 1) or 64,
        files=tuple(config.getoption("vlm_files")) or tuple(config.getini("vlm_files")),
        seed=_int(config, "vlm_seed", 0),
        prefix_reuse=_switch(config, "vlm_prefix_reuse"),
        early_stop=_switch(config, "vlm_early_stop"),
        api=_api_options(config),
        cache_dir=_cache_dir(config),
        progress_after=_progress_after(config),
        baseline=_value(config, "vlm_baseline"),
        markdown_path=_path(config, "vlm_markdown"),
        html_path=_path(config, "vlm_html"),
        trust_remote_code=bool(config.getoption("vlm_trust_remote_code") or config.getini("vlm_trust_remote_code")),
        engine=_engine_options(config),
        max_pixels=_int(config, "vlm_max_pixels", 0),
        device_map=_device_map(config),
    )


def _engine_options(config: pytest.Config) -> EngineOptions:
    share = _value(config, "vlm_gpu_memory_utilization")
    utilization = None
    if share is not None:
        try:
            utilization = float(share)
        except ValueError:
            utilization = -1.0
        if not 0 < utilization <= 1:
            raise pytest.UsageError(
                f"--vlm-gpu-memory-utilization / vlm_gpu_memory_utilization: expected a share in (0, 1], got {share!r}"
            )
    return EngineOptions(
        tensor_parallel_size=_int(config, "vlm_tensor_parallel_size", 1),
        pipeline_parallel_size=_int(config, "vlm_pipeline_parallel_size", 1),
        data_parallel_size=_int(config, "vlm_data_parallel_size", 1),
        gpu_memory_utilization=utilization,
        max_model_len=_int(config, "vlm_max_model_len", 16),
    )


def _device_map(config: pytest.Config) -> str:
    value = (_value(config, "vlm_device_map") or "").lower()
    if value not in ("", "auto", "none"):
        raise pytest.UsageError(f"--vlm-device-map / vlm_device_map: expected auto or none, got {value!r}")
    return value


def _api_options(config: pytest.Config) -> ApiOptions:
    from pytest_vlm.errors import ModelError
    from pytest_vlm.models.openai_compat import check_url

    base_url = _value(config, "vlm_api_base")
    if base_url is not None:
        try:
            check_url(base_url, "--vlm-api-base / vlm_api_base")
        except ModelError as exc:
            raise pytest.UsageError(str(exc)) from None
    key_env = _value(config, "vlm_api_key_env")
    if key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
        raise pytest.UsageError(  # the value is not echoed: it may be the key itself
            "--vlm-api-key-env / vlm_api_key_env: expected the NAME of an environment variable "
            "(letters, digits, _), e.g. OPENAI_API_KEY; never put the key itself on the command line or in an ini file"
        )
    timeout = _value(config, "vlm_api_timeout") or "120"
    try:
        timeout_s = float(timeout)
    except ValueError:
        timeout_s = -1.0
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise pytest.UsageError(f"--vlm-api-timeout / vlm_api_timeout: expected seconds > 0, got {timeout!r}")
    return ApiOptions(
        base_url=base_url,
        key_env=key_env,
        concurrency=_int(config, "vlm_api_concurrency", 1),
        max_image_side=_int(config, "vlm_api_max_image_side", 1),
        timeout_s=timeout_s,
        retries=_int(config, "vlm_api_retries", 0) or 0,
    )


def _path(config: pytest.Config, ini: str) -> Path | None:
    value = _value(config, ini)
    return Path(config.invocation_params.dir, value) if value else None
