"""HTTP's own rules at the API, against a real server: one valid Host (the Location of what is
created is built from it), HEAD's Content-Length, percent-encoded path segments, 405's Allow."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support.envelope import assert_error
from tests.support.server import ServerProcess
from tests.support.signing import SignedClient, batch_xml, sign_headers

BAD_HOST = "The request must carry exactly one Host header holding host[:port]."


def _exchange(url: str, raw: bytes) -> httpx.Response:
    """Send raw bytes (with `Connection: close` in them) and read the one answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while more := sock.recv(65_536):
            data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    return httpx.Response(int(lines[0].split()[1]), headers=headers, content=body)


@pytest.mark.parametrize(
    "host_lines",
    [
        "",
        "Host: a.example\r\nHost: b.example\r\n",
        "Host: evil.example/x?y=\r\n",
        "Host: a b\r\n",
        "Host: \r\n",
    ],
    ids=["none", "two", "path-in-host", "space", "empty"],
)
def test_a_request_without_one_valid_host_is_refused(
    server: ServerProcess, dist_id: str, host_lines: str
) -> None:
    """RFC 9112 §3.2: none (HTTP/1.1) or several Host headers is a 400; so is one that is not
    host[:port], which would otherwise go into the Location of a 201."""
    raw = f"GET /2020-05-31/distribution/{dist_id}/invalidation HTTP/1.1\r\n{host_lines}"
    answer = _exchange(server.url, f"{raw}Connection: close\r\n\r\n".encode())
    assert_error(answer, 400, "InvalidArgument", BAD_HOST)


@pytest.mark.parametrize(
    ("version", "host_lines"),
    [
        ("1.0", ""),
        ("1.1", "Host: [::1]:8080\r\n"),
        ("1.1", "Host: 127.0.0.1\r\n"),
        ("1.1", "Host: my-host_1.example.com:80\r\n"),
    ],
    ids=["http-1.0-without", "ipv6-literal", "ipv4", "name-and-port"],
)
def test_valid_hosts_reach_authentication(
    server: ServerProcess, dist_id: str, version: str, host_lines: str
) -> None:
    """HTTP/1.0 needs no Host; names, addresses and IP literals pass (here: unsigned, so
    refused by authentication, after the Host check)."""
    raw = f"GET /2020-05-31/distribution/{dist_id}/invalidation HTTP/{version}\r\n{host_lines}"
    answer = _exchange(server.url, f"{raw}Connection: close\r\n\r\n".encode())
    assert answer.status_code == 403
    assert b"MissingAuthenticationToken" in answer.content


def test_head_carries_the_content_length_of_get(api: SignedClient, dist_id: str) -> None:
    """RFC 9110 §8.6: a HEAD's Content-Length, when sent, is the GET's; no body follows."""
    assert api.create(dist_id, batch_xml(["/a"], "head-1")).status_code == 201
    path = f"/2020-05-31/distribution/{dist_id}/invalidation"
    got, head = api.send("GET", path), api.send("HEAD", path)
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.headers["content-length"] == str(len(got.content)) != "0"
    assert head.content == b""
    missing = api.send("HEAD", f"{path}/INOSUCHINVALID")
    assert missing.status_code == 404 and missing.content == b""
    assert int(missing.headers["content-length"]) > 0


def test_an_encoded_slash_stays_in_its_segment(server: ServerProcess, dist_id: str) -> None:
    """boto3 sends Id 'a b/c?d' as `a%20b%2Fc%3Fd`: one segment, an unknown invalidation
    (NoSuchInvalidation), not a path of other segments (NoSuchResource)."""
    cf = server.client()
    with pytest.raises(ClientError) as caught:
        cf.get_invalidation(DistributionId=dist_id, Id="a b/c?d")
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "NoSuchInvalidation",
        404,
    )
    with pytest.raises(ClientError) as caught:
        cf.list_invalidations(DistributionId=f"{dist_id}/invalidation")
    assert caught.value.response["Error"]["Code"] == "NoSuchDistribution"


def test_encoded_segments_still_route(api: SignedClient, dist_id: str) -> None:
    """Percent-encoding a plain character changes nothing: `%45` is `E`."""
    assert api.create(dist_id, batch_xml(["/a"], "enc-1")).status_code == 201
    encoded = "%" + format(ord(dist_id[0]), "02X") + dist_id[1:]
    answer = api.send("GET", f"/2020-05-31/distribution/{encoded}/invalidation")
    assert answer.status_code == 200
    assert b"<Quantity>1</Quantity>" in answer.content


@pytest.mark.parametrize(
    ("method", "suffix", "allow"),
    [
        ("DELETE", "", "GET, HEAD, POST"),
        ("PUT", "", "GET, HEAD, POST"),
        ("POST", "/I2J0I21PCUYOIK", "GET, HEAD"),
    ],
)
def test_method_not_allowed_names_the_allowed_methods(
    api: SignedClient, dist_id: str, method: str, suffix: str, allow: str
) -> None:
    """RFC 9110 §15.5.6: a 405 carries `Allow`."""
    answer = api.send(method, f"/2020-05-31/distribution/{dist_id}/invalidation{suffix}")
    assert_error(
        answer, 405, "MethodNotAllowed", re.compile("The requested method is not allowed.+")
    )
    assert answer.headers["allow"] == allow


def test_an_internal_route_names_only_its_own_method(api: SignedClient) -> None:
    """The internal routes (metrics, edge protocol) match their method exactly: a HEAD is a
    405 whose Allow does not name HEAD."""
    answer = api.send("HEAD", "/_invalidator/metrics")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"


def test_two_authorization_headers_are_refused(server: ServerProcess, dist_id: str) -> None:
    """The same valid botocore signature sent twice: IncompleteSignature, not one header
    joined with ","; once, the same request is answered."""
    url = f"{server.url}/2020-05-31/distribution/{dist_id}/invalidation"
    signed = sign_headers("GET", url)
    once = httpx.get(url, headers=signed)
    assert once.status_code == 200, once.text
    twice = httpx.get(url, headers=[*signed.items(), ("Authorization", signed["Authorization"])])
    assert_error(
        twice, 400, "IncompleteSignature", "The request carries more than one Authorization header."
    )
