"""One HTTP POST with an overall deadline, a size cap and a secret-safe Authorization header.

urllib alone times out per socket read, so a server that drips one byte a second never times out;
here a timer shuts the connection's socket down when the request's whole time is up. Replies of
every status come back as :class:`Reply` (no ``HTTPError``), and every failure of the exchange
(refused or dropped connection, malformed status line, truncated body, the deadline) becomes one
:class:`TransportError`, raised outside any ``except`` block so that no traceback chain keeps the
frames of http.client or urllib (whose locals hold the request headers) alive.

Standard library only; proxies from the environment still apply (urllib's ProxyHandler).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any, cast

MAX_RESPONSE_BYTES = 4 * 2**20  # a chat completion of a few hundred tokens is a few KB
_CHUNK = 64 * 1024


class Bearer:
    """An ``Authorization`` header value that holds the key without ever showing it.

    http.client turns header values into bytes with ``.encode()`` at the moment it writes them, so
    the key exists as text only inside this object: its repr (what ``pytest -l`` prints of a
    local holding it, a dict of headers say) is ``<secret>``.
    """

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key

    def encode(self, encoding: str = "latin-1", errors: str = "strict") -> bytes:
        return ("Bearer " + self._key).encode(encoding, errors)

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: Message
    body: bytes


class TransportError(Exception):
    """The exchange failed; ``kind`` is ``timeout``, ``connection`` or ``broken`` (a malformed or truncated reply)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class ResponseTooLarge(Exception):
    """The reply is over the size cap; ``size`` is what was declared or read before stopping."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Deadline:
    """Shuts down the request's sockets when its time is up, whatever they are doing."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _Watched:
    """Hands the connection's socket to the request's deadline as soon as it is connected."""

    sock: Any

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._deadline.attach(self.sock)


class _Connection(_Watched, http.client.HTTPConnection):
    pass


class _TLSConnection(_Watched, http.client.HTTPSConnection):
    pass


class _Handler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(cast(Any, _Connection), req, deadline=self.deadline)


class _TLSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline
        self.tls = ssl.create_default_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(cast(Any, _TLSConnection), req, context=self.tls, deadline=self.deadline)


class _AllStatuses(urllib.request.HTTPErrorProcessor):
    """Every status comes back as a response; the caller reads the code."""

    def http_response(self, request: urllib.request.Request, response: Any) -> Any:
        return response

    https_response = http_response


def post(
    url: str,
    data: bytes,
    headers: dict[str, Any],
    *,
    timeout_s: float,
    direct: bool = False,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Reply:
    """POST ``data``; the whole exchange, connect to last byte, takes at most ``timeout_s``.

    ``direct``: ignore proxies from the environment (for loopback servers). Raises
    :class:`TransportError` or :class:`ResponseTooLarge`.
    """
    failure: Exception
    with _Deadline(timeout_s) as deadline:
        handlers: list[Any] = [_Handler(deadline), _TLSHandler(deadline), _AllStatuses()]
        if direct:
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=timeout_s) as response:
                body = _read(response, max_bytes)
                return Reply(response.status, response.reason, response.headers, body)
        except ResponseTooLarge as exc:
            failure = exc
        except (OSError, http.client.HTTPException) as exc:
            failure = _transport_error(exc, deadline, timeout_s)
    # Raised here, outside the except block: no __context__ keeps urllib's frames (and their
    # locals) alive for a traceback printer to show.
    raise failure


def _transport_error(exc: BaseException, deadline: _Deadline, timeout_s: float) -> TransportError:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if deadline.expired or isinstance(reason, TimeoutError):
        return TransportError(f"no answer within {timeout_s:g} s", "timeout")
    if isinstance(reason, http.client.IncompleteRead):
        return TransportError(
            f"truncated reply ({len(reason.partial)} bytes, {reason.expected} more expected)", "broken"
        )
    if isinstance(reason, http.client.RemoteDisconnected):
        return TransportError(f"RemoteDisconnected: {reason}", "connection")
    if isinstance(reason, http.client.BadStatusLine):
        return TransportError(f"malformed reply (status line {str(reason.args[0]).strip()!r})", "broken")
    if isinstance(reason, http.client.HTTPException):  # LineTooLong, too many headers ...
        return TransportError(f"malformed reply ({type(reason).__name__}: {reason})", "broken")
    if isinstance(exc, urllib.error.URLError):
        return TransportError(str(reason), "connection")
    return TransportError(f"{type(reason).__name__}: {reason}", "connection")


def _read(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(int(declared))
    chunks, size = [], 0
    while chunk := response.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(size)
        chunks.append(chunk)
    body = b"".join(chunks)
    if declared.strip().isdigit() and size < int(declared):  # read(amt) returns what came, even if cut short
        raise http.client.IncompleteRead(body, int(declared) - size)
    return body
