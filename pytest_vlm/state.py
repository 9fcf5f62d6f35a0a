"""Per-session state, kept in ``config.stash`` under these keys."""

from __future__ import annotations

import pytest

from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.options import VlmOptions
from pytest_vlm.results import ItemResult

OPTIONS_KEY = pytest.StashKey[VlmOptions]()
CLI_MODELS_KEY = pytest.StashKey[list[ModelSpec]]()  # --vlm-model / vlm_models, resolved once
RESULTS_KEY = pytest.StashKey[list[ItemResult]]()  # this process's items; the controller's merged
BASELINE_MODEL_KEY = pytest.StashKey[ModelSpec]()  # --vlm-baseline, resolved once
