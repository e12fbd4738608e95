"""SigV4 verification, recomputing the signature the way botocore and the JS SDK v3 sign.

CloudFront uses the generic SigV4 rules, not the S3 variant: the canonical URI is the path as
sent (already percent-encoded) with dot segments and empty segments removed, then URI-encoded a
second time (botocore `SigV4Auth._normalize_url_path`, JS `getCanonicalPath` with
`uriEscapePath`). Any region is accepted: clients sign with whatever region they were given.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, unquote_plus, urlsplit

from invalidator.api.auth.request import (
    SERVICE,
    SIGV4_ALGORITHM,
    TERMINATOR,
    ParsedSigV4,
    SignedRequest,
    check_clock_skew,
    format_basic,
)
from invalidator.domain.errors import SignatureDoesNotMatch

CONTENT_SHA256_MISMATCH = (
    "The provided 'x-amz-content-sha256' header does not match what was computed."
)


def verify_sigv4(req: SignedRequest, parsed: ParsedSigV4, secret: str, now: datetime) -> None:
    """Raise `SignatureDoesNotMatch` unless `parsed.signature` signs `req` with `secret`.

    Also `SignatureDoesNotMatch`: a request dated more than 5 minutes from `now` (AWS wording),
    a signed header absent from the request, and an `x-amz-content-sha256` header that is not
    the SHA-256 of the body (message `CONTENT_SHA256_MISMATCH`; `UNSIGNED-PAYLOAD` included).
    """
    check_clock_skew(parsed.request_time, now)
    body_hash = hashlib.sha256(req.body).hexdigest()
    sent_hash = req.header("x-amz-content-sha256")
    if sent_hash is not None and not hmac.compare_digest(
        sent_hash.strip().lower().encode("utf-8", "surrogatepass"), body_hash.encode()
    ):
        raise SignatureDoesNotMatch(CONTENT_SHA256_MISMATCH)
    payload_hash = sent_hash.strip() if sent_hash is not None else body_hash
    request = canonical_request(req, parsed.signed_headers, payload_hash)
    expected = _signature(secret, parsed, request)
    if not hmac.compare_digest(
        expected.encode(), parsed.signature.encode("utf-8", "surrogatepass")
    ):
        raise SignatureDoesNotMatch()


def canonical_request(
    req: SignedRequest, signed_headers: tuple[str, ...], payload_hash: str
) -> str:
    """The SigV4 canonical request over exactly `signed_headers`."""
    return "\n".join(
        (
            req.method.upper(),
            canonical_uri(req.raw_path),
            canonical_query(req.query_string),
            _canonical_headers(req, signed_headers) + "\n",
            ";".join(signed_headers),
            payload_hash,
        )
    )


def canonical_uri(raw_path: str) -> str:
    """Drop `.`, `..` and empty segments of the wire path, then URI-encode it again."""
    if not raw_path:
        return "/"
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    first = "/" if raw_path.startswith("/") else ""
    last = "/" if raw_path.endswith("/") and segments else ""
    return quote(first + "/".join(segments) + last, safe="/~")


def canonical_query(query_string: str) -> str:
    """Decode each pair, RFC 3986-encode it, sort by key then value, join with `&`.

    `+` decodes to a space, matching what botocore's own `AWSRequest` puts on the wire for
    `params`; the SDKs themselves always send `%20` and `%2B`.
    """
    pairs: list[tuple[str, str]] = []
    for item in query_string.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((_rfc3986(unquote_plus(key)), _rfc3986(unquote_plus(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _rfc3986(text: str) -> str:
    """Percent-encode everything except the RFC 3986 unreserved characters."""
    return quote(text, safe="-_.~")


def _canonical_headers(req: SignedRequest, signed_headers: tuple[str, ...]) -> str:
    """`name:value` lines; values trimmed, whitespace runs collapsed, repeats joined by ","."""
    lines = []
    for name in signed_headers:
        values = [" ".join(value.split()) for key, value in req.headers if key == name]
        if not values:
            raise SignatureDoesNotMatch()
        lines.append(f"{name}:{','.join(values)}")
    return "\n".join(lines)


def sign_sigv4(
    req: SignedRequest, access_key_id: str, secret: str, now: datetime, region: str = "us-east-1"
) -> str:
    """The Authorization header value for `req` (which must carry host and x-amz-date).

    Our own clients (the CLI) sign with this; the server verifies with `verify_sigv4`.
    """
    signed_headers = tuple(sorted({name for name, _ in req.headers}))
    amz_date = format_basic(now)
    parsed = ParsedSigV4(
        access_key_id=access_key_id,
        scope_date=amz_date[:8],
        region=region,
        service=SERVICE,
        signed_headers=signed_headers,
        signature="",
        amz_date=amz_date,
        request_time=now,
    )
    payload_hash = hashlib.sha256(req.body).hexdigest()
    signature = _signature(secret, parsed, canonical_request(req, signed_headers, payload_hash))
    return (
        f"{SIGV4_ALGORITHM} Credential={access_key_id}/{parsed.credential_scope}, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )


def _signature(secret: str, parsed: ParsedSigV4, request: str) -> str:
    """HMAC chain date → region → service → aws4_request, then over the string to sign."""
    string_to_sign = "\n".join(
        (
            SIGV4_ALGORITHM,
            parsed.amz_date,
            parsed.credential_scope,
            hashlib.sha256(request.encode("utf-8", "surrogatepass")).hexdigest(),
        )
    )
    key = _signing_key(secret, parsed.scope_date, parsed.region, parsed.service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=256)
def _signing_key(secret: str, scope_date: str, region: str, service: str) -> bytes:
    """The derived key (date → region → service → aws4_request); constant for a day.

    Cached per (secret, date, region, service) as AWS recommends: four HMACs fewer per
    request. The cache lives only in memory, like the secrets themselves; a rotated or
    revoked secret simply stops being looked up.
    """
    key = f"AWS4{secret}".encode()
    for part in (scope_date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return key


def signed_headers(
    method: str,
    endpoint: str,
    path: str,
    query: str,
    body: bytes,
    access_key_id: str,
    secret: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers (host, x-amz-date, extras, authorization) for a request our clients send."""
    now = datetime.now(UTC)
    headers = {"host": urlsplit(endpoint).netloc, "x-amz-date": format_basic(now)}
    headers.update({k.lower(): v for k, v in (extra or {}).items()})
    signed = SignedRequest(method, path, query, tuple(headers.items()), body)
    headers["authorization"] = sign_sigv4(signed, access_key_id, secret, now)
    return headers
