"""ModelSpec: how to load one model. Depends on nothing, so every layer can name a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """How to load one model. ``name`` is what items, snapshots and reports call it.

    Frozen and hashable: the session pool keys loaded models by their spec, so ``options`` is a
    tuple of (key, value) pairs; read it with ``option()``.
    """

    name: str
    backend: str  # "hf" (transformers), "scripted" (rule-based), "openai", "classifier"
    source: str  # hub id or folder for "hf"; the behaviour for "scripted"; the API model for "openai"
    revision: str | None = None  # a pinned hub commit/tag, so a baseline always means the same weights
    trust_remote_code: bool = False  # the checkpoint needs its own modelling code (see models/trust.py)
    notes: str = ""
    dtype: str | None = None  # weights dtype on GPU (auto picks bf16); CPU runs stay float32 unless asked
    max_new_tokens: int | None = None  # generation budget overriding the strategies' (e.g. for chatty models)
    options: tuple[tuple[str, Any], ...] = ()  # backend-specific settings (e.g. base_url for "openai")
    origin: str = ""  # where a user alias was defined (file), for --vlm-list-models and messages
    wraps: ModelSpec | None = None  # the model a wrapper (models/degraded.py) runs
    allow_remote_code: bool = False  # the user opted in to running that code (never an alias's own choice)

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)
