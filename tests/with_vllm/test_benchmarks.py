"""The shipped benchmarks on vLLM give the transformers backend's predictions: every baseline matches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_shipped_benchmarks_match_the_baselines_on_vllm(tmp_path: Path) -> None:
    report = tmp_path / "vllm.json"
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
            "vllm:tiny-shapes",
            "--vlm-baseline",
            "tiny-shapes",
            "--vlm-no-cache",
            "--vlm-json",
            str(report),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "VLLM_HOST_IP": "127.0.0.1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads(report.read_text())
    items = {(r["benchmark"], r["strategy"]): r for r in document["results"]}
    assert set(items) == {("shapes", s) for s in ("closed_set", "binary", "likelihood")} | {
        ("shapes-hard", s) for s in ("closed_set", "binary")
    }
    assert {key: (r["snapshot"], r["flips"]) for key, r in items.items()} == {key: ("matched", 0) for key in items}
    # The accuracies the shipped specs record for tiny-shapes on the transformers backend.
    accuracy = {
        s: round(items[("shapes", s)]["metrics"]["accuracy"], 3) for s in ("closed_set", "binary", "likelihood")
    }
    assert accuracy == {"closed_set": 0.977, "binary": 0.951, "likelihood": 0.977}
