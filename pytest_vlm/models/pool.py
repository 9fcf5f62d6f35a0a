"""The session's models: each loaded once per process on first use, all released at the end."""

from __future__ import annotations

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import VisionLanguageModel
from pytest_vlm.models.hf import RuntimeOptions
from pytest_vlm.models.registry import ModelSpec


def load_model(spec: ModelSpec, runtime: RuntimeOptions) -> VisionLanguageModel:
    if spec.backend == "hf":
        from pytest_vlm.models.hf import HFModel

        return HFModel(spec, runtime)
    if spec.backend == "scripted":
        from pytest_vlm.models.scripted import ScriptedModel

        return ScriptedModel(spec.name, spec.source)
    if spec.backend == "degraded" and spec.wraps is not None:
        from pytest_vlm.models.degraded import DegradedModel

        return DegradedModel(spec, load_model(spec.wraps, runtime))
    raise ModelError(f"model {spec.name}: unknown backend {spec.backend!r}")


class ModelPool:
    """Loads each model at most once; a model that failed to load fails its items without retrying."""

    def __init__(self, runtime: RuntimeOptions) -> None:
        self.runtime = runtime
        self._models: dict[ModelSpec, VisionLanguageModel] = {}
        self._failures: dict[ModelSpec, ModelError] = {}
        self.load_counts: dict[str, int] = {}

    def get(self, spec: ModelSpec) -> VisionLanguageModel:
        if spec in self._failures:
            raise self._failures[spec]
        if spec not in self._models:
            try:
                self._models[spec] = load_model(spec, self.runtime)
            except ModelError as exc:
                self._failures[spec] = exc
                raise
            self.load_counts[spec.name] = self.load_counts.get(spec.name, 0) + 1
        return self._models[spec]

    def close(self) -> None:
        models, self._models = self._models, {}
        for model in models.values():
            model.close()
