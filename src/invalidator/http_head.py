"""uvicorn's httptools protocol with the limits a public HTTP endpoint needs before its app runs.

uvicorn answers what httptools cannot parse (a bad method, Content-Length or chunk size, a
header line without a colon, a raw non-ASCII byte in the path) with a bare plain-text 400,
bounds neither the size of a request's head (one endless header line grows the parser's
buffer without end) nor the time until it is complete (a connection that sends nothing, or a
header line every few seconds, is held forever). `BoundedHeadProtocol` adds:

- a request line plus headers over `max_head_bytes`: answered 431 (the API: 400);
- a head not complete `head_timeout` seconds after the connection opened or the request
  began: 408 when part of it arrived, the connection closed silently when nothing did;
- what cannot be parsed: 400;

each in the subclass's own error format (`_reject`), then the connection is closed. Requests
received whole before the refused one (in flight, or pipelined behind it) are answered first,
in order: the refusal waits for them (nothing more is read meanwhile); a request refused in its
body while it waits in the pipeline is dropped from it, never run. A head is measured twice:
the request target and header fields as the parser hands them over (exact, whatever the
chunks: a whole head in one read is measured too), and, for a head that never ends, per chunk
received wholly inside it (the chunk in which a head begins is not counted: the bytes before it
belong to pipelined requests or a body), which errs by up to one chunk in the lenient direction.
The deadline does not run against the client while the server itself has paused reading (a
pipelined request waiting behind one in flight). A client that half-closes (shuts its sending
side) after its requests still gets their answers, then the connection closes; one that
disconnects is a gone client to the request in flight too, not only to the newest one parsed,
as uvicorn has it.
Used by the control plane's API (`api/http_protocol.py`) and the edge (`edge/fast_http.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # request line + headers; botocore's largest are a few KiB
HEAD_TIMEOUT = 10.0


P = TypeVar("P", bound="BoundedHeadProtocol")


class HeadTooLarge(Exception):
    """Raised from a parser callback when a head outgrows its bound."""


class HeadProblem:
    """Why a request is refused before its app sees it (the subclass words the answer)."""

    UNPARSABLE = "unparsable"
    TOO_LARGE = "too-large"
    TOO_SLOW = "too-slow"


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's protocol with a bounded request head and an answer to unparsable requests.

    Subclasses implement `_reject` and set the limits (as class attributes: uvicorn builds
    protocols from a class and its own config).
    """

    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT

    _head_bytes = 0
    _parsed_head = 0  # target and header fields of the current head, as parsed
    _head_too_large = False
    _in_head = False
    _head_since = 0.0  # loop time the current head began (valid while _in_head)
    _heads_begun = 0
    _head_timer: asyncio.TimerHandle | None = None
    _running: Any = None  # the request cycle whose app runs (uvicorn keeps no reference)
    _deferred: bytes | None = None  # a refusal waiting for the requests before it
    _peer_done = False  # the client half-closed: answer what it sent, then close

    def connection_made(self, transport: Any) -> None:
        """Accept; the first request's head must be complete within the deadline."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the head deadline with the connection. The request whose app runs is told
        too: uvicorn tells only the newest request parsed, so with one pipelined behind it,
        the running app's answer was written to the closed transport (a RuntimeError
        traceback in the log) instead of being dropped as a gone client's."""
        self._cancel_head_timer()
        running = self._running
        if running is not None and not running.response_complete:
            running.disconnected = True
            running.message_event.set()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol allows True
        """The client closed its sending side after its requests (a half-close): they are
        still answered, then the connection closes. uvicorn let the transport close at once,
        so a complete request got no answer (or was never run)."""
        running = self._running
        if self.pipeline or (running is not None and not running.response_complete):
            self._peer_done = True
            return True  # keep the transport open for the answers
        return None

    def data_received(self, data: bytes) -> None:
        """Feed the parser; an unparsable request or a head over the limit is answered here."""
        if self._deferred is not None:
            return  # refused: nothing after the refused request is read
        self._unset_keepalive_if_required()
        continuing, heads = self._in_head, self._heads_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            return  # uvicorn logs and ignores an upgrade the app cannot take; so do we
        except httptools.HttpParserError as exc:
            if self._head_too_large:  # raised by on_url / on_header below
                self._refuse(HeadProblem.TOO_LARGE, str(self.max_head_bytes))
                return
            detail = str(exc).strip().rstrip(".") or type(exc).__name__
            self._refuse(HeadProblem.UNPARSABLE, detail[:200])
            return
        # Only a chunk wholly inside one head counts: where in a chunk a head began is not
        # known, and the bytes before it (pipelined requests, a body) are not head bytes.
        if self._in_head and continuing and heads == self._heads_begun:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(HeadProblem.TOO_LARGE, str(self.max_head_bytes))

    def on_message_begin(self) -> None:
        """A request starts: its head is counted and timed."""
        super().on_message_begin()
        self._head_begins()

    def on_url(self, url: bytes) -> None:
        """A piece of the request target: counted against the head's bound."""
        self._count_parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header field: counted against the head's bound (with its `: ` and CRLF)."""
        self._count_parsed(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_parsed(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > self.max_head_bytes:
            self._head_too_large = True
            raise HeadTooLarge()  # the parser stops; data_received refuses the request

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        """As uvicorn's, remembering which cycle runs (a refusal waits for it)."""
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        """As uvicorn's (the next pipelined request starts), then a refusal that waited for the
        requests before it is written once they are all answered."""
        super().on_response_complete()
        if self._deferred is not None:
            self._write_deferred()
        else:
            self._close_if_peer_done()

    def _close_if_peer_done(self) -> None:
        """Close once the half-closed client's last answer is written."""
        if self._peer_done and not self._busy() and not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        """The head is complete: from here on the app's own deadlines apply."""
        self._head_complete()
        super().on_headers_complete()

    def _head_begins(self) -> None:
        self._heads_begun += 1
        self._in_head = True
        self._head_bytes = self._parsed_head = 0
        self._head_since = self.loop.time()
        self._arm_head_timer()

    def _head_complete(self) -> None:
        self._in_head = False  # the timer stays: one per connection and deadline, not per
        # request (a keep-alive connection's requests would each arm and cancel one)

    def _arm_head_timer(self, delay: float | None = None) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.head_timeout if delay is None else delay, self._head_timer_due
            )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timer_due(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            now = self.loop.time()
            left = self._head_since + self.head_timeout - now
            if left > 0.001:  # a later head than the one the timer was armed for
                self._arm_head_timer(left)
            elif self._busy():  # we stopped reading it (pipelined behind a request in
                self._head_since = now  # flight), not the client: its time starts again
                self._arm_head_timer()
            else:
                self._refuse(HeadProblem.TOO_SLOW, f"{self.head_timeout:g}")
        elif self.cycle is None:  # a connection that never sent a byte
            self.transport.close()
        # else between requests: uvicorn's keep-alive timeout; the next head arms anew

    def _busy(self) -> bool:
        """A request is in flight or queued on this connection, or reading is paused."""
        cycle = self.cycle
        return (
            bool(self.pipeline)
            or self.flow.read_paused
            or (cycle is not None and not cycle.response_complete)
        )

    def _refuse(self, problem: str, detail: str) -> None:
        # in the body of the newest request (uvicorn's cycle reads more_body until the last
        # byte; the edge's answered hits have no body)
        in_body = not self._in_head and getattr(self.cycle, "more_body", False)
        self._in_head = False
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        self._deferred = self._reject(problem, detail)
        cycle = self.cycle
        if in_body and cycle is not None:
            if cycle is self._running:  # refused in the body of the request in flight: its
                cycle.disconnected = True  # app's answer is dropped (none can be before it)
                self._running = None
            else:  # queued behind another: it never runs
                self.pipeline = type(self.pipeline)(e for e in self.pipeline if e[0] is not cycle)
                cycle.response_complete = True
        self._write_deferred()

    def _write_deferred(self) -> None:
        """Write the refusal and close, once no request before it is left unanswered."""
        answer = self._deferred
        if answer is None or self.transport.is_closing():
            return
        running = self._running
        if self.pipeline or (running is not None and not running.response_complete):
            self.flow.pause_reading()  # nothing more is read; the earlier answers go first
            return
        self.transport.write(answer)
        self.transport.close()

    def _reject(self, problem: str, detail: str) -> bytes:
        """The whole response (status line to body, with `connection: close`) for `problem`;
        `detail` is the parser's complaint, the byte limit, or the timeout in seconds."""
        raise NotImplementedError


def with_limits(
    protocol: type[P], head_timeout: float, max_head_bytes: int = MAX_HEAD_BYTES
) -> type[P]:
    """`protocol` with these limits (a subclass: uvicorn instantiates the class itself)."""
    limits = {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout}
    return type(protocol.__name__, (protocol,), limits)
