"""vLLM backend settings: the ``--vlm-*`` engine options and the alias options the backend reads,
checked and merged (command line / ini over the alias). No vLLM import: the plugin reads them."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.spec import ModelSpec


@dataclass(frozen=True)
class EngineOptions:
    """vLLM engine settings from ``--vlm-*`` / ``vlm_*`` (``None`` keeps the alias's, else vLLM's default)."""

    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int | None = None
    data_parallel_size: int | None = None
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None


# Alias options (ModelSpec.options / vlm-models.yaml ``options:``) the backend reads, with their types.
ENGINE_KEYS: dict[str, type] = {
    f.name: (float if f.name == "gpu_memory_utilization" else int) for f in fields(EngineOptions)
}
OPTION_KEYS: dict[str, type] = {
    **ENGINE_KEYS,
    "max_num_seqs": int,
    "enforce_eager": bool,
    "kv_cache_memory_bytes": int,
    "mm_processor_kwargs": str,  # a JSON object, e.g. '{"num_crops": 16}' (alias options hold scalars)
    "stop_tokens": str,  # comma-separated: the family's end-of-turn tokens besides its EOS
    "choice_constraint": bool,
}


def engine_settings(spec: ModelSpec, engine: EngineOptions | None) -> dict[str, Any]:
    """The alias's options, checked, with the command line / ini settings on top."""
    settings: dict[str, Any] = {}
    for key, value in spec.options:
        if key not in OPTION_KEYS:
            raise ModelError(
                f"model {spec.name}: unknown vllm option {key!r}; known options: {', '.join(sorted(OPTION_KEYS))}"
            )
        wanted = OPTION_KEYS[key]
        ok = isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            raise ModelError(
                f"model {spec.name}: vllm option {key} expects {wanted.__name__}, got {value!r}; "
                "fix the alias's options"
            )
        settings[key] = _json_object(spec, value) if key == "mm_processor_kwargs" else value
    for key, value in vars(engine or EngineOptions()).items():
        if value is not None:
            settings[key] = value
    return settings


def _json_object(spec: ModelSpec, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ModelError(
            f"model {spec.name}: vllm option mm_processor_kwargs must be a JSON object such as "
            f"'{{\"num_crops\": 16}}', got {text!r}"
        )
    return value
