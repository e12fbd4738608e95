"""Check an HTTP response is exactly CloudFront's error envelope, and botocore reads it so."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import botocore.session
import httpx
from botocore.parsers import RestXMLParser

from tests.support.signing import VERSION

_SERVICE_MODEL = botocore.session.get_session().get_service_model("cloudfront")


def error_body(version: str, fault: str, code: str, message: str, request_id: str) -> bytes:
    """The envelope byte for byte, as spec §5 shows it."""
    return (
        '<?xml version="1.0"?>\n'
        f'<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/{version}/">'
        f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def assert_accurate_date(response: httpx.Response, received: datetime) -> None:
    """Exactly one Date header, the second the response was sent: within 1 s before receipt
    (it is truncated to the second; 0.5 s of slack for a loaded machine)."""
    dates = response.headers.get_list("date")
    assert len(dates) == 1, dates
    age = received - parsedate_to_datetime(dates[0])
    assert timedelta(seconds=-0.5) < age < timedelta(seconds=1.5), (dates[0], received)


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    message: str | re.Pattern[str],
    *,
    version: str = VERSION,
    fault: str = "Sender",
    operation: str = "CreateInvalidation",
    check_date: bool = True,
) -> str:
    """Assert status, headers and envelope; returns the message the server sent."""
    if check_date:
        assert_accurate_date(response, datetime.now(UTC))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/xml"
    request_id = response.headers["x-amzn-requestid"]
    assert str(uuid.UUID(request_id)) == request_id

    body = response.content
    assert body.startswith(b'<?xml version="1.0"?>')
    assert b"Traceback" not in body
    ns = f"{{http://cloudfront.amazonaws.com/doc/{version}/}}"
    root = ET.fromstring(body)
    assert root.tag == f"{ns}ErrorResponse"
    assert [child.tag for child in root] == [f"{ns}Error", f"{ns}RequestId"]
    error = root[0]
    assert [child.tag for child in error] == [f"{ns}Type", f"{ns}Code", f"{ns}Message"]
    assert error[0].text == fault
    assert error[1].text == code
    sent = error[2].text or ""
    if isinstance(message, str):
        assert sent == message
    else:
        assert message.fullmatch(sent), sent
    assert root[1].text == request_id
    assert body == error_body(version, fault, code, sent, request_id)

    parsed = RestXMLParser().parse(
        {"body": body, "headers": dict(response.headers), "status_code": status},
        _SERVICE_MODEL.operation_model(operation).output_shape,
    )
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == sent
    assert parsed["ResponseMetadata"]["RequestId"] == request_id
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    return sent
