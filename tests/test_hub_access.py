"""A hub model without a reachable hub fails at once, and says how to make such runs fail at once."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_vlm.models.hub_access import unreachable

SPEC = "dataset: {generated: shapes, count: 6}\nstrategies: [closed_set]\nsnapshot: false\n"


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port: int) -> Path:
    """The hub library pointed at a refused port with an empty cache (it reads both when imported)."""
    from huggingface_hub import constants

    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    unreachable.cache_clear()
    return tmp_path / "hub"


def test_a_refused_hub_is_unreachable_and_a_listening_one_is_not(closed_port: int, listening_port: int) -> None:
    unreachable.cache_clear()
    assert unreachable(f"http://127.0.0.1:{closed_port}") == f"127.0.0.1:{closed_port}: Connection refused"
    assert unreachable(f"http://127.0.0.1:{listening_port}") is None


def test_an_unreachable_hub_proxy_counts(
    monkeypatch: pytest.MonkeyPatch, closed_port: int, listening_port: int
) -> None:
    unreachable.cache_clear()
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{closed_port}")
    assert unreachable("https://hub.example") == f"127.0.0.1:{closed_port}: Connection refused"


def test_a_hub_model_fails_at_once_without_the_hub(
    pytester: pytest.Pytester, offline_hub: Path, closed_port: int
) -> None:
    pytester.makefile(".vlm.yaml", hub=SPEC)
    start = time.monotonic()
    result = pytester.runpytest("--vlm-model", "qwen2-vl-2b")
    assert time.monotonic() - start < 30  # huggingface_hub's own retries took about three minutes
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"cannot load model qwen2-vl-2b from Qwen/Qwen2-VL-2B-Instruct: the Hugging Face hub (http://127.0.0.1:{closed_port}) "
            f"cannot be reached (127.0.0.1:{closed_port}: Connection refused), and the model is not in the local cache "
            f"({offline_hub}). Download it where the hub is reachable (hf download Qwen/Qwen2-VL-2B-Instruct) and copy "
            "the cache (HF_HOME), or point --vlm-model at a checkpoint folder. With HF_HUB_OFFLINE=1, a run without "
            "network fails at once.",
        ]
    )


def test_a_cached_hub_model_is_told_to_go_offline(pytester: pytest.Pytester, offline_hub: Path) -> None:
    commit = "0" * 40
    repo = offline_hub / "models--Qwen--Qwen2-VL-2B-Instruct"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    pytester.makefile(".vlm.yaml", hub=SPEC)
    result = pytester.runpytest("--vlm-model", "qwen2-vl-2b")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "cannot load model qwen2-vl-2b from Qwen/Qwen2-VL-2B-Instruct: the Hugging Face hub (*) cannot be reached "
            f"(*). The model is in the local cache ({offline_hub}): run with HF_HUB_OFFLINE=1 to load it from there "
            "without trying the network."
        ]
    )
