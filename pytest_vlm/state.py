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
# What each collected spec and item has claimed (benchmark names, node ids, baseline files), to
# refuse a second claim at collection instead of merging two tests into one report row or file.
CLAIMS_KEY = pytest.StashKey[dict[str, str]]()
