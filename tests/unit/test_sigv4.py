"""SigV4 verification against requests signed by botocore and by a real boto3 client."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.credentials import Credentials as BotoCredentials

from invalidator.api.auth.request import (
    ParsedSigV4,
    SignedRequest,
    parse_authorization,
)
from invalidator.api.auth.sigv4 import CONTENT_SHA256_MISMATCH, canonical_uri, verify_sigv4
from invalidator.domain.errors import (
    IncompleteSignature,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)

KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
VERSION = "2020-05-31"
ENDPOINT = "https://cloudfront.amazonaws.com"
SIGNED_AT = datetime(2026, 11, 23, 19, 20, 0, tzinfo=UTC)
BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    b"<Paths><Quantity>1</Quantity><Items><Path>/index.html</Path></Items></Paths>"
    b"<CallerReference>ref-1</CallerReference></InvalidationBatch>"
)


@pytest.fixture(autouse=True)
def frozen_signing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make botocore sign at SIGNED_AT so dates in messages are predictable."""
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda **_: SIGNED_AT.replace(tzinfo=None),
    )


def wire(url: str, method: str, headers: Any, body: bytes | str | None) -> SignedRequest:
    """What a server receives for a request botocore sends to `url` (urllib3 adds Host)."""
    parts = urlsplit(url)
    pairs = [
        (str(k).lower(), v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()
    ]
    if not any(name == "host" for name, _ in pairs):
        pairs.append(("host", botocore.auth._host_from_url(url)))
    raw_body = body.encode() if isinstance(body, str) else (body or b"")
    return SignedRequest(method, parts.path, parts.query, tuple(pairs), raw_body)


def sign(
    url: str,
    method: str = "POST",
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    region: str = "us-east-1",
    service: str = "cloudfront",
) -> SignedRequest:
    """Sign with botocore's SigV4Auth as the cloudfront client does; return it as received."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(BotoCredentials(KEY, SECRET), service, region).add_auth(request)
    prepared = request.prepare()
    return wire(prepared.url, prepared.method, prepared.headers, prepared.body)


def check(req: SignedRequest, secret: str = SECRET, now: datetime = SIGNED_AT) -> ParsedSigV4:
    """Parse and verify as the server would, returning the parsed header."""
    parsed = parse_authorization(req, VERSION)
    assert isinstance(parsed, ParsedSigV4)
    verify_sigv4(req, parsed, secret, now)
    return parsed


def replace_header(req: SignedRequest, name: str, value: str | None) -> SignedRequest:
    """A copy of `req` with header `name` set to `value`, or removed when None."""
    headers = tuple((k, v) for k, v in req.headers if k != name)
    if value is not None:
        headers += ((name, value),)
    return SignedRequest(req.method, req.raw_path, req.query_string, headers, req.body)


CREATE_URL = f"{ENDPOINT}/{VERSION}/distribution/EDFDVBD6EXAMPLE/invalidation"


def create_request(**kwargs: Any) -> SignedRequest:
    """A signed CreateInvalidation request."""
    headers = {"Content-Type": "application/xml", **kwargs.pop("headers", {})}
    return sign(CREATE_URL, "POST", body=BODY, headers=headers, **kwargs)


# --- accepted -------------------------------------------------------------------------------


def test_botocore_signed_create_invalidation_verifies() -> None:
    """A POST with an XML body signed by botocore verifies and names the claimed key."""
    parsed = check(create_request())
    assert parsed.access_key_id == KEY
    assert parsed.credentials.access_key_id == KEY
    assert parsed.amz_date == "20261123T192000Z"


def test_get_with_query_string_verifies() -> None:
    """A GET with `?Marker=X&MaxItems=2` verifies over the canonical query."""
    req = sign(f"{CREATE_URL}?Marker=X&MaxItems=2", "GET")
    assert req.query_string == "Marker=X&MaxItems=2"
    check(req)


def test_query_order_on_the_wire_does_not_matter() -> None:
    """The canonical query is sorted, so `MaxItems=2&Marker=X` verifies too."""
    check(sign(f"{CREATE_URL}?MaxItems=2&Marker=X", "GET"))


def test_query_with_encoded_characters_verifies() -> None:
    """Percent-encoded query values (space, slash, plus, UTF-8) verify."""
    check(sign(f"{CREATE_URL}?Marker=a%20b%2Fc%2Bd%C3%A9&MaxItems=2", "GET"))


def test_path_needing_encoding_verifies() -> None:
    """A path with percent-encoded characters is URI-encoded a second time, like botocore."""
    url = f"{ENDPOINT}/{VERSION}/distribution/E%20X%2FY~%C3%A9%25/invalidation/I%2B1"
    check(sign(url, "GET"))


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "ap-southeast-2"])
def test_any_region_is_accepted(region: str) -> None:
    """Clients sign with their configured region; every region verifies."""
    assert check(create_request(region=region)).region == region


def test_date_header_instead_of_x_amz_date_verifies() -> None:
    """botocore signs with the HTTP Date header when one is present; that verifies."""
    req = create_request(headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert req.header("x-amz-date") is None
    assert req.header("date") == "Mon, 23 Nov 2026 19:20:00 -0000"
    check(req)


def test_matching_content_sha256_header_verifies() -> None:
    """An `x-amz-content-sha256` equal to the body's SHA-256 is used as the payload hash."""
    digest = hashlib.sha256(BODY).hexdigest()
    check(create_request(headers={"X-Amz-Content-SHA256": digest}))


def test_header_whitespace_is_normalised() -> None:
    """Signed values are trimmed and inner whitespace runs collapsed before hashing."""
    req = create_request(headers={"X-Custom": "a    b\t c"})
    check(replace_header(req, "x-custom", "a b c"))


def test_skew_of_exactly_five_minutes_is_accepted() -> None:
    """A request dated exactly 5 minutes from now is still current."""
    req = create_request()
    check(req, now=SIGNED_AT + timedelta(minutes=5))
    check(req, now=SIGNED_AT - timedelta(minutes=5))


# --- rejected ------------------------------------------------------------------------------


def test_wrong_secret_is_signature_does_not_match() -> None:
    """Verifying with another secret fails without revealing secret or signature."""
    req = create_request()
    parsed = parse_authorization(req, VERSION)
    assert isinstance(parsed, ParsedSigV4)
    with pytest.raises(SignatureDoesNotMatch) as info:
        verify_sigv4(req, parsed, "not-the-secret", SIGNED_AT)
    assert info.value.status == 403
    for text in (str(info.value), repr(info.value), repr(parsed)):
        assert parsed.signature not in text
        assert SECRET not in text
        assert "not-the-secret" not in text


def test_tampered_body_is_rejected() -> None:
    """Changing the body after signing breaks the signature."""
    req = create_request()
    tampered = SignedRequest(req.method, req.raw_path, req.query_string, req.headers, BODY + b" ")
    with pytest.raises(SignatureDoesNotMatch):
        check(tampered)


def test_content_sha256_not_matching_body_is_rejected() -> None:
    """A body not hashing to the sent `x-amz-content-sha256` is refused with a clear message."""
    req = create_request(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    tampered = SignedRequest(req.method, req.raw_path, req.query_string, req.headers, b"<x/>")
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(tampered)
    assert str(info.value) == CONTENT_SHA256_MISMATCH


def test_tampered_signed_header_is_rejected() -> None:
    """Changing the value of a signed header breaks the signature."""
    req = create_request(headers={"X-Custom": "original"})
    with pytest.raises(SignatureDoesNotMatch):
        check(replace_header(req, "x-custom", "changed"))


def test_missing_signed_header_is_rejected() -> None:
    """A header listed in SignedHeaders but absent from the request fails verification."""
    req = create_request()
    parsed = parse_authorization(req, VERSION)
    assert isinstance(parsed, ParsedSigV4)
    assert "content-type" in parsed.signed_headers
    with pytest.raises(SignatureDoesNotMatch):
        check(replace_header(req, "content-type", None))


def test_unsigned_extra_header_is_ignored() -> None:
    """Headers added after signing (proxies, User-Agent) do not affect verification."""
    check(replace_header(create_request(), "x-forwarded-for", "10.0.0.1"))


def test_expired_signature_message() -> None:
    """A request 6 minutes old fails with AWS's 'Signature expired' wording."""
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(create_request(), now=SIGNED_AT + timedelta(minutes=6))
    assert str(info.value) == (
        "Signature expired: 20261123T192000Z is now earlier than 20261123T192100Z "
        "(20261123T192600Z - 5 min.)"
    )


def test_future_signature_message() -> None:
    """A request dated 6 minutes ahead fails with AWS's 'not yet current' wording."""
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(create_request(), now=SIGNED_AT - timedelta(minutes=6))
    assert str(info.value) == (
        "Signature not yet current: 20261123T192000Z is still later than 20261123T191900Z "
        "(20261123T191400Z + 5 min.)"
    )


def test_wrong_service_in_scope_is_incomplete_signature() -> None:
    """A credential scoped to another service is refused at parse time."""
    req = sign(CREATE_URL, "POST", body=BODY, service="s3")
    with pytest.raises(IncompleteSignature, match="correct service: 'cloudfront'"):
        parse_authorization(req, VERSION)


def test_scope_date_must_equal_request_date() -> None:
    """The credential scope date must be the X-Amz-Date's day."""
    req = replace_header(create_request(), "x-amz-date", "20261124T000000Z")
    with pytest.raises(IncompleteSignature, match="'20261123' != '20261124'"):
        parse_authorization(req, VERSION)


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", "'Credential' parameter"),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY}/20261123/us-east-1/cloudfront/aws4_request, "
            "SignedHeaders=host",
            "'Signature' parameter",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY}/20261123/us-east-1/cloudfront/aws4_request, "
            "Signature=abc",
            "'SignedHeaders' parameter",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY}/20261123/cloudfront/aws4_request, "
            "SignedHeaders=host, Signature=abc",
            "Credential should be of the form",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY}/20261123/us-east-1/cloudfront/aws5, "
            "SignedHeaders=host, Signature=abc",
            "valid terminator",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY}/20261123/us-east-1/cloudfront/aws4_request, "
            "SignedHeaders=x-amz-date, Signature=abc",
            "'Host' must be a 'SignedHeader'",
        ),
        ("AWS4-HMAC-SHA256 Credential", "missing equal-sign"),
        ("Bearer abc.def", "Unsupported Authorization scheme"),
    ],
)
def test_malformed_authorization_is_incomplete_signature(authorization: str, expected: str) -> None:
    """Each malformed header shape is IncompleteSignature (400) with an AWS-like message."""
    req = replace_header(create_request(), "authorization", authorization)
    with pytest.raises(IncompleteSignature, match=expected) as info:
        parse_authorization(req, VERSION)
    assert info.value.status == 400


def test_two_authorization_headers_are_incomplete_signature() -> None:
    """The same valid Authorization twice is refused, not read as one joined with ","."""
    req = create_request()
    value = req.header("authorization")
    assert value is not None
    doubled = SignedRequest(
        req.method,
        req.raw_path,
        req.query_string,
        (*req.headers, ("authorization", value)),
        req.body,
    )
    with pytest.raises(IncompleteSignature, match="more than one Authorization header"):
        parse_authorization(doubled, VERSION)


def test_missing_date_headers_is_incomplete_signature() -> None:
    """Without X-Amz-Date or Date the header cannot be checked."""
    req = replace_header(create_request(), "x-amz-date", None)
    with pytest.raises(IncompleteSignature, match="'X-Amz-Date' or a 'Date' header"):
        parse_authorization(req, VERSION)


def test_missing_authorization_is_missing_authentication_token() -> None:
    """A request with no credentials at all is MissingAuthenticationToken (403)."""
    req = replace_header(create_request(), "authorization", None)
    with pytest.raises(MissingAuthenticationToken) as info:
        parse_authorization(req, VERSION)
    assert info.value.status == 403


def test_presigned_query_is_not_supported() -> None:
    """Query-string presigning is refused as IncompleteSignature, not treated as anonymous."""
    req = sign(f"{CREATE_URL}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00", "GET")
    req = replace_header(req, "authorization", None)
    with pytest.raises(IncompleteSignature, match="Query-string authentication"):
        parse_authorization(req, VERSION)


# --- pieces ----------------------------------------------------------------------------------


def test_repeated_headers_are_joined_with_comma() -> None:
    """`SignedRequest.header` joins repeated headers with ',' and ignores name case."""
    req = SignedRequest("GET", "/", "", (("x-a", "1"), ("x-b", "2"), ("x-a", "3")), b"")
    assert req.header("X-A") == "1,3"
    assert req.header("x-c") is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/a//b/./c/../d/", "/a/b/d/"),
        ("/a%20b/c~d", "/a%2520b/c~d"),
    ],
)
def test_canonical_uri(raw: str, canonical: str) -> None:
    """The canonical URI drops dot and empty segments and re-encodes the wire path."""
    assert canonical_uri(raw) == canonical


# --- through a real boto3 client -------------------------------------------------------------


class _Raw:
    """Just enough of a urllib3 response for botocore to read a body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


INVALIDATION_XML = (
    b'<?xml version="1.0"?>'
    b'<Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    b"<Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status>"
    b"<CreateTime>2026-11-23T19:20:00Z</CreateTime>"
    b"<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/index.html</Path></Items>"
    b"</Paths><CallerReference>ref-1</CallerReference></InvalidationBatch></Invalidation>"
)


@pytest.fixture
def captured() -> list[AWSPreparedRequest]:
    """Requests a boto3 client tried to send."""
    return []


def boto3_client(captured: list[AWSPreparedRequest], region: str) -> Any:
    """A cloudfront client whose HTTP layer records the prepared request and answers 201."""
    client = boto3.client(
        "cloudfront",
        endpoint_url="http://127.0.0.1:8087",
        region_name=region,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )

    def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(request.url, 201, {"Location": request.url}, _Raw(INVALIDATION_XML))

    client.meta.events.register("before-send.cloudfront", before_send)
    return client


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
def test_boto3_create_invalidation_as_sent_verifies(
    captured: list[AWSPreparedRequest], region: str
) -> None:
    """What boto3's create_invalidation actually puts on the wire verifies."""
    client = boto3_client(captured, region)
    client.create_invalidation(
        DistributionId="EDFDVBD6EXAMPLE",
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/index.html"]},
            "CallerReference": "ref-1",
        },
    )
    sent = captured[0]
    req = wire(sent.url, sent.method, sent.headers, sent.body)
    assert req.raw_path == f"/{VERSION}/distribution/EDFDVBD6EXAMPLE/invalidation"
    assert b"<CallerReference>ref-1</CallerReference>" in req.body
    check(req)


def test_boto3_list_and_get_with_awkward_ids_verify(captured: list[AWSPreparedRequest]) -> None:
    """boto3's encoding of query parameters and odd path labels verifies."""
    client = boto3_client(captured, "eu-west-3")
    client.list_invalidations(DistributionId="EDFDVBD6EXAMPLE", Marker="a b/c+é", MaxItems="2")
    client.get_invalidation(DistributionId="E 1/é~", Id="I+2")
    listed, got = (wire(s.url, s.method, s.headers, s.body) for s in captured[:2])
    assert listed.query_string
    assert "%" in got.raw_path
    check(listed)
    check(got)


def test_basic_format_writes_four_digit_years() -> None:
    """`X-Amz-Date: 00010101T000000Z` is read as the year 1 and written back the same way
    (strftime wrote "10101T000000Z", so the scope check refused it as IncompleteSignature
    instead of Signature expired)."""
    from invalidator.api.auth.request import format_basic

    assert format_basic(datetime(1, 1, 1, tzinfo=UTC)) == "00010101T000000Z"
    assert format_basic(datetime(2026, 11, 23, 19, 20, 0, tzinfo=UTC)) == "20261123T192000Z"
