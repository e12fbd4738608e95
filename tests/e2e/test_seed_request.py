"""The seed document's sample request (2013-05-12 API, `AWS key:signature`) sent byte for byte."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import socket
import xml.etree.ElementTree as ET
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess

pytestmark = pytest.mark.slow

SEED_BODY = (
    b'<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2013-05-12/">\n'
    b"   <Paths>\n"
    b"      <Quantity>2</Quantity>\n"
    b"      <Items>\n"
    b"         <Path>/image1.jpg</Path>\n"
    b"         <Path>/image2.jpg</Path>\n"
    b"      </Items>\n"
    b"   </Paths>\n"
    b"   <CallerReference>20120301090001</CallerReference>\n"
    b"</InvalidationBatch>"
)


def _ns(version: str) -> str:
    return f"{{http://cloudfront.amazonaws.com/doc/{version}/}}"


def _seed_auth() -> tuple[str, str]:
    """A Date header and `AWS key:Base64(HMAC-SHA1(secret, date))` for it."""
    date = formatdate(usegmt=True)
    digest = hmac.new(SECRET_ACCESS_KEY.encode(), date.encode(), hashlib.sha1).digest()
    return date, f"AWS {ACCESS_KEY_ID}:{base64.b64encode(digest).decode()}"


def _raw(
    server: ServerProcess, method: str, path: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Write exactly this request on a fresh socket and parse the answer."""
    parts = urlsplit(server.url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(wire)
        response = http.client.HTTPResponse(sock)
        response.begin()
        payload = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def _seed_get(server: ServerProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    date, auth = _seed_auth()
    return _raw(server, "GET", path, [("Date", date), ("Authorization", auth)], b"")


def _sigv4_get(server: ServerProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    """A GET signed with SigV4 by botocore (versions after 2013-05-12 refuse the seed scheme)."""
    request = AWSRequest(method="GET", url=server.url + path)
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "cloudfront", "us-east-1").add_auth(
        request
    )
    headers = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
    return _raw(server, "GET", path, headers, b"")


def _post_seed(
    server: ServerProcess, version: str, dist_id: str
) -> tuple[int, dict[str, str], bytes]:
    date, auth = _seed_auth()
    headers = [("Content-Type", "text/xml"), ("Date", date), ("Authorization", auth)]
    return _raw(
        server, "POST", f"/{version}/distribution/{dist_id}/invalidation", headers, SEED_BODY
    )


def test_seed_create_answers_in_2013_namespace(server: ServerProcess) -> None:
    """The seed POST gets 201, a 2013-05-12 Location and an Invalidation in that namespace."""
    dist = server.create_distribution()
    status, headers, body = _post_seed(server, "2013-05-12", dist.id)
    assert status == 201, body
    assert body.startswith(b'<?xml version="1.0"?>')
    assert headers["content-type"].startswith("text/xml")
    assert headers["x-amzn-requestid"]
    root = ET.fromstring(body)
    ns = _ns("2013-05-12")
    assert root.tag == ns + "Invalidation"
    assert [child.tag for child in root] == [
        ns + "Id",
        ns + "Status",
        ns + "CreateTime",
        ns + "InvalidationBatch",
    ]
    inv_id = root.findtext(ns + "Id")
    assert inv_id and inv_id.startswith("I")
    assert root.findtext(ns + "Status") in ("InProgress", "Completed")
    assert root.findtext(f"{ns}InvalidationBatch/{ns}CallerReference") == "20120301090001"
    paths = [p.text for p in root.iterfind(f"{ns}InvalidationBatch/{ns}Paths/{ns}Items/{ns}Path")]
    assert paths == ["/image1.jpg", "/image2.jpg"]
    assert root.findtext(f"{ns}InvalidationBatch/{ns}Paths/{ns}Quantity") == "2"
    assert headers["location"] == (
        f"{server.url}/2013-05-12/distribution/{dist.id}/invalidation/{inv_id}"
    )

    again_status, _, again = _post_seed(server, "2013-05-12", dist.id)
    assert again_status == 201
    assert ET.fromstring(again).findtext(ns + "Id") == inv_id


@pytest.mark.parametrize("version", ["2013-05-12", "2012-05-05", "2014-05-31"])
def test_get_and_list_answer_in_the_request_version(server: ServerProcess, version: str) -> None:
    """GetInvalidation and ListInvalidations use the namespace of the version requested."""
    dist = server.create_distribution()
    status, _, body = _post_seed(server, "2013-05-12", dist.id)
    assert status == 201, body
    inv_id = ET.fromstring(body).findtext(_ns("2013-05-12") + "Id")
    get = _sigv4_get if version == "2014-05-31" else _seed_get
    ns = _ns(version)
    base = f"/{version}/distribution/{dist.id}/invalidation"

    status, _, body = get(server, f"{base}/{inv_id}")
    assert status == 200, body
    root = ET.fromstring(body)
    assert root.tag == ns + "Invalidation"
    assert root.findtext(ns + "Id") == inv_id
    assert root.findtext(f"{ns}InvalidationBatch/{ns}CallerReference") == "20120301090001"

    status, _, body = get(server, base)
    assert status == 200, body
    root = ET.fromstring(body)
    assert root.tag == ns + "InvalidationList"
    assert root.findtext(ns + "Quantity") == "1"
    assert root.findtext(f"{ns}Items/{ns}InvalidationSummary/{ns}Id") == inv_id


def test_seed_scheme_refused_on_2020_05_31(server: ServerProcess) -> None:
    """`Authorization: AWS key:sig` on the 2020-05-31 API is IncompleteSignature (400)."""
    dist = server.create_distribution()
    status, _, body = _post_seed(server, "2020-05-31", dist.id)
    assert status == 400
    root = ET.fromstring(body)
    ns = _ns("2020-05-31")
    assert root.tag == ns + "ErrorResponse"
    assert root.findtext(f"{ns}Error/{ns}Code") == "IncompleteSignature"
    status, _, body = _seed_get(server, f"/2020-05-31/distribution/{dist.id}/invalidation")
    assert status == 400
    assert ET.fromstring(body).findtext(f"{ns}Error/{ns}Code") == "IncompleteSignature"
