"""The seed-era `AWS <key>:<signature>` scheme: HMAC-SHA1 over the date header."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from invalidator.api.auth.legacy import legacy_signature, verify_legacy
from invalidator.api.auth.request import ParsedLegacy, SignedRequest, parse_authorization
from invalidator.domain.errors import IncompleteSignature, SignatureDoesNotMatch

KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DATE = "Thu, 05 Dec 2019 18:24:51 GMT"
NOW = datetime(2019, 12, 5, 18, 24, 51, tzinfo=UTC)
OLD_VERSION = "2012-07-01"


def boto2_signature(secret: str, date: str) -> str:
    """What boto 2's HmacAuthV2Handler sends: Base64(HMAC-SHA1(secret, Date))."""
    return base64.b64encode(
        hmac.new(secret.encode(), date.encode(), hashlib.sha1).digest()
    ).decode()


def request(*headers: tuple[str, str]) -> SignedRequest:
    """A seed-era CreateInvalidation POST with the given headers."""
    path = f"/{OLD_VERSION}/distribution/EDFDVBD6EXAMPLE/invalidation"
    return SignedRequest("POST", path, "", headers, b"<InvalidationBatch/>")


def signed(date: str = DATE, secret: str = SECRET) -> SignedRequest:
    """A request signed the boto 2 way over its Date header."""
    return request(("date", date), ("authorization", f"AWS {KEY}:{boto2_signature(secret, date)}"))


def check(req: SignedRequest, version: str = OLD_VERSION, now: datetime = NOW) -> ParsedLegacy:
    """Parse and verify as the server would."""
    parsed = parse_authorization(req, version)
    assert isinstance(parsed, ParsedLegacy)
    verify_legacy(req, parsed, SECRET, now)
    return parsed


def test_good_signature_verifies() -> None:
    """A boto 2 style signature over Date verifies and names the claimed key."""
    parsed = check(signed())
    assert parsed.access_key_id == KEY
    assert parsed.credentials.access_key_id == KEY


def test_legacy_signature_matches_boto2() -> None:
    """Our signer agrees with boto 2's formula."""
    assert legacy_signature(SECRET, DATE) == boto2_signature(SECRET, DATE)


def test_wrong_secret_is_rejected_without_leaking() -> None:
    """Another secret fails; the message holds neither secret nor signature."""
    req = signed(secret="other-secret")
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(req)
    parsed = parse_authorization(req, OLD_VERSION)
    for text in (str(info.value), repr(parsed)):
        assert boto2_signature("other-secret", DATE) not in text
        assert SECRET not in text


def test_signature_over_another_date_is_rejected() -> None:
    """Changing the Date after signing breaks the signature."""
    sig = boto2_signature(SECRET, DATE)
    req = request(("date", "Thu, 05 Dec 2019 18:24:52 GMT"), ("authorization", f"AWS {KEY}:{sig}"))
    with pytest.raises(SignatureDoesNotMatch):
        check(req)


def test_x_amz_date_takes_precedence_over_date() -> None:
    """When x-amz-date is sent, it, not Date, is the signed string."""
    amz = "Thu, 05 Dec 2019 18:25:00 GMT"
    good = request(
        ("date", "Wed, 01 Jan 2014 00:00:00 GMT"),
        ("x-amz-date", amz),
        ("authorization", f"AWS {KEY}:{boto2_signature(SECRET, amz)}"),
    )
    assert check(good).signed_date == amz
    over_date = request(
        ("date", DATE),
        ("x-amz-date", amz),
        ("authorization", f"AWS {KEY}:{boto2_signature(SECRET, DATE)}"),
    )
    with pytest.raises(SignatureDoesNotMatch):
        check(over_date)


def test_skew_beyond_five_minutes_is_rejected() -> None:
    """The 5-minute skew rule applies, with AWS's wording."""
    req = signed()
    check(req, now=NOW + timedelta(minutes=5))
    with pytest.raises(SignatureDoesNotMatch) as info:
        check(req, now=NOW + timedelta(minutes=6))
    assert str(info.value) == (
        "Signature expired: 20191205T182451Z is now earlier than 20191205T182551Z "
        "(20191205T183051Z - 5 min.)"
    )
    with pytest.raises(
        SignatureDoesNotMatch, match=r"^Signature not yet current: 20191205T182451Z"
    ):
        check(req, now=NOW - timedelta(minutes=6))


@pytest.mark.parametrize("version", ["2010-11-01", "2012-07-01", "2013-05-12"])
def test_accepted_up_to_2013_05_12(version: str) -> None:
    """The scheme is accepted on API versions up to and including 2013-05-12."""
    check(signed(), version=version)


@pytest.mark.parametrize("version", ["2013-08-26", "2020-05-31"])
def test_refused_on_later_versions(version: str) -> None:
    """Later API versions answer the seed scheme with IncompleteSignature."""
    with pytest.raises(IncompleteSignature, match="not accepted on API version"):
        parse_authorization(signed(), version)


@pytest.mark.parametrize("authorization", [f"AWS {KEY}", f"AWS {KEY}:", "AWS :abc", "AWS"])
def test_malformed_header_is_incomplete_signature(authorization: str) -> None:
    """`AWS` without both key and signature is IncompleteSignature."""
    with pytest.raises(IncompleteSignature):
        parse_authorization(request(("date", DATE), ("authorization", authorization)), OLD_VERSION)


def test_missing_date_is_incomplete_signature() -> None:
    """Without Date or x-amz-date there is nothing signed."""
    req = request(("authorization", f"AWS {KEY}:{boto2_signature(SECRET, DATE)}"))
    with pytest.raises(IncompleteSignature, match="'X-Amz-Date' or a 'Date' header"):
        parse_authorization(req, OLD_VERSION)


def test_unparseable_date_is_incomplete_signature() -> None:
    """A Date that is not an HTTP date cannot be checked against the clock."""
    with pytest.raises(IncompleteSignature, match="RFC 1123"):
        parse_authorization(signed(date="yesterday"), OLD_VERSION)
