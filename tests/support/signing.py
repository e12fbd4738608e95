"""Sign arbitrary requests with botocore's own SigV4 signer, and send them with httpx.

Tests that need a malformed body, a tampered body or a skewed clock still want a signature the
server accepts (or one that is wrong in exactly one way); botocore is the reference signer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from unittest import mock
from xml.sax.saxutils import escape

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY

VERSION = "2020-05-31"


def sign_headers(
    method: str,
    url: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    key_id: str = ACCESS_KEY_ID,
    secret: str = SECRET_ACCESS_KEY,
    region: str = "us-east-1",
    when: datetime | None = None,
) -> dict[str, str]:
    """The headers (given ones plus X-Amz-Date and Authorization) botocore signs `url` with.

    `when` signs as of that moment instead of now (for clock-skew tests).
    """
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(Credentials(key_id, secret), "cloudfront", region)
    if when is None:
        signer.add_auth(request)
    else:
        moment = when.astimezone(UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
            signer.add_auth(request)
    return dict(request.headers.items())


class SignedClient:
    """httpx against one server; every request signed by botocore unless told otherwise."""

    def __init__(
        self,
        base_url: str,
        key_id: str = ACCESS_KEY_ID,
        secret: str = SECRET_ACCESS_KEY,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> SignedClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        """The absolute URL of a path (with query string) on this server."""
        return self.base_url + path

    def send(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        sign: bool = True,
        sent_body: bytes | None = None,
        when: datetime | None = None,
        secret: str | None = None,
    ) -> httpx.Response:
        """Send `body` (or `sent_body`, to tamper after signing) signed over `body`.

        `when` signs as of another moment; `secret` signs with another secret.
        """
        all_headers = dict(headers or {})
        if sign:
            all_headers = sign_headers(
                method,
                self.url(path),
                body,
                all_headers,
                key_id=self.key_id,
                secret=self.secret if secret is None else secret,
                when=when,
            )
        return self.http.request(
            method,
            self.url(path),
            content=body if sent_body is None else sent_body,
            headers=all_headers,
        )

    def create(
        self,
        dist_id: str,
        body: bytes,
        version: str = VERSION,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST a raw CreateInvalidation body, signed."""
        return self.send("POST", f"/{version}/distribution/{dist_id}/invalidation", body, headers)

    def list(self, dist_id: str, query: str = "", version: str = VERSION) -> httpx.Response:
        """GET ListInvalidations with a raw query string."""
        suffix = f"?{query}" if query else ""
        return self.send("GET", f"/{version}/distribution/{dist_id}/invalidation{suffix}")

    def count(self, dist_id: str) -> int:
        """How many invalidations the distribution has (first page; tests stay under 100)."""
        listed = self.list(dist_id)
        assert listed.status_code == 200, listed.text
        found = re.search(rb"<Quantity>(\d+)</Quantity>", listed.content)
        assert found is not None, listed.text
        return int(found.group(1))


def batch_xml(
    paths: list[str],
    ref: str,
    quantity: int | str | None = None,
    version: str = VERSION,
) -> bytes:
    """An InvalidationBatch body as boto3 writes it (no declaration); text is escaped."""
    count = len(paths) if quantity is None else quantity
    items = "".join(f"<Path>{escape(p)}</Path>" for p in paths)
    items_xml = f"<Items>{items}</Items>" if paths else ""
    return (
        f'<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/{version}/">'
        f"<Paths><Quantity>{count}</Quantity>{items_xml}</Paths>"
        f"<CallerReference>{escape(ref)}</CallerReference></InvalidationBatch>"
    ).encode()
