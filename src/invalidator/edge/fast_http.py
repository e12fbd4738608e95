"""The edge's HTTP/1.1 protocol: uvicorn's httptools protocol, answering plain hits itself.

A cache hit is the edge's hot path, and under uvicorn most of its cost is the ASGI machinery
around it (a task per request, message dicts, header checks, two writes). This protocol asks
the proxy, synchronously and as soon as a request's headers are complete, whether the stored
copy answers it as it is (`EdgeProxy.plain_hit`: GET or HEAD, no precondition or range, lease
held, copy fresh and unpurged: the very checks of the ASGI path), and if so writes the whole
response with one `transport.write`. Everything else (misses, errors, other methods, bodies,
HTTP/1.0, `Connection: close`, pipelined requests behind an unfinished one, a transport whose
buffer is full) takes uvicorn's usual path to the ASGI app, unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from invalidator.edge.proxy import EdgeProxy
from invalidator.edge.responses import hit_headers, plain_response
from invalidator.http_head import BoundedHeadProtocol, HeadProblem

_ANSWERABLE = frozenset({b"GET", b"HEAD"})
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


_log = logging.getLogger("invalidator.edge")


class _Answered:
    """Stands for the request answered here, where uvicorn looks at `self.cycle`: complete,
    so the parser's later callbacks for it (body, message complete) do nothing."""

    response_complete = True

    class message_event:
        @staticmethod
        def set() -> None:
            """Nothing waits on an answered request."""


_ANSWERED: Any = _Answered()


class EdgeHttpProtocol(BoundedHeadProtocol):
    """uvicorn's protocol for an `EdgeProxy` app, with plain hits answered in place, and a
    bounded request head (`invalidator.http_head`: 400, 431 or 408 in the edge's own text).

    Two pieces of uvicorn's per-request bookkeeping are made lazy, because a hit needs neither:
    the ASGI scope is built only when a request goes to the app, and the keep-alive timeout is
    one timer per idle spell that re-arms itself, instead of a `call_later` armed after every
    response and cancelled by the next request's bytes.
    """

    _idle_since: float | None = None

    def on_message_begin(self) -> None:
        """Start a request (the connection is busy until its response completes); its ASGI
        scope waits until it is known not to be a plain hit."""
        self._idle_since = None
        self.url = b""
        self.headers = []
        self.expect_100_continue = False  # uvicorn's on_header sets it
        self._head_begins()

    def on_headers_complete(self) -> None:
        """Answer a plain hit at once; anything else goes on to the ASGI app."""
        self._head_complete()
        if self._answer_hit():
            return
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        # uvicorn's scope, with the request read so far put back (not our on_message_begin:
        # the head is complete, its deadline must not start again)
        HttpToolsProtocol.on_message_begin(self)
        self.url, self.expect_100_continue = url, expect
        self.headers.extend(headers)
        super().on_headers_complete()

    def _reject(self, problem: str, detail: str) -> bytes:
        _log.info("request refused before routing", extra={"problem": problem, "detail": detail})
        if problem == HeadProblem.TOO_LARGE:
            return plain_response(431, f"The request headers exceed {detail} bytes.\n")
        if problem == HeadProblem.TOO_SLOW:
            return plain_response(408, f"The request headers took over {detail} seconds.\n")
        return plain_response(400, f"The request is not valid HTTP/1.1: {detail}.\n")

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn calls this when bytes arrive (and before a pipelined request starts): the
        connection is busy, which ends the idle spell; the timer stays and will find it so."""
        self._idle_since = None

    def connection_lost(self, exc: Exception | None) -> None:
        """As uvicorn's, and the keep-alive timer goes with the connection."""
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def on_response_complete(self) -> None:
        """As uvicorn's, but an idle spell starts instead of a fresh keep-alive timer (a
        pipelined request, or a closing transport, is left to uvicorn's own); a refusal that
        waited for this answer follows it."""
        if self.pipeline or self.transport.is_closing():
            super().on_response_complete()
            return
        self.server_state.total_requests += 1
        self.flow.resume_reading()
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_due
            )
        if self._deferred is not None:
            self._write_deferred()
        else:
            self._close_if_peer_done()

    def _keep_alive_due(self) -> None:
        """Close a connection idle for the whole keep-alive timeout; else wait out the rest."""
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None or self.transport.is_closing():
            return  # busy: the next response completed starts the timer again
        left = idle_since + self.timeout_keep_alive - self.loop.time()
        if left <= 0.001:  # timers may fire a little early; uvloop counts in milliseconds
            self.transport.close()
        else:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)

    def _answer_hit(self) -> bool:
        proxy = self.config.app
        cycle = self.cycle
        if (
            not isinstance(proxy, EdgeProxy)
            or (cycle is not None and not cycle.response_complete)
            or self.pipeline
            or self.flow.write_paused
            or self.parser.get_method() not in _ANSWERABLE
            or self.parser.get_http_version() != "1.1"
            or not self.parser.should_keep_alive()
            or self.parser.should_upgrade()
        ):
            return False
        headers = []
        for name, value in self.headers:
            if name in _BODY_HEADERS:
                return False
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        url = httptools.parse_url(self.url)  # as uvicorn splits it for the ASGI scope
        method = self.parser.get_method().decode("ascii")
        cached = proxy.plain_hit(method, url.path.decode("latin-1"), url.query or b"", headers)
        line = STATUS_LINE.get(cached.status) if cached is not None else None
        if cached is None or line is None:
            return False
        parts = [line]
        for name, value in (*self.server_state.default_headers, *hit_headers(cached)):
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        if method == "GET":
            parts.append(cached.body)
        self.transport.write(b"".join(parts))
        self.cycle = _ANSWERED
        self.on_response_complete()
        return True
