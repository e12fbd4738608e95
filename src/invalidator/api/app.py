"""The control plane's ASGI application: one choke point from HTTP to operations and back.

Every request gets an id; any ServiceError becomes CloudFront's error envelope; anything else
is logged with its traceback and answered with a bare InternalError (no traceback on the wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from invalidator.api.authn import Authenticator, authorize
from invalidator.api.http import (
    ClientGone,
    HttpDate,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    check_host,
    decode_headers,
    read_body,
    send_response,
)
from invalidator.api.routing import Call, Match, Router
from invalidator.api.throttle import RateLimiter
from invalidator.api.wire.error_xml import error_document
from invalidator.domain.errors import (
    InternalError,
    MethodNotAllowed,
    ServiceError,
    ServiceUnavailable,
)
from invalidator.domain.models import AccessKey

log = logging.getLogger("invalidator.api")

# The caller of a public route (no credentials): allowed on no distribution, never an edge.
ANONYMOUS = AccessKey("-", "", frozenset(), datetime.fromtimestamp(0, UTC))


@dataclass(frozen=True)
class ApiSettings:
    """Knobs of the HTTP surface."""

    max_body_bytes: int = 4 * 1024 * 1024
    body_timeout: float = 10.0
    account_id: str = "000000000000"
    public_url: str | None = None  # externally visible base URL; default: from the Host header


class ControlPlaneApp:
    """Raw ASGI app: route → read body → authenticate → authorize → operation → response."""

    def __init__(
        self,
        router: Router,
        authenticator: Authenticator,
        settings: ApiSettings,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._router = router
        self._auth = authenticator
        self._settings = settings
        self._limiter = limiter
        self._date = HttpDate()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        method: str = scope["method"]
        path: str = scope["path"]
        raw = scope.get("raw_path")
        raw_path = raw.decode("latin-1") if raw is not None else quote(path)
        version = self._router.version_of(path)
        operation = "-"
        key_id = "-"
        try:
            headers = decode_headers(scope)
            check_host(headers, scope.get("http_version", "1.1"))
            matched = self._router.match(method, raw_path)
            operation = matched.route.operation
            body = await read_body(
                receive, headers, self._settings.max_body_bytes, self._settings.body_timeout
            )
            request = Request(
                method=method,
                raw_path=raw_path.split("?")[0],
                query_string=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=body,
                request_id=request_id,
            )
            key = (
                ANONYMOUS
                if matched.route.public
                else await self._auth.authenticate(request, matched.version)
            )
            key_id = key.access_key_id
            self._admit(key, matched)
            call = Call(
                request=request,
                version=matched.version,
                operation=operation,
                params=matched.params,
                key=key,
                base_url=self._base_url(scope, request),
            )
            response = await matched.route.handler(call)  # to a HEAD, uvicorn sends the
            code = "-"  # head only, with the Content-Length of the body it leaves out
        except ClientGone:
            log.info("client gone", extra={"request_id": request_id, "operation": operation})
            return
        except asyncio.CancelledError:
            await self._cut_short(send, version, request_id, operation)
            return
        except ServiceError as exc:
            key_id = exc.access_key_id or key_id
            response = Response(exc.status, error_document(exc, version, request_id))
            if isinstance(exc, MethodNotAllowed) and exc.allowed:
                response.headers.append(("allow", ", ".join(exc.allowed)))
            code = exc.code
        except Exception:
            log.exception(
                "unhandled error", extra={"request_id": request_id, "operation": operation}
            )
            error = InternalError()
            response = Response(error.status, error_document(error, version, request_id))
            code = error.code
        response.headers.append(("x-amzn-requestid", request_id))
        await send_response(send, response, self._date)
        if log.isEnabledFor(logging.INFO):  # the record's fields cost even when it is dropped
            fields = {"request_id": request_id, "method": method, "path": path[:300]}
            _log_request(fields, operation, response.status, code, key_id, started)

    def _admit(self, key: AccessKey, matched: Match) -> None:
        """The caller's rate limit (Throttling) and its right to the distribution named
        (AccessDenied)."""
        if self._limiter is not None and matched.route.throttled:
            self._limiter.check(key.access_key_id)
        dist_param = matched.route.distribution_param
        if dist_param is not None:
            authorize(
                key, matched.route.operation, matched.params[dist_param], self._settings.account_id
            )

    async def _cut_short(self, send: Send, version: str, request_id: str, operation: str) -> None:
        """The server stops without waiting for this request (a second signal, or the graceful
        timeout): a retryable 503 in the usual envelope, not uvicorn's bare 500 and a
        traceback in the log."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        log.info(
            "request cut short: the server is stopping",
            extra={"request_id": request_id, "operation": operation},
        )
        error = ServiceUnavailable("The service is shutting down; retry the request.")
        response = Response(error.status, error_document(error, version, request_id))
        response.headers.append(("x-amzn-requestid", request_id))
        with contextlib.suppress(Exception):  # the connection may be gone already
            await send_response(send, response, self._date)

    def _base_url(self, scope: Scope, request: Request) -> str:
        if self._settings.public_url:
            return self._settings.public_url.rstrip("/")
        host = request.header("host")
        if not host:
            address, port = scope.get("server") or ("localhost", 80)
            host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        return f"{scope.get('scheme', 'http')}://{host}"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _log_request(
    fields: dict[str, str], operation: str, status: int, code: str, key_id: str, since: float
) -> None:
    """The request's log line (no secret: the key id only)."""
    log.info(
        "request",
        extra={
            **fields,
            "operation": operation,
            "status": status,
            "error_code": code,
            "access_key_id": key_id,
            "duration_ms": round((time.perf_counter() - since) * 1000, 3),
        },
    )
