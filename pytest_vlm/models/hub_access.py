"""Fail at once when a hub model cannot load because the Hugging Face hub is out of reach.

Without network, huggingface_hub retries every file request with back-off: a hub id that is not in
the local cache took about three minutes to fail. One short connection attempt to the hub (or to the
HTTPS proxy, when one is set) tells first; with ``HF_HUB_OFFLINE=1`` the libraries never try the
network, and this check steps aside.
"""

from __future__ import annotations

import functools
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from urllib.parse import urlsplit

from pytest_vlm.errors import ModelError
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.models.trust import BACKENDS as REMOTE_CODE_BACKENDS

HUB_BACKENDS = ("hf", "classifier", *REMOTE_CODE_BACKENDS)  # the backends that load a source from the hub
OFFLINE = "HF_HUB_OFFLINE=1"
PROBE_SECONDS = 5.0


def _connect(host: str, port: int, timeout: float) -> None:
    socket.create_connection((host, port), timeout=timeout).close()


@functools.cache
def unreachable(endpoint: str, timeout: float = PROBE_SECONDS) -> str | None:
    """Why ``endpoint`` (or the HTTPS proxy in the environment) cannot be connected to, or None.
    Name resolution counts against ``timeout`` too: it runs in a thread given that long."""
    proxy = urllib.request.getproxies().get(urlsplit(endpoint).scheme)
    target = urlsplit(proxy or endpoint)
    host, port = target.hostname or "", target.port or (443 if target.scheme == "https" else 80)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(_connect, host, port, timeout).result(timeout=timeout + 1)
    except FutureTimeout:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    finally:
        pool.shutdown(wait=False)
    return None


def check_hub(spec: ModelSpec) -> None:
    """Raise ModelError at once when ``spec`` is a hub id that cannot load because the hub is out of reach."""
    if spec.backend not in HUB_BACKENDS or Path(spec.source).expanduser().is_dir():
        return
    from huggingface_hub import constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE:
        return  # the libraries use the cache only and fail at once by themselves
    problem = unreachable(constants.ENDPOINT)
    if problem is None:
        return
    hub = f"the Hugging Face hub ({constants.ENDPOINT}) cannot be reached ({problem})"
    where = f"cannot load model {spec.name} from {spec.source}: {hub}"
    if isinstance(try_to_load_from_cache(spec.source, "config.json", revision=spec.revision), str):
        raise ModelError(
            f"{where}. The model is in the local cache ({constants.HF_HUB_CACHE}): run with {OFFLINE} "
            "to load it from there without trying the network."
        )
    raise ModelError(
        f"{where}, and the model is not in the local cache ({constants.HF_HUB_CACHE}). Download it where the "
        f"hub is reachable (hf download {spec.source}) and copy the cache (HF_HOME), or point --vlm-model at "
        f"a checkpoint folder. With {OFFLINE}, a run without network fails at once."
    )
