"""The API's HTTP/1.1 protocol: a bounded request head (see `invalidator.http_head`), and what
is refused before the app runs answered in CloudFront's XML envelope with `x-amzn-RequestId`
and `Date`, as every API answer is:

- unparsable: `InvalidArgument` (400);
- a head over the limit: `RequestHeaderSectionTooLarge` (400, S3's code for it);
- a head not complete in time: `RequestTimeout` (408).
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus

from invalidator.api.http import HttpDate
from invalidator.api.versions import LATEST_VERSION
from invalidator.api.wire.error_xml import error_document
from invalidator.domain.errors import (
    InvalidArgument,
    RequestHeaderSectionTooLarge,
    RequestTimeout,
    ServiceError,
)
from invalidator.http_head import BoundedHeadProtocol, HeadProblem

_DATE = HttpDate()
log = logging.getLogger("invalidator.api")


class ApiHttpProtocol(BoundedHeadProtocol):
    """uvicorn's protocol for the control plane's API (limits: `http_head.with_limits`)."""

    def _reject(self, problem: str, detail: str) -> bytes:
        error = _error(problem, detail)
        request_id = str(uuid.uuid4())
        log.info(
            "request refused before routing",
            extra={"request_id": request_id, "error_code": error.code, "detail": detail[:200]},
        )
        body = error_document(error, LATEST_VERSION, request_id)
        head = [
            b"HTTP/1.1 %d %s\r\n" % (error.status, HTTPStatus(error.status).phrase.encode()),
            b"date: " + _DATE.now() + b"\r\n",
            b"content-type: text/xml\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-amzn-requestid: " + request_id.encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        return b"".join(head) + body


def _error(problem: str, detail: str) -> ServiceError:
    if problem == HeadProblem.TOO_LARGE:
        return RequestHeaderSectionTooLarge(
            f"Your request header section exceeds the maximum allowed size ({detail} bytes)."
        )
    if problem == HeadProblem.TOO_SLOW:
        return RequestTimeout(f"Your request headers were not received within {detail} seconds.")
    return InvalidArgument(f"The request is not valid HTTP/1.1: {detail}.")
