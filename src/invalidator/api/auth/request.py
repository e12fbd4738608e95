"""The signed request as it arrived, and the parsing of its Authorization header.

Pure functions over what was on the wire: no I/O, no key lookup. Parsing only establishes
*who claims* to have signed and *what* the verifier must recompute; `sigv4.verify_sigv4` and
`legacy.verify_legacy` decide whether the signature is good. Messages never carry the
signature or any secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from invalidator.domain.errors import (
    IncompleteSignature,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)

SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "cloudfront"
TERMINATOR = "aws4_request"
LEGACY_LAST_VERSION = "2013-05-12"
MAX_SKEW = timedelta(minutes=5)

_BASIC_DATE = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE = re.compile(r"\d{8}")
_PRESIGN_PARAMS = ("x-amz-algorithm=", "x-amz-credential=", "x-amz-signature=")


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request exactly as received, before any decoding that would lose what was signed."""

    method: str
    raw_path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case); repeated headers joined with ","."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key == wanted]
        return ",".join(values) if values else None


@dataclass(frozen=True)
class Credentials:
    """The identity a request claims, before the key is looked up."""

    access_key_id: str


@dataclass(frozen=True)
class ParsedSigV4:
    """An `AWS4-HMAC-SHA256` Authorization header plus the request time it is bound to."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str = field(repr=False)
    amz_date: str
    request_time: datetime

    @property
    def credentials(self) -> Credentials:
        """The claimed identity."""
        return Credentials(self.access_key_id)

    @property
    def credential_scope(self) -> str:
        """`<date>/<region>/<service>/aws4_request`, as it enters the string to sign."""
        return f"{self.scope_date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True)
class ParsedLegacy:
    """The seed's `AWS <key>:<signature>` header and the date string that was signed."""

    access_key_id: str
    signature: str = field(repr=False)
    signed_date: str
    request_time: datetime

    @property
    def credentials(self) -> Credentials:
        """The claimed identity."""
        return Credentials(self.access_key_id)


def parse_authorization(req: SignedRequest, api_version: str) -> ParsedSigV4 | ParsedLegacy:
    """Parse the Authorization header of `req` for the API version named in its path.

    Raises `MissingAuthenticationToken` when the request carries no credentials at all and
    `IncompleteSignature` when it carries them in a shape we do not accept. Query-string
    (presigned) authentication is not supported and is answered with `IncompleteSignature`.
    """
    values = [value for key, value in req.headers if key == "authorization"]
    if len(values) > 1:  # joined, the two would read as one list of parameters
        raise IncompleteSignature("The request carries more than one Authorization header.")
    value = values[0] if values else None
    if value is None or not value.strip():
        if any(p in req.query_string.lower() for p in _PRESIGN_PARAMS):
            raise IncompleteSignature(
                "Query-string authentication is not supported; "
                "sign the request with an Authorization header."
            )
        raise MissingAuthenticationToken()
    scheme, _, rest = value.strip().partition(" ")
    if scheme == SIGV4_ALGORITHM:
        return _parse_sigv4(req, rest)
    if scheme == "AWS":
        if api_version > LEGACY_LAST_VERSION:
            raise IncompleteSignature(
                f"The 'AWS <key>:<signature>' scheme is not accepted on API version "
                f"{api_version}; sign the request with {SIGV4_ALGORITHM}."
            )
        return _parse_legacy(req, rest)
    raise IncompleteSignature(
        f"Unsupported Authorization scheme; sign the request with {SIGV4_ALGORITHM}."
    )


def check_clock_skew(request_time: datetime, now: datetime) -> None:
    """Reject a request dated more than five minutes from `now`, either way (AWS wording).

    Dates are formatted only for the error message: this runs on every request."""
    now = _as_utc(now)
    if request_time < now - MAX_SKEW:
        raise SignatureDoesNotMatch(
            f"Signature expired: {format_basic(request_time)} is now earlier than "
            f"{format_basic(now - MAX_SKEW)} ({format_basic(now)} - 5 min.)"
        )
    if request_time > now + MAX_SKEW:
        raise SignatureDoesNotMatch(
            f"Signature not yet current: {format_basic(request_time)} is still later than "
            f"{format_basic(now + MAX_SKEW)} ({format_basic(now)} + 5 min.)"
        )


def format_basic(moment: datetime) -> str:
    """ISO 8601 basic format in UTC, as SigV4 writes dates: 20261123T192000Z (the year
    always four digits: strftime's %Y writes the year 1 as "1")."""
    m = _as_utc(moment)
    return f"{m.year:04d}{m.month:02d}{m.day:02d}T{m.hour:02d}{m.minute:02d}{m.second:02d}Z"


def _as_utc(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC; an aware one is converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_sigv4(req: SignedRequest, rest: str) -> ParsedSigV4:
    """Split `Credential=..., SignedHeaders=..., Signature=...` and check the scope."""
    params: dict[str, str] = {}
    for part in rest.split(","):
        item = part.strip()
        if not item:
            continue
        key, eq, val = item.partition("=")
        if not eq:
            raise IncompleteSignature(
                f"'{key[:40]}' not a valid key=value pair (missing equal-sign) in "
                "Authorization header."
            )
        params[key.strip()] = val.strip()
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    amz_date = req.header("x-amz-date")
    date = req.header("date")
    if amz_date is None and date is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        raise IncompleteSignature(" ".join(problems))

    access_key_id, scope_date, region, service = _parse_scope(params["Credential"])
    signed_headers = tuple(params["SignedHeaders"].lower().split(";"))
    if any(not name.strip() or name != name.strip() for name in signed_headers):
        raise IncompleteSignature("SignedHeaders must be a ';'-separated list of header names.")
    if "host" not in signed_headers:
        raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")

    request_time = _sigv4_time(amz_date, date)
    if amz_date is not None and request_time.year >= 1000:
        basic = amz_date.strip()  # already the basic format of that time (strftime costs)
    else:
        basic = format_basic(request_time)
    if scope_date != basic[:8]:
        raise IncompleteSignature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{basic[:8]}', from '{basic}'."
        )
    return ParsedSigV4(
        access_key_id=access_key_id,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=signed_headers,
        signature=params["Signature"],
        amz_date=basic,
        request_time=request_time,
    )


def _parse_scope(credential: str) -> tuple[str, str, str, str]:
    """`<key>/<yyyymmdd>/<region>/cloudfront/aws4_request` → (key, date, region, service)."""
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        raise IncompleteSignature(
            "Credential should be of the form "
            "'<access key>/<YYYYMMDD>/<region>/cloudfront/aws4_request'."
        )
    access_key_id, scope_date, region, service, terminator = parts
    if not _SCOPE_DATE.fullmatch(scope_date):
        raise IncompleteSignature(
            f"Credential should be scoped to a valid date (YYYYMMDD), not '{scope_date[:20]}'."
        )
    if not region:
        raise IncompleteSignature("Credential should be scoped to a valid region. ")
    if service != SERVICE:
        raise IncompleteSignature(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if terminator != TERMINATOR:
        raise IncompleteSignature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator[:20]}'."
        )
    return access_key_id, scope_date, region, service


def _sigv4_time(amz_date: str | None, date: str | None) -> datetime:
    """The signing time: X-Amz-Date (basic ISO 8601) when sent, else the HTTP Date header."""
    if amz_date is not None:
        text = amz_date.strip()
        if not _BASIC_DATE.fullmatch(text):
            raise IncompleteSignature(
                f"Date must be in ISO-8601 'basic format'. Got '{amz_date[:40]}'."
            )
        try:  # the pattern fixed every digit's place; datetime() checks the ranges (strptime's
            # cost, ~10 µs, on every request otherwise)
            return datetime(
                int(text[0:4]), int(text[4:6]), int(text[6:8]),
                int(text[9:11]), int(text[11:13]), int(text[13:15]), tzinfo=UTC,
            )  # fmt: skip
        except ValueError as exc:
            raise IncompleteSignature(
                f"Date must be in ISO-8601 'basic format'. Got '{amz_date[:40]}'."
            ) from exc
    return _http_date(date or "")


def _http_date(value: str) -> datetime:
    """Parse an RFC 1123 date ("Thu, 05 Dec 2019 18:24:51 GMT") as UTC."""
    try:  # a year past 9999, or one that UTC pushes past it, overflows
        return _as_utc(parsedate_to_datetime(value.strip()))
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise IncompleteSignature(
            f"Date must be an RFC 1123 HTTP date. Got '{value[:40]}'."
        ) from exc


def _parse_legacy(req: SignedRequest, rest: str) -> ParsedLegacy:
    """`AWS <key>:<signature>`; the signed string is X-Amz-Date if sent, else Date."""
    access_key_id, colon, signature = rest.strip().partition(":")
    if not colon or not access_key_id or not signature:
        raise IncompleteSignature("Authorization header must be 'AWS <access key>:<signature>'.")
    signed_date = req.header("x-amz-date")
    if signed_date is None:
        signed_date = req.header("date")
    if signed_date is None:
        raise IncompleteSignature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    stripped = signed_date.strip()
    if _BASIC_DATE.fullmatch(stripped):
        request_time = _sigv4_time(stripped, None)  # IncompleteSignature for 20201399T...
    else:
        request_time = _http_date(stripped)
    return ParsedLegacy(
        access_key_id=access_key_id.strip(),
        signature=signature.strip(),
        signed_date=stripped,
        request_time=request_time,
    )
