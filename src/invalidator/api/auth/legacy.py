"""The seed's signature scheme: `AWS <key>:Base64(HMAC-SHA1(secret, date))`.

Spoken by boto 2 (`HmacAuthV2Handler`) and s3cmd against API versions up to 2013-05-12. Only the
date string is signed, so the 5-minute skew window is all that bounds replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from invalidator.api.auth.request import ParsedLegacy, SignedRequest, check_clock_skew
from invalidator.domain.errors import SignatureDoesNotMatch


def legacy_signature(secret: str, signed_date: str) -> str:
    """Base64(HMAC-SHA1(secret, signed_date)): what a seed-era client sends."""
    digest = hmac.new(secret.encode(), signed_date.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_legacy(req: SignedRequest, parsed: ParsedLegacy, secret: str, now: datetime) -> None:
    """Raise `SignatureDoesNotMatch` unless the signature is good and dated within 5 minutes.

    `req` is unused beyond what `parse_authorization` already took from it; it is accepted so
    both schemes verify with the same call shape.
    """
    del req
    check_clock_skew(parsed.request_time, now)
    expected = legacy_signature(secret, parsed.signed_date)
    if not hmac.compare_digest(
        expected.encode(), parsed.signature.encode("utf-8", "surrogatepass")
    ):
        raise SignatureDoesNotMatch()
