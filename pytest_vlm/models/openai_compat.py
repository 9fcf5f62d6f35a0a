"""The OpenAI-compatible backend: GPT-4o, or any server speaking ``POST /v1/chat/completions``
(vLLM, SGLang, TGI, ``transformers serve``).

Standard library only (urllib + a thread pool), so pointing pytest-vlm at a server needs no extra
package. Each request is one user turn: the image as a PNG data URL, then the prompt, answered
greedily (temperature 0, a fixed seed) in at most ``max_new_tokens`` tokens. The API key is read
from an environment variable and kept out of everything pytest-vlm writes: describe() (the JSON
report), snapshots, error messages and reprs.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import json
import os
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models import http_post
from pytest_vlm.models.base import GenerationRequest, ImageSource

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PREFIX = "openai:"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_MAX_RETRY_AFTER_S = 120.0
# Requests in flight by default. A self-hosted server (vLLM) batches whatever is in flight, so it
# needs many to fill its batches (docs/vllm.md: throughput vs concurrency); OpenAI's API rate-limits.
OPENAI_CONCURRENCY = 8
SERVER_CONCURRENCY = 32


@dataclass(frozen=True)
class ApiOptions:
    """How remote models are called (``--vlm-api-*`` / ``vlm_api_*``); ``None`` keeps each model's own."""

    base_url: str | None = None  # overrides the alias's base URL, not one written in the model name
    key_env: str | None = None  # overrides the alias's key variable
    concurrency: int | None = None  # None: 8 for api.openai.com (its rate limits), 32 for other servers
    max_image_side: int | None = None  # downscale larger images to this longest side before sending
    timeout_s: float = 120.0  # the whole request, connect to last byte, per attempt
    retries: int = 4  # further attempts after a 429, a 5xx, a timeout or a dropped connection
    backoff_s: float = 1.0  # first wait; doubles per attempt, capped at max_backoff_s
    max_backoff_s: float = 30.0


def parse_model_name(name: str) -> tuple[str, str | None]:
    """``openai:MODEL`` or ``openai:MODEL@URL`` -> (MODEL, URL or None).

    The URL is what follows the last ``@http://`` or ``@https://``, so model names that hold an
    ``@`` themselves (``repo@revision``) still parse.
    """
    rest = name.removeprefix(PREFIX).strip()
    cut = max(rest.rfind("@http://"), rest.rfind("@https://"))
    model, url = (rest[:cut], rest[cut + 1 :]) if cut >= 0 else (rest, None)
    if not model:
        raise ModelError(
            f"model {name!r}: no model name after 'openai:'; write openai:MODEL or openai:MODEL@http://HOST:PORT/v1"
        )
    if url is not None:
        check_url(url, f"model {name!r}")
    return model, url


def check_url(url: str, where: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ModelError(
            f"{where}: {url!r} is not an http(s) URL; give the server's base URL, e.g. http://HOST:8000/v1"
        )


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment: what may appear in reports and messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class _Secret:
    """The API key; its repr never shows it (tracebacks with --showlocals print reprs)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    def redact(self, text: str) -> str:
        return text.replace(self.value, "<redacted>") if self.value else text

    def headers(self) -> dict[str, Any]:
        headers: dict[str, Any] = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.value:
            headers["Authorization"] = http_post.Bearer(self.value)  # encoded by http.client, never a str here
        return headers


class _Retryable(Exception):
    """One attempt failed in a way worth retrying; ``wait_s`` is the server's Retry-After, if any.

    ``kind``: ``http`` (429, 408, 5xx), or a :class:`~pytest_vlm.models.http_post.TransportError` kind.
    """

    def __init__(self, reason: str, kind: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.wait_s = wait_s


class OpenAICompatModel:
    """A model behind an OpenAI-compatible chat-completions endpoint."""

    def __init__(self, spec: Any, api: ApiOptions | None = None) -> None:
        api = api or ApiOptions()
        options = dict(getattr(spec, "options", None) or {})
        self.name = spec.name
        self.model = spec.source
        self.api = api
        url = options.get("url") or api.base_url or options.get("base_url") or OPENAI_BASE_URL
        check_url(url, f"model {spec.name}")
        self.base_url = url.rstrip("/")
        self.key_env = api.key_env or options.get("api_key_env") or DEFAULT_KEY_ENV
        self._key = _Secret(os.environ.get(self.key_env, "").strip())
        if not re.fullmatch(r"[\x21-\x7e]*", self._key.value):
            # http.client would refuse it with a ValueError quoting the whole header.
            raise ModelError(
                f"model {spec.name}: {self.key_env} holds a space, a line break or a non-ASCII character, "
                "which an HTTP header cannot carry; set it to the key alone"
            )
        if not self._key.value and urllib.parse.urlsplit(self.base_url).hostname == "api.openai.com":
            raise ModelError(
                f"model {spec.name}: {self.key_env} is not set; the OpenAI API needs a key. "
                f"Export {self.key_env}=... (pytest-vlm reads it from the environment only and never writes it)"
            )
        host = urllib.parse.urlsplit(self.base_url).hostname
        self.concurrency = api.concurrency or (OPENAI_CONCURRENCY if host == "api.openai.com" else SERVER_CONCURRENCY)
        # A loopback server is never reached through a proxy from http_proxy/https_proxy.
        self._direct = urllib.parse.urlsplit(self.base_url).hostname in _LOOPBACK
        self._images: OrderedDict[str, str] = OrderedDict()
        self._images_lock = threading.Lock()
        self.max_image_side = api.max_image_side or options.get("max_image_side")
        # vLLM's structured outputs: the answer must be one of the request's choices (changes answers
        # the free text would have left unreadable, so only on request).
        self.choice_constraint = bool(options.get("choice_constraint", False))

    # --- the protocol -------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Answers in request order; identical requests are sent once, at most ``concurrency`` at a time.

        Bodies are built in the worker threads, so at most ``concurrency`` encoded images beyond
        the cache are alive at once. The first request that fails for good stops the others.
        """
        unique: dict[tuple[str, str, int, tuple[str, ...]], GenerationRequest] = {}
        for request in requests:
            unique.setdefault(_key(request), request)
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(unique)))) as pool:
            futures = [pool.submit(self._complete, r, i, stop) for i, r in enumerate(unique.values())]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                stop.set()
                for future in futures:
                    future.cancel()
                raise failed.exception()  # type: ignore[misc]
        by_key = dict(zip(unique, (future.result() for future in futures)))
        return [by_key[_key(request)] for request in requests]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "model": self.model,
            "base_url": public_url(self.base_url),
            "api_key_env": self.key_env,
            "api_key_set": bool(self._key.value),
            "concurrency": self.concurrency,
            "max_image_side": self.max_image_side,
            "choice_constraint": self.choice_constraint,
            "timeout_s": self.api.timeout_s,
            "retries": self.api.retries,
        }

    def close(self) -> None:
        self._images.clear()

    def __repr__(self) -> str:
        return f"OpenAICompatModel({self.model!r} at {public_url(self.base_url)})"

    # --- one request --------------------------------------------------------------------------

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        content = [
            {"type": "image_url", "image_url": {"url": self._data_url(request.image)}},
            {"type": "text", "text": request.prompt},
        ]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": request.max_new_tokens,
            "temperature": 0,
            "seed": 0,
            "stream": False,
        }
        if self.choice_constraint and request.choices:
            body["structured_outputs"] = {"choice": list(request.choices)}
        return body

    def _data_url(self, source: ImageSource) -> str:
        """The decoded image as PNG: lossless, so the server sees the pixels an in-process model sees;
        with ``max_image_side``, larger images are first downscaled to it (a server's size limit).

        Cached by image id (K votes or n-1 questions about one image encode it once); two threads
        may both encode an image that is not cached yet, which costs time, not correctness.
        """
        with self._images_lock:
            if source.id in self._images:
                self._images.move_to_end(source.id)
                return self._images[source.id]
        buffer = io.BytesIO()
        picture = source.load()
        if self.max_image_side and max(picture.size) > self.max_image_side:
            from PIL import Image

            picture = picture.copy()  # thumbnail() works in place, keeps the aspect ratio, never enlarges
            picture.thumbnail((self.max_image_side, self.max_image_side), Image.Resampling.LANCZOS)
        picture.save(buffer, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        with self._images_lock:
            self._images[source.id] = url
            if len(self._images) > 256:
                self._images.popitem(last=False)
        return url

    def _complete(self, request: GenerationRequest, index: int, stop: threading.Event) -> str:
        """POST one request, retrying 429s, 5xx, timeouts and dropped connections with backoff."""
        if stop.is_set():
            return ""  # another request failed for good: its error is the one reported
        body = self._body(request)
        attempts = self.api.retries + 1
        for attempt in range(attempts):
            try:
                return self._post(body, request.max_new_tokens)
            except _Retryable as exc:
                if attempt + 1 == attempts:
                    raise self._gave_up(exc, attempts) from None
                if stop.wait(self._wait_s(exc.wait_s, attempt, index)):
                    break  # another request failed for good: its error is the one reported
        return ""

    def _wait_s(self, retry_after: float | None, attempt: int, index: int) -> float:
        """The server's Retry-After when it gives one, else exponential backoff with jitter.

        The jitter spreads concurrent retries apart; it comes from sha256 of the request's index
        and the attempt, so a run's waits are reproducible.
        """
        if retry_after is not None:
            return min(retry_after, _MAX_RETRY_AFTER_S)
        digest = hashlib.sha256(f"{index}:{attempt}".encode()).digest()
        jitter = int.from_bytes(digest[:8], "big") / 2**64
        return min(self.api.max_backoff_s, self.api.backoff_s * 2**attempt) * (0.5 + 0.5 * jitter)

    def _post(self, body: dict[str, Any], max_new_tokens: int) -> str:
        """One attempt. Every failure is raised outside an ``except`` block, so no traceback chain
        keeps frames of the HTTP exchange (whose locals hold the request's headers) alive."""
        failure: Exception
        try:
            reply = http_post.post(
                self.base_url + "/chat/completions",
                json.dumps(body).encode(),
                self._key.headers(),
                timeout_s=self.api.timeout_s,
                direct=self._direct,
            )
        except http_post.TransportError as exc:
            failure = _Retryable(self._key.redact(exc.reason), exc.kind)
        except http_post.ResponseTooLarge as exc:
            failure = ModelError(
                f"model {self.name}: {public_url(self.base_url)} sent a reply of more than "
                f"{http_post.MAX_RESPONSE_BYTES // 2**20} MiB ({exc.size:,} bytes, answering max_tokens="
                f"{max_new_tokens}); pytest-vlm stops reading there. Is the server ignoring max_tokens?"
            )
        else:
            if reply.status >= 300:
                raise self._http_error(reply)
            return self._answer(reply.body, max_new_tokens)
        raise failure

    def _answer(self, payload: bytes, max_new_tokens: int) -> str:
        try:
            content = json.loads(payload)["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
            raise ModelError(
                f"model {self.name}: {public_url(self.base_url)} answered without choices[0].message "
                f"(got {self._key.redact(payload[:300].decode('utf-8', 'replace'))!r}); "
                "is this an OpenAI-compatible /v1 endpoint?"
            ) from None
        if isinstance(content, list):  # some servers return content parts
            texts = [part.get("text", "") for part in content if isinstance(part, dict)]
            if all(isinstance(text, str) for text in texts):
                content = "".join(texts)
        if content is not None and not isinstance(content, str):
            raise ModelError(
                f"model {self.name}: {public_url(self.base_url)} answered with choices[0].message.content "
                f"{self._key.redact(json.dumps(content)[:200])}, which is neither text nor a list of text parts; "
                "is this an OpenAI-compatible /v1 endpoint?"
            )
        return _at_most(self._key.redact((content or "").strip()), max_new_tokens)

    def _http_error(self, reply: http_post.Reply) -> Exception:
        code = reply.status
        detail = self._key.redact(reply.body[:500].decode("utf-8", "replace").strip())
        where = f"model {self.name}: {public_url(self.base_url)}"
        if code in (429, 408) or code >= 500:
            return _Retryable(f"HTTP {code} {detail}".strip(), "http", _retry_after(reply.headers.get("Retry-After")))
        if code in (401, 403):
            # Not the body: OpenAI's 401 body quotes part of the key.
            state = f"the key in {self.key_env} was refused" if self._key.value else f"{self.key_env} is not set"
            return ModelError(
                f"{where} refused the request (HTTP {code}): {state}. "
                f"Set {self.key_env} to a valid API key (read from the environment only; never written anywhere)"
            )
        if code == 404:
            return ModelError(
                f"{where} has no model {self.model!r} or no /chat/completions (HTTP 404: {detail or 'not found'}). "
                f"Check the model name (GET {public_url(self.base_url)}/models lists the server's models) "
                "and that the base URL ends in /v1"
            )
        return ModelError(f"{where} rejected the request for {self.model!r} (HTTP {code}): {detail or reply.reason}")

    def _gave_up(self, exc: _Retryable, attempts: int) -> ModelError:
        where = f"model {self.name}: {public_url(self.base_url)}"
        if exc.kind == "timeout":
            hint = "raise --vlm-api-timeout, or lower --vlm-api-concurrency if the server is overloaded"
        elif exc.kind == "http":
            hint = "the server is overloaded or failing; lower --vlm-api-concurrency or raise --vlm-api-retries"
        elif exc.kind == "broken":
            hint = "the server or a proxy on the way cut or garbled its replies; check its logs"
        else:
            hint = "is the server running, and is the base URL right?"
        return ModelError(f"{where} failed {attempts} attempt(s), the last with: {exc.reason}. {hint}")


def _key(request: GenerationRequest) -> tuple[str, str, int, tuple[str, ...]]:
    return (request.image.id, request.prompt, request.max_new_tokens, request.choices)


def _at_most(text: str, max_new_tokens: int) -> str:
    """The answer cut to ``max_new_tokens`` words and 128 characters a token.

    A server that ignores ``max_tokens`` must not make answers (and the reports and caches that
    keep them) longer than an in-process model's. Both bounds are generous: the tokenisers of
    VLMs split words apart before merging, so each word costs at least one token.
    """
    text = text[: max_new_tokens * 128]
    words = re.match(rf"\s*(?:\S+\s*){{0,{max_new_tokens}}}", text)
    return words.group(0).rstrip() if words else text


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
