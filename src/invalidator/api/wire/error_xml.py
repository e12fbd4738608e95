"""The CloudFront error envelope."""

from __future__ import annotations

from invalidator.api.wire.xmltree import XmlWriter, cloudfront_namespace
from invalidator.domain.errors import ServiceError


def error_document(error: ServiceError, version: str, request_id: str) -> bytes:
    """`<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`."""
    w = XmlWriter()
    w.open("ErrorResponse", cloudfront_namespace(version))
    w.open("Error")
    w.leaf("Type", error.fault)
    w.leaf("Code", error.code)
    w.leaf("Message", error.message)
    w.close("Error")
    w.leaf("RequestId", request_id)
    w.close("ErrorResponse")
    return w.to_bytes()
