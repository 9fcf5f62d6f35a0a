"""The backends by name: how each loads a model, and which checkpoint folders are its own.

Backend modules are imported only when one of their models loads (or a folder is recognised),
so the plugin starts without torch or transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import LoadedModel, VisionLanguageModel
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hub_access import HUB_BACKENDS, check_hub
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.models.trust import BACKENDS as REMOTE_CODE_BACKENDS
from pytest_vlm.models.trust import family_of_folder, require_opt_in

BACKEND_NAMES = ("hf", "vllm", "openai", "classifier", "scripted", *REMOTE_CODE_BACKENDS)


def _classifier_folder(path: Path) -> str | None:
    from pytest_vlm.models.classifier import is_classifier_folder

    return "classifier" if is_classifier_folder(path) else None


# Each backend that owns a kind of checkpoint folder recognises it from the folder's config.json;
# the first to claim a folder gets it, and every other folder is a transformers checkpoint.
FOLDER_RECOGNISERS: tuple[Callable[[Path], str | None], ...] = (family_of_folder, _classifier_folder)


def folder_backend(path: Path) -> str:
    """The backend of the checkpoint folder at ``path``."""
    return next((kind for recognise in FOLDER_RECOGNISERS if (kind := recognise(path))), "hf")


@contextmanager
def _no_loading_bars(spec: ModelSpec) -> Iterator[None]:
    """transformers' "Loading weights" bars off while a torch backend loads: pytest captures them,
    so they would only reach the report of every item that fails, as noise."""
    if spec.backend not in HUB_BACKENDS:
        yield
        return
    from transformers.utils import logging as transformers_logging

    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            transformers_logging.enable_progress_bar()


def load_model(spec: ModelSpec, runtime: RuntimeOptions) -> LoadedModel:
    """Load ``spec`` with its backend; a model that needs remote code is refused first unless allowed."""
    require_opt_in(spec)  # before any backend touches the checkpoint
    if spec.backend in REMOTE_CODE_BACKENDS:
        from pytest_vlm.models.remote_code_compat import refuse_incompatible_code

        refuse_incompatible_code(spec)  # published code that cannot run here: refused before the hub is asked
    check_hub(spec)  # a hub id without a reachable hub fails now, not after minutes of retries
    with _no_loading_bars(spec):
        return _load(spec, runtime)


def _load(spec: ModelSpec, runtime: RuntimeOptions) -> LoadedModel:
    if spec.backend in REMOTE_CODE_BACKENDS:
        from pytest_vlm.models.remote_code import load_remote_code_model

        return load_remote_code_model(spec, runtime)
    if spec.backend == "hf":
        from pytest_vlm.models.hf.model import HFModel

        return HFModel(spec, runtime)
    if spec.backend == "classifier":
        from pytest_vlm.models.classifier import load_classifier

        return load_classifier(spec, runtime)
    if spec.backend == "scripted":
        from pytest_vlm.models.scripted import ScriptedModel

        return ScriptedModel(spec.name, spec.source)
    if spec.backend == "vllm":
        from pytest_vlm.models.vllm import VLLMModel

        return VLLMModel(spec, runtime)
    if spec.backend == "openai":
        from pytest_vlm.models.openai_compat import OpenAICompatModel

        return OpenAICompatModel(spec, runtime.api)
    if spec.backend == "degraded" and spec.wraps is not None:
        from pytest_vlm.models.degraded import DegradedModel

        return DegradedModel(spec, cast(VisionLanguageModel, load_model(spec.wraps, runtime)))
    raise ModelError(f"model {spec.name}: unknown backend {spec.backend!r}")
