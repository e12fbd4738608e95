"""Hostile request bodies against a real server: a fast, clear 4xx, nothing stored, still up."""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.envelope import assert_error
from tests.support.server import ServerProcess, server_env
from tests.support.signing import SignedClient, batch_xml, sign_headers

NOT_WELL_FORMED = "The XML document you provided was not well-formed"
NO_DTD = f"{NOT_WELL_FORMED}: document type declarations are not allowed."
BATCH_TAIL = (
    b"<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/&x;</Path></Items>"
    b"</Paths><CallerReference>evil</CallerReference></InvalidationBatch>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]>"
    + BATCH_TAIL.replace(b"&x;", b"&lol9;")
)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A private server with a 1 s body deadline and a 1,000-byte body limit."""
    args = ["--body-timeout", "1", "--max-body-bytes", "1000"]
    proc = ServerProcess(tmp_path_factory.mktemp("small"), server_env(), args).start()
    yield proc
    proc.kill()


def _assert_untouched_and_healthy(api: SignedClient, dist_id: str) -> None:
    """Nothing was stored for the distribution, and a normal create still succeeds."""
    listed = api.list(dist_id)
    assert listed.status_code == 200
    assert b"<Quantity>0</Quantity>" in listed.content
    created = api.create(dist_id, batch_xml(["/after"], "healthy"))
    assert created.status_code == 201, created.text


HOSTILE_BODIES = {
    "not-xml": (b"Paths=/a&CallerReference=x", 400, "MalformedXML", rf"{NOT_WELL_FORMED}: .+\."),
    "json": (b'{"Paths": ["/a"]}', 400, "MalformedXML", rf"{NOT_WELL_FORMED}: .+\."),
    "truncated": (
        batch_xml(["/a"], "t")[:-30],
        400,
        "MalformedXML",
        rf"{NOT_WELL_FORMED}: .+\.",
    ),
    "wrong-root": (
        b"<CreateInvalidationRequest/>",
        400,
        "MalformedXML",
        r"Unexpected root element 'CreateInvalidationRequest'; expected InvalidationBatch\.",
    ),
    "unexpected-child": (
        batch_xml(["/a"], "x").replace(b"</InvalidationBatch>", b"<Evil/></InvalidationBatch>"),
        400,
        "MalformedXML",
        r"Unexpected element 'Evil' in InvalidationBatch\.",
    ),
    "huge-quantity": (
        batch_xml(["/a"], "h", quantity="99999999999999999999"),
        400,
        "MalformedXML",
        r"1 validation error detected: Value '99999999999999999999' at "
        r"'invalidationBatch\.paths\.quantity' failed to satisfy constraint: "
        r"Member must be a valid integer",
    ),
    "int32-quantity": (
        batch_xml(["/a"], "i", quantity="2147483647"),
        400,
        "InconsistentQuantities",
        r"The specified quantity of Paths \(2147483647\) does not match the actual quantity "
        r"supplied \(1\)\.",
    ),
    "over-int32-quantity": (
        batch_xml(["/a"], "o", quantity="2147483648"),
        400,
        "MalformedXML",
        r"1 validation error detected: Value '2147483648' at "
        r"'invalidationBatch\.paths\.quantity' failed to satisfy constraint: "
        r"Member must be a valid integer",
    ),
    "second-paths": (
        batch_xml(["/a"], "p").replace(
            b"</Paths>",
            b"</Paths><Paths><Quantity>1</Quantity><Items><Path>/b</Path></Items></Paths>",
        ),
        400,
        "MalformedXML",
        r"Element 'Paths' appears more than once in InvalidationBatch\.",
    ),
    "second-items": (
        batch_xml(["/a"], "s").replace(b"</Items>", b"</Items><Items><Path>/b</Path></Items>"),
        400,
        "MalformedXML",
        r"Element 'Items' appears more than once in Paths\.",
    ),
    "foreign-namespace": (
        re.sub(
            rb'xmlns="[^"]*"',
            b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"',
            batch_xml(["/a"], "f"),
        ),
        400,
        "MalformedXML",
        r"The namespace 'http://s3\.amazonaws\.com/doc/2006-03-01/' of 'InvalidationBatch' is not "
        r"a CloudFront namespace \(http://cloudfront\.amazonaws\.com/doc/VERSION/\)\.",
    ),
    "negative-quantity": (
        batch_xml(["/a"], "n", quantity=-1),
        400,
        "InconsistentQuantities",
        r"The specified quantity of Paths \(-1\) does not match the actual quantity "
        r"supplied \(1\)\.",
    ),
    "non-utf8": (
        batch_xml(["/a"], "u").replace(b"/a", b"/\xff\xfe\xc3"),
        400,
        "MalformedXML",
        rf"{NOT_WELL_FORMED}: .+ at line 1, column \d+\.",
    ),
    "latin1-declared": (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>' + batch_xml(["/a"], "l"),
        400,
        "MalformedXML",
        rf'{NOT_WELL_FORMED}: encoding "ISO-8859-1" is not supported, send UTF-8\.',
    ),
    "utf16": (
        batch_xml(["/a"], "w").decode().encode("utf-16"),
        400,
        "MalformedXML",
        rf"{NOT_WELL_FORMED}: only UTF-8 is supported\.",
    ),
    "control-char-ref": (
        batch_xml(["/a"], "c").replace(b"/a", b"/&#1;"),
        400,
        "MalformedXML",
        rf"{NOT_WELL_FORMED}: .+\.",
    ),
    "xxe-file": (
        b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + BATCH_TAIL,
        400,
        "MalformedXML",
        re.escape(NO_DTD),
    ),
    "xxe-parameter-entity": (
        b'<!DOCTYPE b [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>' + BATCH_TAIL,
        400,
        "MalformedXML",
        re.escape(NO_DTD),
    ),
    "billion-laughs": (BILLION_LAUGHS, 400, "MalformedXML", re.escape(NO_DTD)),
    "undeclared-entity": (BATCH_TAIL, 400, "MalformedXML", rf"{NOT_WELL_FORMED}: .+\."),
    "deep-nesting": (
        b"<InvalidationBatch>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</InvalidationBatch>",
        400,
        "MalformedXML",
        rf"{NOT_WELL_FORMED}: elements nested deeper than 32 levels\.",
    ),
    "element-flood": (
        b"<InvalidationBatch><Paths>" + b"<Q/>" * 100_001 + b"</Paths></InvalidationBatch>",
        400,
        "MalformedXML",
        rf"{NOT_WELL_FORMED}: more than 100000 elements\.",
    ),
    "whitespace-only": (
        b" \r\n\t ",
        400,
        "MissingBody",
        r"This operation requires a body\. Ensure that the body is present and the "
        r"Content-Type header is set\.",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_body_is_refused(
    server: ServerProcess, api: SignedClient, case: tuple[bytes, int, str, str]
) -> None:
    """Each hostile body gets its 4xx envelope within 2 s and leaves nothing behind."""
    body, status, code, pattern = case
    dist = server.create_distribution()
    started = time.monotonic()
    response = api.create(dist.id, body, headers={"Content-Type": "application/xml"})
    assert time.monotonic() - started < 2.0
    message = assert_error(response, status, code, re.compile(pattern))
    assert "root:" not in message and "/bin/" not in message
    _assert_untouched_and_healthy(api, dist.id)


def test_post_without_body_is_missing_body(server: ServerProcess, api: SignedClient) -> None:
    """A POST with no body and no Content-Type is MissingBody (400)."""
    dist = server.create_distribution()
    path = f"/2020-05-31/distribution/{dist.id}/invalidation"
    response = api.send("POST", path)
    assert response.request.headers.get("content-length") in (None, "0")
    assert_error(
        response,
        400,
        "MissingBody",
        "This operation requires a body. Ensure that the body is present and the "
        "Content-Type header is set.",
    )
    _assert_untouched_and_healthy(api, dist.id)


def test_xxe_http_entity_is_never_fetched(server: ServerProcess, api: SignedClient) -> None:
    """An external entity pointing at an HTTP listener is refused and never fetched."""
    dist = server.create_distribution()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        body = (
            f'<!DOCTYPE b [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>'.encode() + BATCH_TAIL
        )
        started = time.monotonic()
        response = api.create(dist.id, body)
        assert time.monotonic() - started < 2.0
        assert_error(response, 400, "MalformedXML", NO_DTD)
        readable, _, _ = select.select([listener], [], [], 0.2)
        assert readable == [], "the server connected to the entity's URL"
    _assert_untouched_and_healthy(api, dist.id)


def test_body_over_default_limit_is_413(server: ServerProcess, api: SignedClient) -> None:
    """A body over the default 4 MiB limit is BatchTooLarge (413) from Content-Length alone."""
    dist = server.create_distribution()
    path = f"/2020-05-31/distribution/{dist.id}/invalidation"
    body = batch_xml(["/a"], "x").replace(b"/a", b"/" + b"a" * (4 * 1024 * 1024))
    status, headers, answer, sent = _raw_exchange(
        server.url, "POST", path, body, sign=True, pace=0.0
    )
    assert sent < len(body)  # answered before the body was even sent
    assert_error(
        _as_response(status, headers, answer),
        413,
        "BatchTooLarge",
        f"The request body exceeds the limit of {4 * 1024 * 1024} bytes.",
    )
    _assert_untouched_and_healthy(api, dist.id)


def test_slow_body_is_request_timeout(small_server: ServerProcess) -> None:
    """A body dribbled slower than --body-timeout 1 is RequestTimeout (408) in about 1 s."""
    dist = small_server.create_distribution()
    path = f"/2020-05-31/distribution/{dist.id}/invalidation"
    started = time.monotonic()
    status, headers, answer, sent = _raw_exchange(
        small_server.url, "POST", path, b"<" * 1000, sign=False, pace=0.1, chunk=1
    )
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.5
    assert sent < 1000
    assert_error(
        _as_response(status, headers, answer),
        408,
        "RequestTimeout",
        "The request body was not received within 1 seconds.",
    )
    with SignedClient(small_server.url) as api:
        _assert_untouched_and_healthy(api, dist.id)


def test_endless_chunked_body_is_413(small_server: ServerProcess) -> None:
    """An endless chunked body is cut off with BatchTooLarge (413) once over the limit."""
    dist = small_server.create_distribution()
    path = f"/2020-05-31/distribution/{dist.id}/invalidation"
    started = time.monotonic()
    status, headers, answer, sent = _raw_exchange(
        small_server.url, "POST", path, None, sign=False, pace=0.005, chunk=100
    )
    assert time.monotonic() - started < 2.0
    assert sent < 20_000
    assert_error(
        _as_response(status, headers, answer),
        413,
        "BatchTooLarge",
        "The request body exceeds the limit of 1000 bytes.",
    )
    with SignedClient(small_server.url) as api:
        _assert_untouched_and_healthy(api, dist.id)


def test_concurrent_identical_creates_make_one_invalidation(
    server: ServerProcess, api: SignedClient
) -> None:
    """20 pairs of identical racing creates: one invalidation per pair, both answers agree."""
    dist = server.create_distribution()
    path = f"/2020-05-31/distribution/{dist.id}/invalidation"
    pairs = 20

    def send(index: int, barrier: threading.Barrier) -> tuple[int, str]:
        body = batch_xml([f"/race/{index}", "/race/*"], f"race-{index}")
        headers = sign_headers("POST", server.url + path, body)
        with httpx.Client(timeout=10) as http:
            barrier.wait(5)
            response = http.post(server.url + path, content=body, headers=headers)
        found = re.search(rb"<Id>(I\w+)</Id>", response.content)
        return response.status_code, found.group(1).decode() if found else ""

    barriers = [threading.Barrier(2) for _ in range(pairs)]
    with ThreadPoolExecutor(max_workers=2 * pairs) as pool:
        futures = [(i, pool.submit(send, i, barriers[i])) for i in range(pairs) for _ in range(2)]
        answers: dict[int, list[tuple[int, str]]] = {}
        for index, future in futures:
            answers.setdefault(index, []).append(future.result())
    ids = set()
    for index, (first, second) in answers.items():
        assert first[0] == second[0] == 201, index
        assert first[1] == second[1] != "", index
        ids.add(first[1])
    listed = api.list(dist.id)
    listed_ids = re.findall(rb"<Id>(I\w+)</Id>", listed.content)
    assert sorted(i.decode() for i in listed_ids) == sorted(ids)
    assert len(ids) == pairs


# --- raw sockets ---------------------------------------------------------------------------


def _raw_exchange(
    url: str,
    method: str,
    path: str,
    body: bytes | None,
    *,
    sign: bool,
    pace: float,
    chunk: int = 65_536,
) -> tuple[int, dict[str, str], bytes, int]:
    """Send a request by hand, stopping as soon as the server answers.

    `body` None sends an endless chunked body; otherwise Content-Length is set and the body
    goes out `chunk` bytes at a time, `pace` seconds apart. Returns status, headers, body and
    how many body bytes were sent before the answer arrived.
    """
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}"
    headers = {"Host": host, "Content-Type": "application/xml"}
    if sign and body is not None:
        headers = sign_headers(method, url + path, body, headers)
    if body is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sent = 0
    deadline = time.monotonic() + 10
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall((head + "\r\n").encode("latin-1"))
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], pace)
            if readable:
                break
            if body is None:
                payload = b"<" * chunk
                piece = f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
            elif sent < len(body):
                payload = piece = body[sent : sent + chunk]
            else:
                continue
            try:
                sock.sendall(piece)
            except OSError:
                break
            sent += len(payload)
        return (*_read_response(sock), sent)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65_536)
        assert more, f"connection closed before a response: {data!r}"
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        more = sock.recv(65_536)
        assert more, "connection closed inside the response body"
        rest += more
    return status, headers, rest[:length]


def _as_response(status: int, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=body)
