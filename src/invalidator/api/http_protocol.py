"""The API's HTTP/1.1 protocol: uvicorn's httptools protocol with the limits of a public endpoint.

uvicorn answers what httptools cannot parse (a bad method, Content-Length or chunk size, a
header line without a colon, a raw non-ASCII byte in the path) with a plain-text 400 without
`x-amzn-RequestId` or `Date`, bounds neither the size of a request's head (one endless header
line grows the parser's buffer without end) nor the time until it is complete (a connection
that sends nothing, or a header line every few seconds, is held forever; the body deadline of
`read_body` starts only once the app has the request). Here:

- what cannot be parsed gets CloudFront's XML envelope (`InvalidArgument`, 400) and the
  connection is closed;
- a request line plus headers over `max_head_bytes` gets `RequestHeaderSectionTooLarge` (400,
  S3's code for it);
- a head not complete `head_timeout` seconds after a connection opened or a request began gets
  `RequestTimeout` (408) when part of it arrived, and is closed silently when nothing did.

Bytes are counted per chunk received while a head is incomplete, so a chunk that also held the
end of a pipelined predecessor counts in full: the bound can err by one chunk, never unbounded.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from invalidator.api.http import HttpDate
from invalidator.api.versions import LATEST_VERSION
from invalidator.api.wire.error_xml import error_document
from invalidator.domain.errors import (
    InvalidArgument,
    RequestHeaderSectionTooLarge,
    RequestTimeout,
    ServiceError,
)

MAX_HEAD_BYTES = 64 * 1024  # request line + headers; botocore's largest are a few KiB
_STATUS_TEXT = {400: b"Bad Request", 408: b"Request Timeout"}
_DATE = HttpDate()


class ApiHttpProtocol(HttpToolsProtocol):
    """uvicorn's protocol with XML answers to unparsable requests and a bounded request head.

    Configure with `api_protocol(...)`, which sets the two limits on a subclass (uvicorn
    builds protocols from a class and its own config).
    """

    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = 10.0

    _head_bytes = 0
    _in_head = False
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        """Accept; the first request's head must be complete within the deadline."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the head deadline with the connection."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; an unparsable request or a head over the limit is answered here."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            return  # uvicorn logs and ignores an upgrade the app cannot take; so do we
        except httptools.HttpParserError as exc:
            self._reject(InvalidArgument(_parse_error_message(exc)))
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._reject(
                    RequestHeaderSectionTooLarge(
                        "Your request header section exceeds the maximum allowed size "
                        f"({self.max_head_bytes} bytes)."
                    )
                )

    def on_message_begin(self) -> None:
        """A request starts: its head is counted and timed."""
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        """The head is complete: the body deadline of the app takes over."""
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = asyncio.get_running_loop().call_later(
                self.head_timeout, self._head_timed_out
            )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._reject(
                RequestTimeout(
                    f"Your request headers were not received within {self.head_timeout:g} seconds."
                )
            )
        elif self.cycle is None:  # a connection that never sent a byte
            self.transport.close()

    def _reject(self, error: ServiceError) -> None:
        """Answer `error` in CloudFront's envelope, then close (the stream is unusable)."""
        self._cancel_head_timer()
        self._in_head = False
        if self.transport.is_closing():
            return
        request_id = str(uuid.uuid4())
        body = error_document(error, LATEST_VERSION, request_id)
        reason = _STATUS_TEXT.get(error.status, b"Error")
        head = [
            b"HTTP/1.1 %d %s\r\n" % (error.status, reason),
            b"date: " + _DATE.now() + b"\r\n",
            b"content-type: text/xml\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-amzn-requestid: " + request_id.encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def _parse_error_message(exc: Exception) -> str:
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    return f"The request is not valid HTTP/1.1: {detail[:200]}."


def api_protocol(max_head_bytes: int, head_timeout: float) -> type[ApiHttpProtocol]:
    """`ApiHttpProtocol` with these limits."""
    return type(
        "ApiHttpProtocol",
        (ApiHttpProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout},
    )
