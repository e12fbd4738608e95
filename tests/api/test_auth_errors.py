"""Authentication and authorization errors (spec §5, §6) against a real server process."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.envelope import assert_error
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess, server_env
from tests.support.signing import SignedClient, batch_xml

StartServer = Callable[..., ServerProcess]
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def _cli(*args: str) -> str:
    """Run the `invalidator` CLI with a clean environment; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "invalidator", *args],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def _create_key(data_dir: Path, *distributions: str) -> tuple[str, str]:
    flags = [f"--distribution={d}" for d in distributions]
    out = _cli("keys", "create", "--data-dir", str(data_dir), *flags)
    key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", out)
    secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", out)
    assert key_id is not None and secret is not None, out
    return key_id.group(1), secret.group(1)


def test_no_authorization_is_missing_authentication_token(api: SignedClient, dist_id: str) -> None:
    """No credentials at all: MissingAuthenticationToken (403); nothing is written."""
    path = f"/2020-05-31/distribution/{dist_id}/invalidation"
    assert_error(
        api.send("POST", path, batch_xml(["/a"], "x"), sign=False),
        403,
        "MissingAuthenticationToken",
        "Missing Authentication Token",
    )
    assert api.count(dist_id) == 0


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (
            "AWS4-HMAC-SHA256 garbage",
            "'garbage' not a valid key=value pair (missing equal-sign) in Authorization header.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAX/20200101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00",
            "Credential should be scoped to correct service: 'cloudfront'. ",
        ),
        (
            "Bearer abc",
            "Unsupported Authorization scheme; sign the request with AWS4-HMAC-SHA256.",
        ),
    ],
    ids=["garbled", "wrong-service", "other-scheme"],
)
def test_garbled_authorization_is_incomplete_signature(
    api: SignedClient, dist_id: str, authorization: str, message: str
) -> None:
    """A malformed Authorization header is IncompleteSignature (400)."""
    headers = {"Authorization": authorization, "X-Amz-Date": "20200101T000000Z"}
    path = f"/2020-05-31/distribution/{dist_id}/invalidation"
    assert_error(
        api.send("GET", path, headers=headers, sign=False),
        400,
        "IncompleteSignature",
        message,
        operation="ListInvalidations",
    )


_SIGV4_DATE_ONLY = (
    f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20200101/us-east-1/cloudfront/aws4_request, "
    "SignedHeaders=date;host, Signature=00"
)
_LEGACY = f"AWS {ACCESS_KEY_ID}:c2lnbmF0dXJl"
_NOT_RFC1123 = "Date must be an RFC 1123 HTTP date. Got '{}'."
_NOT_BASIC = "Date must be in ISO-8601 'basic format'. Got '{}'."


_BAD_DATES = {
    "sigv4-year-overflow": (
        "2020-05-31",
        _SIGV4_DATE_ONLY,
        "Date",
        "Mon, 01 Jan 99999999999 00:00 GMT",
    ),
    "seed-year-overflow": ("2013-05-12", _LEGACY, "Date", "Mon, 01 Jan 99999999999 00:00 GMT"),
    "seed-utc-overflow": ("2013-05-12", _LEGACY, "Date", "Fri, 31 Dec 9999 23:59:59 -2359"),
    "seed-words": ("2013-05-12", _LEGACY, "Date", "yesterday"),
    "seed-month-13": ("2013-05-12", _LEGACY, "X-Amz-Date", "20201399T000000Z"),
    "seed-year-0": ("2013-05-12", _LEGACY, "X-Amz-Date", "00000101T000000Z"),
    "sigv4-month-13": (
        "2020-05-31",
        _SIGV4_DATE_ONLY.replace("date;", "x-amz-date;"),
        "X-Amz-Date",
        "20201399T000000Z",
    ),
}


@pytest.mark.parametrize("case", _BAD_DATES.values(), ids=_BAD_DATES.keys())
def test_impossible_dates_are_incomplete_signature(
    api: SignedClient, dist_id: str, case: tuple[str, str, str, str]
) -> None:
    """Dates that are no moment (year overflow, month 13) are IncompleteSignature, not a 500."""
    version, authorization, header, value = case
    path = f"/{version}/distribution/{dist_id}/invalidation"
    template = _NOT_BASIC if header == "X-Amz-Date" else _NOT_RFC1123
    assert_error(
        api.send("GET", path, headers={"Authorization": authorization, header: value}, sign=False),
        400,
        "IncompleteSignature",
        template.format(value[:40]),
        version=version,
        operation="ListInvalidations",
    )


def _legacy_headers(secret: str = SECRET_ACCESS_KEY) -> dict[str, str]:
    date = formatdate(usegmt=True)
    digest = hmac.new(secret.encode(), date.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    return {"Date": date, "Authorization": f"AWS {ACCESS_KEY_ID}:{signature}"}


def test_seed_scheme_on_new_version_is_incomplete_signature(
    api: SignedClient, dist_id: str
) -> None:
    """`AWS key:signature` works on 2013-05-12 and is IncompleteSignature on 2020-05-31."""
    path = f"/{{}}/distribution/{dist_id}/invalidation"
    accepted = api.send("GET", path.format("2013-05-12"), headers=_legacy_headers(), sign=False)
    assert accepted.status_code == 200, accepted.text
    assert_error(
        api.send("GET", path.format("2020-05-31"), headers=_legacy_headers(), sign=False),
        400,
        "IncompleteSignature",
        "The 'AWS <key>:<signature>' scheme is not accepted on API version 2020-05-31; "
        "sign the request with AWS4-HMAC-SHA256.",
        operation="ListInvalidations",
    )


def test_unknown_key_is_invalid_client_token_id(server: ServerProcess, dist_id: str) -> None:
    """A key the server does not know: InvalidClientTokenId (403); boto3 reads the same."""
    with SignedClient(server.url, key_id="AKIAUNKNOWNKEY000000") as api:
        assert_error(
            api.create(dist_id, batch_xml(["/a"], "x")),
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    with pytest.raises(ClientError) as err:
        server.client(key_id="AKIAUNKNOWNKEY000000", config=NO_RETRIES).list_invalidations(
            DistributionId=dist_id
        )
    assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_revoked_key_is_invalid_client_token_id(start_server: StartServer) -> None:
    """A key revoked with `invalidator keys revoke` is refused with InvalidClientTokenId."""
    srv = start_server()
    dist = srv.create_distribution()
    key_id, secret = _create_key(srv.data_dir)
    with SignedClient(srv.url, key_id=key_id, secret=secret) as api:
        assert api.list(dist.id).status_code == 200
        _cli("keys", "revoke", key_id, "--data-dir", str(srv.data_dir))
        assert_error(
            api.list(dist.id),
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            operation="ListInvalidations",
        )


def test_wrong_secret_is_signature_does_not_match(api: SignedClient, dist_id: str) -> None:
    """Signed with the wrong secret: SignatureDoesNotMatch (403) with AWS's message."""
    path = f"/2020-05-31/distribution/{dist_id}/invalidation"
    assert_error(
        api.send("POST", path, batch_xml(["/a"], "x"), secret="not-the-secret"),
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.",
    )
    assert api.count(dist_id) == 0


def test_tampered_body_is_signature_does_not_match(api: SignedClient, dist_id: str) -> None:
    """A body changed after signing: SignatureDoesNotMatch (403); nothing is written."""
    path = f"/2020-05-31/distribution/{dist_id}/invalidation"
    signed, sent = batch_xml(["/a"], "x"), batch_xml(["/*"], "x")
    response = api.send("POST", path, signed, sent_body=sent)
    assert_error(response, 403, "SignatureDoesNotMatch", re.compile(r"The request signature .+"))
    assert api.count(dist_id) == 0


@pytest.mark.parametrize(
    ("offset", "pattern"),
    [
        (-6, r"Signature expired: (\w+) is now earlier than (\w+) \((\w+) - 5 min\.\)"),
        (6, r"Signature not yet current: (\w+) is still later than (\w+) \((\w+) \+ 5 min\.\)"),
    ],
    ids=["past", "future"],
)
def test_skewed_date_is_signature_does_not_match(
    api: SignedClient, dist_id: str, offset: int, pattern: str
) -> None:
    """A request dated 6 minutes off: SignatureDoesNotMatch with AWS's expiry wording."""
    when = datetime.now(UTC) + timedelta(minutes=offset)
    path = f"/2020-05-31/distribution/{dist_id}/invalidation"
    response = api.send("POST", path, batch_xml(["/a"], "x"), when=when)
    message = assert_error(response, 403, "SignatureDoesNotMatch", re.compile(pattern))
    found = re.fullmatch(pattern, message)
    assert found is not None
    sent, bound, now = (
        datetime.strptime(g, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) for g in found.groups()
    )
    assert found.group(1) == response.request.headers["x-amz-date"]
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    assert bound == now + timedelta(minutes=5 if offset > 0 else -5)
    assert abs(sent - now) >= timedelta(minutes=5)
    assert api.count(dist_id) == 0


def test_key_limited_to_other_distribution_is_access_denied(start_server: StartServer) -> None:
    """A key created for one distribution gets AccessDenied (403) with the ARN on another."""
    srv = start_server()
    allowed, other = srv.create_distribution(), srv.create_distribution()
    key_id, secret = _create_key(srv.data_dir, allowed.id)
    with SignedClient(srv.url, key_id=key_id, secret=secret) as api:
        assert api.create(allowed.id, batch_xml(["/a"], "x")).status_code == 201
        assert_error(
            api.create(other.id, batch_xml(["/a"], "x")),
            403,
            "AccessDenied",
            f"User: {key_id} is not authorized to perform: cloudfront:CreateInvalidation on "
            f"resource: arn:aws:cloudfront::000000000000:distribution/{other.id}",
        )
    with SignedClient(srv.url) as admin:
        assert admin.count(other.id) == 0


def test_a_key_limited_to_some_distributions_lists_only_those(start_server: StartServer) -> None:
    """ListDistributions with a key limited to some distributions pages through those only
    (in Id order, NextMarker their last Id); an admin key lists them all."""
    srv = start_server()
    made = sorted(srv.create_distribution().id for _ in range(5))
    key_id, secret = _create_key(srv.data_dir, made[1], made[3], made[4])
    scoped = srv.client(key_id=key_id, secret=secret)
    pages = list(
        scoped.get_paginator("list_distributions").paginate(PaginationConfig={"PageSize": 2})
    )
    listed = [[s["Id"] for s in p["DistributionList"].get("Items", [])] for p in pages]
    assert listed == [[made[1], made[3]], [made[4]]]
    assert pages[0]["DistributionList"]["NextMarker"] == made[3]
    everything = srv.client().list_distributions()["DistributionList"]
    assert [s["Id"] for s in everything["Items"]] == made


def test_a_refused_signature_is_logged_with_the_key_it_claimed(
    start_server: StartServer,
) -> None:
    """SignatureDoesNotMatch and InvalidClientTokenId are logged with the access key id the
    request named (an operator must see which key fails; "-" said nothing), never a secret."""
    import json
    import time

    srv = start_server(INVALIDATOR_LOG_LEVEL="info")
    dist = srv.create_distribution()
    path = f"/2020-05-31/distribution/{dist.id}/invalidation"
    with SignedClient(srv.url) as api:
        assert api.send("POST", path, batch_xml(["/a"], "x"), secret="wrong").status_code == 403
    unknown = "AKIAUNKNOWNKEY000000"
    with SignedClient(srv.url, key_id=unknown, secret="whatever") as stranger:
        assert stranger.send("GET", path).status_code == 403
    wanted = {"SignatureDoesNotMatch": ACCESS_KEY_ID, "InvalidClientTokenId": unknown}
    deadline = time.monotonic() + 5
    while True:
        records = [json.loads(line) for line in srv.output if line.startswith("{")]
        seen = {r.get("error_code"): r.get("access_key_id") for r in records
                if r.get("message") == "request"}  # fmt: skip
        if all(code in seen for code in wanted):
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
    assert {code: seen[code] for code in wanted} == wanted
    assert not any(SECRET_ACCESS_KEY in line or "whatever" in line for line in srv.output)
