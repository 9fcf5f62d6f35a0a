"""The OpenAI-compatible client against a hostile server: a raw socket on 127.0.0.1 that drips,
truncates, garbles its status line, floods, sends odd JSON or echoes the API key.

http.server cannot misbehave at the byte level, so each reply here is written by hand to a real
socket; the client's HTTP stack, retries and messages run for real.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_openai_compat import SPEC, ask

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.openai_compat import ApiOptions, OpenAICompatModel
from pytest_vlm.models.resolve import resolve_model

KEY = "sk-hostile-0123456789abcdefSECRET"
KEY_ENV = "PYTEST_VLM_HOSTILE_KEY"

Script = Callable[[socket.socket], None]


def completion(text: Any) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()


def ok(body: bytes) -> Script:
    def send(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        conn.sendall(body)

    return send


def answer(text: Any) -> Script:
    return ok(completion(text))


def truncated(conn: socket.socket) -> None:
    body = completion("circle")
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])


def bad_status_line(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}")


def drip(conn: socket.socket) -> None:
    """A 200 whose headers arrive one byte every 50 ms: each read succeeds, the answer never ends."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"z" * 400:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def flood(declare: bool) -> Script:
    size = 5 * 2**20

    def send(conn: socket.socket) -> None:
        length = b"Content-Length: %d\r\n" % size if declare else b"Connection: close\r\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + length + b"\r\n")
        for _ in range(size // 2**16):
            conn.sendall(b"x" * 2**16)

    return send


class RawServer:
    """Each connection gets the next scripted reply (the last one repeats), after its request is read."""

    def __init__(self) -> None:
        self.script: list[Script] = [answer("circle")]
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            with self._lock:
                self.connections += 1
                reply = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            threading.Thread(target=self._handle, args=(conn, reply), daemon=True).start()

    @staticmethod
    def _handle(conn: socket.socket, reply: Script) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            while len(body) < length:
                body += conn.recv(65536)
            try:
                reply(conn)
            except OSError:
                pass  # the client gave up and left

    def model(self, **api: Any) -> OpenAICompatModel:
        options = {"key_env": KEY_ENV, "backoff_s": 0.01, "max_backoff_s": 0.02, "retries": 2, "timeout_s": 5.0, **api}
        return OpenAICompatModel(resolve_model(f"openai:served@{self.url}", base_dir=Path.cwd()), ApiOptions(**options))


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.sock.close()


def test_a_dripping_server_meets_the_overall_deadline(raw: RawServer) -> None:
    raw.script = [drip]
    start = time.perf_counter()
    with pytest.raises(ModelError) as excinfo:
        raw.model(timeout_s=0.5, retries=1).generate([ask()])
    assert time.perf_counter() - start < 2.5  # two attempts of 0.5 s each; the drip alone lasts 20 s
    assert str(excinfo.value) == (
        f"model openai:served: {raw.url} failed 2 attempt(s), the last with: no answer within 0.5 s. "
        "raise --vlm-api-timeout, or lower --vlm-api-concurrency if the server is overloaded"
    )


@pytest.mark.parametrize("broken", [truncated, bad_status_line], ids=["truncated-body", "bad-status-line"])
def test_broken_replies_are_retried(raw: RawServer, broken: Script) -> None:
    raw.script = [broken, answer("star")]
    assert raw.model().generate([ask()]) == ["star"]
    assert raw.connections == 2


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (truncated, "truncated reply (10 bytes, 60 more expected)"),
        (bad_status_line, "malformed reply (status line 'HTTP/1.1 2x0 OK')"),
    ],
    ids=["truncated-body", "bad-status-line"],
)
def test_broken_replies_end_in_one_clear_message(raw: RawServer, broken: Script, reason: str) -> None:
    raw.script = [broken]
    with pytest.raises(ModelError) as excinfo:
        raw.model().generate([ask()])
    message = str(excinfo.value)
    assert message.startswith(f"model openai:served: {raw.url} failed 3 attempt(s), the last with: {reason}")
    assert message.endswith("the server or a proxy on the way cut or garbled its replies; check its logs")
    assert raw.connections == 3


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "streamed"])
def test_replies_over_the_size_cap_are_refused(raw: RawServer, declare: bool) -> None:
    raw.script = [flood(declare)]
    with pytest.raises(ModelError, match=r"sent a reply of more than 4 MiB \([\d,]+ bytes, answering max_tokens=7\); "):
        raw.model().generate([ask()])
    assert raw.connections == 1  # not retried: it would only say the same again


@pytest.mark.parametrize(
    ("content", "shown"),
    [(42, "42"), ([{"type": "text", "text": 5}], '[{"type": "text", "text": 5}]'), ({"a": 1}, '{"a": 1}')],
)
def test_content_that_is_not_text_is_a_clear_error(raw: RawServer, content: Any, shown: str) -> None:
    raw.script = [answer(content)]
    with pytest.raises(ModelError) as excinfo:
        raw.model().generate([ask()])
    assert str(excinfo.value) == (
        f"model openai:served: {raw.url} answered with choices[0].message.content {shown}, "
        "which is neither text nor a list of text parts; is this an OpenAI-compatible /v1 endpoint?"
    )


def test_text_parts_are_joined(raw: RawServer) -> None:
    raw.script = [answer([{"type": "text", "text": "red "}, {"type": "text", "text": "circle"}])]
    assert raw.model().generate([ask()]) == ["red circle"]


def test_max_tokens_is_enforced_on_our_side(raw: RawServer) -> None:
    raw.script = [answer("circle " * 10_000)]  # a server ignoring max_tokens=7
    assert raw.model().generate([ask()]) == [" ".join(["circle"] * 7)]
    raw.script = [answer("x" * 10_000)]
    assert raw.model().generate([ask()]) == ["x" * 7 * 128]
    raw.script = [answer("  a circle,\n  then more")]  # within the limit: untouched but for the ends
    assert raw.model().generate([GenerationRequest(ask().image, "q", 8)]) == ["a circle,\n  then more"]


def test_a_key_echoed_in_an_answer_is_redacted(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    raw.script = [answer(f"circle {KEY}")]
    assert raw.model().generate([ask()]) == ["circle <redacted>"]


def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY + "\nX-Evil: 1")
    with pytest.raises(ModelError) as excinfo:
        _unstarted().model(retries=0)
    assert str(excinfo.value) == (
        f"model openai:served: {KEY_ENV} holds a space, a line break or a non-ASCII character, "
        "which an HTTP header cannot carry; set it to the key alone"
    )


def _unstarted() -> RawServer:
    server = RawServer.__new__(RawServer)
    server.url = "http://127.0.0.1:9/v1"
    return server


def _frames(exc: BaseException | None) -> Iterator[dict[str, Any]]:
    while exc is not None:
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            yield frame.f_locals
        exc = exc.__cause__ or exc.__context__


@pytest.mark.parametrize(
    "broken", [truncated, bad_status_line, drip], ids=["truncated-body", "bad-status-line", "drip"]
)
def test_no_frame_of_a_failed_request_holds_the_key(
    raw: RawServer, broken: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``pytest -l`` would print: the reprs of every local in every frame of the error's chain."""
    monkeypatch.setenv(KEY_ENV, KEY)
    raw.script = [broken]
    with pytest.raises(ModelError) as excinfo:
        raw.model(retries=0, timeout_s=0.3).generate([ask()])
    shown = [repr(value) for local in _frames(excinfo.value) for value in local.values()]
    assert shown  # the walk saw frames
    assert not [text for text in shown if KEY in text]


@pytest.mark.parametrize("broken", [truncated, bad_status_line], ids=["truncated-body", "bad-status-line"])
def test_showlocals_junit_and_json_never_hold_the_key(
    pytester: pytest.Pytester, raw: RawServer, broken: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    raw.script = [broken]
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest(
        "--vlm-model", f"openai:served@{raw.url}", "--vlm-api-retries", "0", "-l", "--tb=long",
        "--junitxml", "junit.xml", "--vlm-json", "out.json",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*shapes: openai:served / closed_set*", "model openai:served: *failed 1 attempt(s), the last with: * reply (*"]
    )
    written = result.stdout.str() + result.stderr.str()
    written += (pytester.path / "junit.xml").read_text() + (pytester.path / "out.json").read_text()
    assert KEY not in written


def test_a_key_echoed_in_answers_never_reaches_the_json_report(
    pytester: pytest.Pytester, raw: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    raw.script = [answer(f"circle, says {KEY}")]
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest(
        "--vlm-model", f"openai:served@{raw.url}", "--vlm-json", "out.json", "--vlm-update-snapshots"
    )
    result.assert_outcomes(passed=1)
    report = (pytester.path / "out.json").read_text()
    assert "circle, says <redacted>" in report
    assert KEY not in report
    assert not [p for p in pytester.path.rglob("*.json") if KEY in p.read_text()]
