"""A real vLLM OpenAI-compatible server on the embedded tiny-shapes, through pytest-vlm's OpenAI backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_vlm.data.sources import GeneratedImage
from pytest_vlm.models.aliases import TINY_SHAPES_DIR
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.openai_compat import OpenAICompatModel
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.strategies.base import fill
from pytest_vlm.strategies.closed_set import PROMPT, shuffled_order

REPO = Path(__file__).resolve().parents[2]
CLASSES = ("circle", "square", "triangle", "star", "cross", "heart", "background")


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
    report = tmp_path / "server.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks/",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--vlm-model",
            f"openai:tiny-shapes@{server_url}",
            "--vlm-baseline",
            "tiny-shapes",
            "--vlm-no-cache",
            "-k",
            "not likelihood",  # a chat-completions server returns no prompt log-probabilities
            "--vlm-json",
            str(report),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    items = {(r["benchmark"], r["strategy"]): r for r in json.loads(report.read_text())["results"]}
    assert set(items) == {(b, s) for b in ("shapes", "shapes-hard") for s in ("closed_set", "binary")}
    assert {key: (r["snapshot"], r["flips"]) for key, r in items.items()} == {key: ("matched", 0) for key in items}
    assert {r["model_info"]["concurrency"] for r in items.values()} == {32}


def test_choice_constraint_over_http(server_url: str) -> None:
    spec = ModelSpec("vllm-box", "openai", "tiny-shapes", options=(("choice_constraint", True), ("url", server_url)))
    constrained = OpenAICompatModel(spec)
    free = OpenAICompatModel(ModelSpec("free", "openai", "tiny-shapes", options=(("url", server_url),)))
    images = [GeneratedImage(f"img-{i}", CLASSES[i % 7], i, 4, CLASSES, "hard", 64) for i in range(42)]
    requests = [
        GenerationRequest(
            image,
            fill(PROMPT, "{classes}", ", ".join(shuffled_order(CLASSES, seed=0, image_id=image.id, vote=0))),
            12,
            CLASSES,
        )
        for image in images
    ]
    forced, answers = constrained.generate(requests), free.generate(requests)
    assert set(forced) <= set(CLASSES)
    # Where the free answer already was a class name, the constraint changes nothing.
    same = [f == a for f, a in zip(forced, answers) if a in CLASSES]
    assert len(same) > len(requests) // 2 and all(same)
