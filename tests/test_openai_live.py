"""The OpenAI-compatible backend against a live ``transformers serve`` on 127.0.0.1.

The server process hosts the embedded tiny-shapes checkpoint (see serve_image_only.py for the one
adaptation: its processor loads image-only, since there is no torchvision). The same benchmark
then runs in-process (transformers backend) and through the server; both decode greedily, so every
answer must be identical. The run also proves the API key never reaches a report, a snapshot or
the terminal.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import pytest_vlm
from pytest_vlm.models.aliases import TINY_SHAPES_DIR

pytest.importorskip("fastapi", reason="the live server needs transformers[serving]: pip install -e '.[test]'")
pytest.importorskip("uvicorn", reason="the live server needs transformers[serving]: pip install -e '.[test]'")

# pytester's in-process runs unload what each inner run imported; PIL's format plugins register
# themselves in PIL.Image on import, so load them all here, once (else saving a PNG fails).
Image.init()

SECRET = "sk-live-test-NEVER-WRITE-ME-4c1d"
SPEC = """
dataset:
  generated: shapes
  count: 14
  seed: 11
  difficulty: hard
classes: [circle, square, triangle, star, cross, heart, background]
background: background
strategies:
  closed_set:
    votes: 1
  binary: {}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a ``transformers serve`` process hosting tiny-shapes as model ``tiny-shapes``."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    root = str(Path(pytest_vlm.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    env.pop("OPENAI_API_KEY", None)
    script = Path(__file__).with_name("serve_image_only.py")
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        # Run from the checkpoint's parent so the served model is called plain "tiny-shapes".
        process = subprocess.Popen(
            [sys.executable, str(script), TINY_SHAPES_DIR.name, str(port)],
            cwd=TINY_SHAPES_DIR.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - start > 180:
                pytest.fail(f"transformers serve not ready after 180 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        print(f"transformers serve ready in {time.perf_counter() - start:.1f} s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(report: dict[str, Any]) -> dict[str, list[tuple[str, str, list[str], str]]]:
    """Per strategy: every image's label, raw answers and final prediction, by image id."""
    return {
        item["strategy"]: sorted((p["image_id"], p["label"], p["raw"], p["prediction"]) for p in item["predictions"])
        for item in report["results"]
    }


def test_server_answers_equal_the_in_process_backend(
    pytester: pytest.Pytester, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # sent to the server, which ignores it
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    local = pytester.runpytest("--vlm-model", "tiny-shapes", "--vlm-json", "local.json", "--vlm-update-snapshots")
    local.assert_outcomes(passed=2)
    start = time.perf_counter()
    remote = pytester.runpytest(
        "--vlm-model",
        f"openai:tiny-shapes@{live_server}",
        "--vlm-api-concurrency",
        "4",
        "--vlm-json",
        "remote.json",
        "--vlm-update-snapshots",
    )
    seconds = time.perf_counter() - start
    remote.assert_outcomes(passed=2)
    remote.stdout.fnmatch_lines(["*openai:tiny-shape*closed_set*passed*recorded*"])

    local_report = json.loads((pytester.path / "local.json").read_text())
    remote_report = json.loads((pytester.path / "remote.json").read_text())
    local_answers, remote_answers = _answers(local_report), _answers(remote_report)
    assert set(remote_answers) == {"closed_set", "binary"}
    assert remote_answers == local_answers
    closed_set = remote_answers["closed_set"]
    assert len({p for *_, p in closed_set}) >= 4, "one answer everywhere would prove little"
    assert any(label != p for _, label, _, p in closed_set), "mistakes too: equal when wrong, not just when right"
    info = remote_report["results"][0]["model_info"]
    assert (info["backend"], info["model"], info["api_key_set"]) == ("openai", "tiny-shapes", True)
    print(f"remote run: {seconds:.1f} s")

    written = [pytester.path / "remote.json", *(pytester.path / "__vlm_snapshots__").rglob("*.json")]
    assert len(written) == 5  # the report and both models' two baselines
    for path in written:
        assert SECRET not in path.read_text(), path
    for output in (remote.stdout.str(), remote.stderr.str()):
        assert SECRET not in output
