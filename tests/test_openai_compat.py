"""The OpenAI-compatible client against a scripted HTTP server on 127.0.0.1.

The server is real (http.server on a socket, in a thread); only its answers are scripted, so the
client's HTTP, retries, backoff, timeouts and error messages run for real. The live
``transformers serve`` comparison is in test_openai_live.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pytest_vlm.data.sources import GeneratedImage
from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.openai_compat import ApiOptions, OpenAICompatModel, _retry_after, parse_model_name, public_url
from pytest_vlm.models.pool import load_model
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.spec import ModelSpec

KEY = "sk-test-0123456789abcdefSECRET"
KEY_ENV = "PYTEST_VLM_TEST_KEY"
FAST = ApiOptions(key_env=KEY_ENV, backoff_s=0.01, max_backoff_s=0.05, retries=2, timeout_s=5)


@dataclass
class Reply:
    status: int = 200
    answer: str = "circle"
    body: bytes | None = None  # raw body instead of a completion
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class ScriptedServer:
    """Answers each POST with the next scripted reply (the last one repeats); records what it got."""

    def __init__(self) -> None:
        self.script: list[Reply] = [Reply()]
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append((dict(self.headers), body))
                    reply = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(reply.delay_s)
                with server._lock:  # before answering: the client may send its next request at once
                    server.in_flight -= 1
                try:
                    payload = reply.body
                    if payload is None and reply.status == 200:
                        text = reply.answer.replace("{prompt}", body["messages"][0]["content"][1]["text"])
                        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]})
                        payload = payload.encode()
                    payload = payload or b'{"error": {"message": "scripted"}}'
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def model(self, api: ApiOptions = FAST, name: str = "served") -> OpenAICompatModel:
        return OpenAICompatModel(resolve_model(f"openai:{name}@{self.url}", base_dir=Path.cwd()), api)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def image(i: int = 0) -> GeneratedImage:
    from pytest_vlm.data import shapes

    label = shapes.SHAPES[i % 6]
    return GeneratedImage(shapes.sample_id(label, 5, i), label, i, 5, shapes.SHAPES, "medium", 64)


def ask(i: int = 0, prompt: str = "What shape?") -> GenerationRequest:
    return GenerationRequest(image(i), prompt, max_new_tokens=7)


def test_request_is_one_user_turn_image_then_text_greedy(server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    server.script = [Reply(answer="  circle \n")]
    assert server.model().generate([ask()]) == ["circle"]
    headers, body = server.requests[0]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert {k: body[k] for k in ("model", "max_tokens", "temperature", "seed", "stream")} == {
        "model": "served",
        "max_tokens": 7,
        "temperature": 0,
        "seed": 0,
        "stream": False,
    }
    (message,) = body["messages"]
    assert message["role"] == "user"
    picture, text = message["content"]
    assert text == {"type": "text", "text": "What shape?"}
    assert picture["type"] == "image_url"
    prefix = "data:image/png;base64,"
    assert picture["image_url"]["url"].startswith(prefix)
    sent = Image.open(io.BytesIO(base64.b64decode(picture["image_url"]["url"][len(prefix) :])))
    assert sent.format == "PNG"
    assert np.array_equal(np.asarray(sent), np.asarray(image().load()))  # lossless: the same pixels


def test_no_key_means_no_authorization_header_and_loopback_skips_proxies(server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy that is not there
    assert server.model().generate([ask()]) == ["circle"]
    assert "Authorization" not in server.requests[0][0]


def test_answers_in_order_duplicates_sent_once_concurrency_bounded(server: ScriptedServer) -> None:
    server.script = [Reply(answer="re: {prompt}", delay_s=0.15)]
    requests = [ask(i % 6, f"q{i % 6}") for i in range(12)]  # each distinct request twice
    model = server.model(ApiOptions(concurrency=3, key_env=KEY_ENV))
    assert model.generate(requests) == [f"re: q{i % 6}" for i in range(12)]
    assert len(server.requests) == 6
    assert server.max_in_flight == 3


def test_retries_429_honouring_retry_after(server: ScriptedServer) -> None:
    server.script = [Reply(429, headers={"Retry-After": "1"}), Reply(answer="star")]
    start = time.perf_counter()
    assert server.model().generate([ask()]) == ["star"]
    assert time.perf_counter() - start >= 1.0  # FAST's own backoff is at most 0.05 s
    assert len(server.requests) == 2


def test_retries_5xx_with_backoff_then_succeeds(server: ScriptedServer) -> None:
    server.script = [Reply(500), Reply(503), Reply(answer="heart")]
    assert server.model().generate([ask()]) == ["heart"]
    assert len(server.requests) == 3


def test_gives_up_after_the_retries(server: ScriptedServer) -> None:
    server.script = [Reply(503)]
    with pytest.raises(
        ModelError, match=r"failed 3 attempt\(s\), the last with: HTTP 503 .*lower --vlm-api-concurrency"
    ):
        server.model().generate([ask()])
    assert len(server.requests) == 3


def test_backoff_doubles_with_sha256_jitter(server: ScriptedServer) -> None:
    model = server.model(ApiOptions(backoff_s=1.0, max_backoff_s=5.0))
    for attempt, cap in enumerate([1.0, 2.0, 4.0, 5.0, 5.0]):
        u = int.from_bytes(hashlib.sha256(f"3:{attempt}".encode()).digest()[:8], "big") / 2**64
        assert model._wait_s(None, attempt, 3) == pytest.approx(cap * (0.5 + 0.5 * u))
    assert model._wait_s(2.5, 0, 3) == 2.5  # the server's Retry-After wins
    assert model._wait_s(10_000, 0, 3) == 120.0  # but never hangs the run


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= _retry_after(future) <= 31  # type: ignore[operator]


def test_auth_failure_names_the_variable_and_never_the_key(server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode()
    server.script = [Reply(401, body=echo)]
    with pytest.raises(ModelError) as excinfo:
        server.model().generate([ask()])
    message = str(excinfo.value)
    assert message == (
        f"model openai:served: {server.url} refused the request (HTTP 401): the key in {KEY_ENV} was refused. "
        f"Set {KEY_ENV} to a valid API key (read from the environment only; never written anywhere)"
    )
    assert KEY not in message and KEY not in repr(excinfo.value)
    assert len(server.requests) == 1  # no retry on an auth failure


def test_a_failure_for_good_stops_the_other_requests_retrying(server: ScriptedServer) -> None:
    server.script = [Reply(503, headers={"Retry-After": "60"}), Reply(401)]
    start = time.perf_counter()
    with pytest.raises(ModelError, match=r"\(HTTP 401\)"):
        server.model(ApiOptions(concurrency=2, retries=3, key_env=KEY_ENV)).generate([ask(0), ask(1)])
    assert time.perf_counter() - start < 10  # not the 60 s the 503 asked for
    assert len(server.requests) == 2


def test_auth_failure_without_a_key_says_to_set_it(server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    server.script = [Reply(403)]
    with pytest.raises(ModelError, match=rf"\(HTTP 403\): {KEY_ENV} is not set. Set {KEY_ENV} to a valid API key"):
        server.model().generate([ask()])


def test_unknown_model_names_model_and_base_url(server: ScriptedServer) -> None:
    server.script = [Reply(404, body=b'{"error": "The model `nope` does not exist."}')]
    with pytest.raises(ModelError) as excinfo:
        server.model(name="nope").generate([ask()])
    assert str(excinfo.value) == (
        f"model openai:nope: {server.url} has no model 'nope' or no /chat/completions "
        '(HTTP 404: {"error": "The model `nope` does not exist."}). '
        f"Check the model name (GET {server.url}/models lists the server's models) and that the base URL ends in /v1"
    )


def test_other_client_errors_quote_the_server_without_the_key(server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    server.script = [Reply(400, body=f"image_url not supported (you sent {KEY})".encode())]
    with pytest.raises(ModelError) as excinfo:
        server.model().generate([ask()])
    assert str(excinfo.value) == (
        f"model openai:served: {server.url} rejected the request for 'served' (HTTP 400): "
        "image_url not supported (you sent <redacted>)"
    )
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(server: ScriptedServer) -> None:
    server.script = [Reply(delay_s=1.0)]
    api = ApiOptions(timeout_s=0.2, retries=1, backoff_s=0.01, key_env=KEY_ENV)
    start = time.perf_counter()
    with pytest.raises(
        ModelError, match=r"failed 2 attempt\(s\), the last with: no answer within 0.2 s. raise --vlm-api-timeout"
    ):
        server.model(api).generate([ask()])
    assert time.perf_counter() - start < 0.9
    assert len(server.requests) == 2


def test_unreachable_server_is_retried_then_reported() -> None:
    spec = resolve_model("openai:m@http://127.0.0.1:9/v1", base_dir=Path.cwd())  # port 9: discard, closed
    with pytest.raises(ModelError, match=r"http://127.0.0.1:9/v1 failed 3 attempt\(s\).*is the server running"):
        OpenAICompatModel(spec, FAST).generate([ask()])


def test_answer_without_choices_is_reported(server: ScriptedServer) -> None:
    server.script = [Reply(body=b'{"detail": "hello"}')]
    with pytest.raises(ModelError, match=r"answered without choices\[0\].message .*is this an OpenAI-compatible"):
        server.model().generate([ask()])


def test_empty_content_is_an_unreadable_answer_not_an_error(server: ScriptedServer) -> None:
    server.script = [Reply(body=b'{"choices": [{"message": {"role": "assistant", "content": null}}]}')]
    assert server.model().generate([ask()]) == [""]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("openai:gpt-4.1", ("gpt-4.1", None)),
        ("openai:Qwen/Qwen2-VL-7B-Instruct@http://gpu:8000/v1", ("Qwen/Qwen2-VL-7B-Instruct", "http://gpu:8000/v1")),
        ("openai:repo@rev@https://host/v1", ("repo@rev", "https://host/v1")),
    ],
)
def test_model_names_parse(name: str, expected: tuple[str, str | None]) -> None:
    assert parse_model_name(name) == expected


def test_bad_model_names_are_errors() -> None:
    with pytest.raises(ModelError, match=r"no model name after 'openai:'; write openai:MODEL or openai:MODEL@http"):
        resolve_model("openai:@http://host/v1", base_dir=Path.cwd())
    with pytest.raises(ModelError, match=r"'http://' is not an http\(s\) URL"):
        parse_model_name("openai:m@http://")


def test_base_url_precedence(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    gpt = resolve_model("gpt-4o", base_dir=Path.cwd())
    assert OpenAICompatModel(gpt).base_url == "https://api.openai.com/v1"
    assert OpenAICompatModel(gpt, ApiOptions(base_url="http://proxy/v1/")).base_url == "http://proxy/v1"
    named = resolve_model("openai:m@http://named:1/v1", base_dir=Path.cwd())
    assert OpenAICompatModel(named, ApiOptions(base_url="http://proxy/v1")).base_url == "http://named:1/v1"
    bare = resolve_model("openai:m", base_dir=Path.cwd())
    assert OpenAICompatModel(bare).base_url == "https://api.openai.com/v1"


def test_gpt4o_without_its_key_fails_at_load(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = resolve_model("gpt-4o-mini", base_dir=Path.cwd())
    assert (spec.backend, spec.source) == ("openai", "gpt-4o-mini")
    with pytest.raises(ModelError, match=r"^model gpt-4o-mini: OPENAI_API_KEY is not set; the OpenAI API needs a key"):
        load_model(spec, RuntimeOptions())


def test_describe_and_repr_hold_no_secrets(monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    spec = ModelSpec("openai:m", "openai", "m", options={"url": "http://user:pw@host:8000/v1/?token=abc"})
    model = OpenAICompatModel(spec, ApiOptions(key_env=KEY_ENV))
    info = model.describe()
    assert info == {
        "backend": "openai",
        "model": "m",
        "base_url": "http://host:8000/v1",
        "api_key_env": KEY_ENV,
        "api_key_set": True,
        "concurrency": 8,
        "timeout_s": 120.0,
        "retries": 4,
    }
    assert public_url("https://[::1]:9/v1/") == "https://[::1]:9/v1"
    for text in (json.dumps(info), repr(model)):
        assert KEY not in text and "pw" not in text and "token" not in text
    assert KEY not in repr(vars(model))  # what --showlocals would print of it


# --- through pytest: options, errors and reports ---

SPEC = """
dataset:
  generated: shapes
  count: 7
  seed: 3
classes: [circle, square, triangle, star, cross, heart, background]
background: background
strategies:
  closed_set:
    votes: 1
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_ini_options_reach_the_model(pytester: pytest.Pytester, server: ScriptedServer, xdist: list[str]) -> None:
    pytester.makeini(f"[pytest]\nvlm_api_base = {server.url}\nvlm_api_concurrency = 2\nvlm_api_retries = 0\n")
    pytester.makefile(".vlm.yaml", shapes=SPEC.replace("closed_set:", "binary: {}\n  closed_set:"))
    result = pytester.runpytest(
        "--vlm-model", "openai:served", "--vlm-json", "out.json", "--vlm-update-snapshots", *xdist
    )
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "out.json").read_text())
    closed = next(r for r in report["results"] if r["strategy"] == "closed_set")
    assert [p["prediction"] for p in closed["predictions"]] == ["circle"] * 7
    assert closed["model_info"]["base_url"] == server.url
    assert (closed["model_info"]["concurrency"], closed["model_info"]["retries"]) == (2, 0)
    assert len(server.requests) == 7 + 7 * 6  # closed_set once per image, binary once per shape


def test_auth_failure_fails_the_items_and_leaks_no_key(
    pytester: pytest.Pytester, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.script = [Reply(401, body=f"Incorrect API key provided: {KEY}".encode())]
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest("--vlm-model", f"openai:served@{server.url}", "--vlm-json", "out.json", "-l")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ shapes: openai:served / closed_set _*",  # the section's headline names the item
            f"model openai:served: {server.url} refused the request (HTTP 401): the key in OPENAI_API_KEY was "
            "refused. Set OPENAI_API_KEY to a valid API key*",
        ]
    )
    assert KEY not in result.stdout.str() + result.stderr.str()
    assert KEY not in (pytester.path / "out.json").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vlm-api-timeout", "0"], "--vlm-api-timeout / vlm_api_timeout: expected seconds > 0, got '0'"),
        (["--vlm-api-timeout", "soon"], "--vlm-api-timeout / vlm_api_timeout: expected seconds > 0, got 'soon'"),
        (["--vlm-api-timeout", "inf"], "--vlm-api-timeout / vlm_api_timeout: expected seconds > 0, got 'inf'"),
        (["--vlm-api-concurrency", "0"], "--vlm-api-concurrency / vlm_api_concurrency: must be >= 1, got 0"),
        (["--vlm-api-retries", "x"], "--vlm-api-retries / vlm_api_retries: expected an integer, got 'x'"),
        (
            ["--vlm-api-base", "gpu-box:8000"],
            "--vlm-api-base / vlm_api_base: 'gpu-box:8000' is not an http(s) URL; give the server's base URL, "
            "e.g. http://HOST:8000/v1",
        ),
        (
            ["--vlm-api-key-env", f"{KEY}-x"],
            "--vlm-api-key-env / vlm_api_key_env: expected the NAME of an environment variable (letters, digits, _), "
            "e.g. OPENAI_API_KEY; never put the key itself on the command line or in an ini file",
        ),
        (
            ["--vlm-model", "openai:"],
            "--vlm-model: model 'openai:': no model name after 'openai:'; write openai:MODEL or "
            "openai:MODEL@http://HOST:PORT/v1",
        ),
    ],
)
def test_bad_api_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {message}" in result.stderr.lines
    assert KEY[:6] not in result.stderr.str()  # not even the start of a key given by mistake


def test_list_models_shows_the_openai_aliases(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--vlm-list-models")
    result.stdout.fnmatch_lines(
        [
            "gpt-4o *openai*gpt-4o*OpenAI API; key from OPENAI_API_KEY",
            "gpt-4o-mini *openai*gpt-4o-mini*OpenAI API; key from OPENAI_API_KEY",
        ]
    )


def test_likelihood_needs_scores_a_server_does_not_give(server: ScriptedServer) -> None:
    from pytest_vlm.strategies.likelihood import Likelihood, LikelihoodParams

    strategy = Likelihood(LikelihoodParams(), classes=("circle", "square"), background=None, seed=0)
    with pytest.raises(ModelError, match=r"^model openai:served cannot score answers, so it cannot run the likelihood"):
        strategy.run(server.model(), [image()])
