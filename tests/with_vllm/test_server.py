"""A real vLLM OpenAI-compatible server on the embedded tiny-shapes, through pytest-vlm's OpenAI backend."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from vllm_helpers import CLASSES, closed_set_requests, run_benchmarks

from pytest_vlm.data.sources import GeneratedImage
from pytest_vlm.models.aliases import TINY_SHAPES_DIR
from pytest_vlm.models.openai_compat import OpenAICompatModel
from pytest_vlm.models.spec import ModelSpec


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from pytest_vlm.models.vllm import _staged_checkpoint
    from pytest_vlm.models.vllm_server import vllm_server

    staged = _staged_checkpoint(str(TINY_SHAPES_DIR))  # the video processor config torchvision needs
    folder = str(staged or TINY_SHAPES_DIR)
    try:
        with vllm_server(folder, "tiny-shapes", log=tmp_path_factory.mktemp("server") / "vllm.log") as url:
            yield url
    finally:
        if staged is not None:
            shutil.rmtree(staged)


def test_shipped_benchmarks_through_the_server_match_the_baselines(server_url: str, tmp_path: Path) -> None:
    # A chat-completions server returns no prompt log-probabilities: likelihood runs in-process only.
    items = run_benchmarks(f"openai:tiny-shapes@{server_url}", tmp_path / "server.json", "-k", "not likelihood")
    assert set(items) == {(b, s) for b in ("shapes", "shapes-hard") for s in ("closed_set", "binary")}
    assert {key: (r["snapshot"], r["flips"]) for key, r in items.items()} == {key: ("matched", 0) for key in items}
    assert {r["model_info"]["concurrency"] for r in items.values()} == {32}


def test_choice_constraint_over_http(server_url: str) -> None:
    spec = ModelSpec("vllm-box", "openai", "tiny-shapes", options=(("choice_constraint", True), ("url", server_url)))
    constrained = OpenAICompatModel(spec)
    free = OpenAICompatModel(ModelSpec("free", "openai", "tiny-shapes", options=(("url", server_url),)))
    requests = closed_set_requests(
        [GeneratedImage(f"img-{i}", CLASSES[i % 7], i, 4, CLASSES, "hard", 64) for i in range(42)]
    )
    forced, answers = constrained.generate(requests), free.generate(requests)
    assert set(forced) <= set(CLASSES)
    # Where the free answer already was a class name, the constraint changes nothing.
    same = [f == a for f, a in zip(forced, answers) if a in CLASSES]
    assert len(same) > len(requests) // 2 and all(same)
