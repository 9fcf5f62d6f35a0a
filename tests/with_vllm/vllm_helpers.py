"""Shared by the vLLM tests: the closed-set prompts, and a benchmark run against tiny-shapes' baselines."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CLASSES = ("circle", "square", "triangle", "star", "cross", "heart", "background")
REPO = Path(__file__).resolve().parents[2]


def closed_set_requests(images: Sequence[Any], votes: int = 1, choices: bool = True) -> list[Any]:
    """The closed-set strategy's prompts (shuffled class orders) about ``images``."""
    from pytest_vlm.models.base import GenerationRequest
    from pytest_vlm.strategies.base import fill
    from pytest_vlm.strategies.closed_set import PROMPT, shuffled_order

    return [
        GenerationRequest(
            image,
            fill(PROMPT, "{classes}", ", ".join(shuffled_order(CLASSES, seed=0, image_id=image.id, vote=vote))),
            12,
            CLASSES if choices else (),
        )
        for image in images
        for vote in range(votes)
    ]


def run_benchmarks(model: str, report: Path, *extra: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The shipped classification benchmarks on ``model`` against tiny-shapes' baselines (the
    open-ended one belongs to tiny-shapes-open), in a subprocess (its own model pool); the JSON
    report's items by (benchmark, strategy). Fails with the run's output."""
    specs = ["benchmarks/shapes.vlm.yaml", "benchmarks/shapes-hard.vlm.yaml"]
    command = [sys.executable, "-m", "pytest", *specs, "-p", "no:randomly", "-p", "no:cacheprovider"]
    command += ["--vlm-model", model, "--vlm-baseline", "tiny-shapes", "--vlm-no-cache", "--vlm-json", str(report)]
    result = subprocess.run([*command, *extra], cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {(r["benchmark"], r["strategy"]): r for r in json.loads(report.read_text())["results"]}
