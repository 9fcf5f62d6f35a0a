"""The session's models: each loaded once per process on first use, all released at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.backends import load_model
from pytest_vlm.models.base import LoadedModel
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.spec import ModelSpec


class ModelPool:
    """Loads each model at most once; a model that failed to load fails its items without retrying."""

    def __init__(self, runtime: RuntimeOptions, cache_dir: Path | None = None) -> None:
        self.runtime = runtime
        self.cache_dir = cache_dir
        self._cache: Any = None
        self._models: dict[ModelSpec, LoadedModel] = {}
        self._failures: dict[ModelSpec, ModelError] = {}
        self.load_counts: dict[str, int] = {}

    def get(self, spec: ModelSpec) -> LoadedModel:
        if spec in self._failures:
            raise self._failures[spec]
        if spec not in self._models:
            try:
                self._models[spec] = load_model(spec, self.runtime)
            except ModelError as exc:
                self._failures[spec] = exc
                raise
            except Exception as exc:  # an out-of-memory while placing weights, a bug in remote code ...
                # Remembered like a ModelError: every item needing the model gets this reason, and
                # the load is not retried item after item.
                error = ModelError(f"cannot load model {spec.name} ({spec.source}): {type(exc).__name__}: {exc}")
                self._failures[spec] = error
                raise error from exc
            self.load_counts[spec.name] = self.load_counts.get(spec.name, 0) + 1
        return self._models[spec]

    def result_cache(self) -> Any:
        """The session's result cache (models/cache/results.py), opened on first use; None with --vlm-no-cache."""
        if self._cache is None and self.cache_dir is not None:
            from pytest_vlm.models.cache.results import ResultCache
            from pytest_vlm.models.cache.store import ResultStore

            self._cache = ResultCache(ResultStore(self.cache_dir))
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.store.close()
            self._cache = None
        models, self._models = self._models, {}
        for model in models.values():
            model.close()
