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

from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from invalidator.edge.proxy import EdgeProxy
from invalidator.edge.responses import hit_headers

_ANSWERABLE = frozenset({b"GET", b"HEAD"})
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


class _Answered:
    """Stands for the request answered here, where uvicorn looks at `self.cycle`: complete,
    so the parser's later callbacks for it (body, message complete) do nothing."""

    response_complete = True

    class message_event:
        @staticmethod
        def set() -> None:
            """Nothing waits on an answered request."""


_ANSWERED: Any = _Answered()


class EdgeHttpProtocol(HttpToolsProtocol):
    """uvicorn's protocol for an `EdgeProxy` app, with plain hits answered in place."""

    def on_headers_complete(self) -> None:
        """Answer a plain hit at once; anything else goes on to the ASGI app."""
        if not self._answer_hit():
            super().on_headers_complete()

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
