"""Below the app, against a real server: what HTTP cannot parse gets CloudFront's XML envelope,
and a request's head is bounded in size and in time (a fast answer, never a hang)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.envelope import assert_error
from tests.support.server import ServerProcess, server_env
from tests.support.signing import batch_xml, sign_headers

NOT_HTTP = re.compile(r"The request is not valid HTTP/1\.1: .+\.")
MAX_HEAD = 64 * 1024
HEAD_TOO_LARGE = f"Your request header section exceeds the maximum allowed size ({MAX_HEAD} bytes)."


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A private server whose requests' heads (and bodies) must arrive within 1 s."""
    proc = ServerProcess(tmp_path_factory.mktemp("quick"), server_env(), ["--body-timeout", "1"])
    yield proc.start()
    proc.kill()


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while more := sock.recv(65_536):
        data += more
    return data


def _read_one(sock: socket.socket) -> httpx.Response:
    """One response of a keep-alive connection (its Content-Length says where it ends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65_536)
        assert more, data
        data += more
    length = int(re.search(rb"(?i)content-length: *(\d+)", data).group(1))  # type: ignore[union-attr]
    while len(data.partition(b"\r\n\r\n")[2]) < length:
        data += sock.recv(65_536)
    return _response(data)


def _response(raw: bytes) -> httpx.Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
    return httpx.Response(int(lines[0].split()[1]), headers=headers, content=body)


PATH = "/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation"
NOT_SERVING = ("No distribution", "This edge has not reached")  # unknown host; not loaded yet


def _until_edge_serves(edge_url: str, host: str) -> None:
    """Wait until the edge knows the distribution of `host` (it learns it from the log)."""
    deadline = time.monotonic() + 10
    while httpx.get(f"{edge_url}/", headers={"Host": host}).text.startswith(NOT_SERVING):
        assert time.monotonic() < deadline, f"the edge never learned {host}"
        time.sleep(0.05)


UNPARSABLE = {
    "unknown-method": f"FOO {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "content-length-not-a-number": f"POST {PATH} HTTP/1.1\r\nHost: x\r\n"
    "Content-Length: abc\r\n\r\n".encode(),
    "two-content-lengths": f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
    "Content-Length: 2\r\n\r\nab".encode(),
    "content-length-and-chunked": f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode(),
    "bad-chunk-size": f"POST {PATH} HTTP/1.1\r\nHost: x\r\n"
    "Transfer-Encoding: chunked\r\n\r\nzz\r\n".encode(),
    "header-without-colon": f"GET {PATH} HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".encode(),
    "raw-utf8-in-path": f"GET {PATH}/\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
}


@pytest.mark.parametrize("raw", UNPARSABLE.values(), ids=UNPARSABLE.keys())
def test_unparsable_requests_get_the_xml_envelope(server: ServerProcess, raw: bytes) -> None:
    """InvalidArgument (400) with x-amzn-RequestId and Date, then the connection closes."""
    with _connect(server.url) as sock:
        sock.sendall(raw)
        answer = _response(_read_all(sock))
    assert_error(answer, 400, "InvalidArgument", NOT_HTTP)
    assert answer.headers["connection"] == "close"
    assert server.proc is not None and server.proc.poll() is None


def test_a_refused_request_is_logged_with_the_id_it_was_answered(
    start_server: Callable[..., ServerProcess],
) -> None:
    """What the HTTP layer refuses before routing is in the log under the request id the
    client got (an operator searching for that id found nothing)."""
    server = start_server(INVALIDATOR_LOG_LEVEL="info")
    with _connect(server.url) as sock:
        sock.sendall(UNPARSABLE["bad-chunk-size"])
        answer = _response(_read_all(sock))
    request_id = answer.headers["x-amzn-requestid"]
    deadline = time.monotonic() + 5
    while not any(request_id in line for line in server.output):
        assert time.monotonic() < deadline, server.output[-5:]
        time.sleep(0.05)
    (line,) = [line for line in server.output if request_id in line]
    record = json.loads(line)
    assert (record["message"], record["error_code"]) == (
        "request refused before routing",
        "InvalidArgument",
    )


def test_an_endless_header_is_cut_off(server: ServerProcess) -> None:
    """A header line that never ends gets RequestHeaderSectionTooLarge after ~64 KiB, not the
    memory of the server."""
    sent = 0
    with _connect(server.url) as sock:
        sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nX-Big: ".encode())
        try:
            while sent < 1024 * MAX_HEAD:  # 64 MiB offered
                sock.sendall(b"a" * 65_536)
                sent += 65_536
        except OSError:  # closed by the server, as it should
            pass
        answer = _response(_read_all(sock))
    # (How much was sent says little: loopback buffers take tens of MB. Without the bound
    # there is no answer at all, and the 64 MiB go into the server's memory.)
    assert_error(
        answer,
        400,
        "RequestHeaderSectionTooLarge",
        HEAD_TOO_LARGE,
    )


@pytest.mark.parametrize("size", [MAX_HEAD + 1_000, 2 * MAX_HEAD])
def test_a_head_over_the_limit_in_one_send_is_refused(server: ServerProcess, size: int) -> None:
    """The bound holds whatever the reads: a whole head over 64 KiB that arrives in one read
    (it was counted only across reads, so up to ~200 KB got through) is refused on the API and
    on the edge; a head just under the bound in one read reaches the app."""
    filler = "a" * (size - 200)
    raw = f"GET {PATH} HTTP/1.1\r\nHost: x\r\nX-Big: {filler}\r\n\r\n".encode()
    with _connect(server.url) as sock:
        sock.sendall(raw)
        answer = _response(_read_all(sock))
    assert_error(
        answer,
        400,
        "RequestHeaderSectionTooLarge",
        HEAD_TOO_LARGE,
    )
    with _connect(server.edge_url) as sock:
        sock.sendall(raw)
        edge = _response(_read_all(sock))
    assert (edge.status_code, edge.text) == (431, f"The request headers exceed {MAX_HEAD} bytes.\n")
    under = f"GET {PATH} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * (MAX_HEAD - 400)}\r\n\r\n"
    with _connect(server.url) as sock:
        sock.sendall(under.encode())
        reached = _read_one(sock)  # kept alive: an answer of the app
    assert reached.status_code == 403  # unsigned: the app's MissingAuthenticationToken


def test_large_headers_within_the_limit_reach_the_app(server: ServerProcess) -> None:
    """40 KiB of headers is a request like any other (here: unsigned, so refused by auth)."""
    filler = "".join(f"X-Filler-{i}: {'v' * 1000}\r\n" for i in range(40))
    with _connect(server.url) as sock:
        sock.sendall(
            f"GET {PATH} HTTP/1.1\r\nHost: x\r\n{filler}Connection: close\r\n\r\n".encode()
        )
        answer = _response(_read_all(sock))
    assert answer.status_code == 403
    assert b"MissingAuthenticationToken" in answer.content


def test_a_dribbled_head_is_request_timeout(quick_server: ServerProcess) -> None:
    """A header line every 0.3 s never completes the head: RequestTimeout (408) after ~1 s."""
    started = time.monotonic()
    with _connect(quick_server.url) as sock:
        sock.sendall(f"GET {PATH} HTTP/1.1\r\n".encode())
        answer = b""
        for i in range(30):
            try:
                sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
            except OSError:
                break
            sock.settimeout(0.3)
            try:
                answer = sock.recv(65_536)
            except TimeoutError:
                continue
            break
        sock.settimeout(10)
        answer += _read_all(sock)
    assert 0.9 < time.monotonic() - started < 3.0
    assert_error(
        _response(answer),
        408,
        "RequestTimeout",
        "Your request headers were not received within 1 seconds.",
    )


def test_a_silent_connection_is_closed(quick_server: ServerProcess) -> None:
    """A connection that never sends a byte is closed after the deadline, without an answer."""
    started = time.monotonic()
    with _connect(quick_server.url) as sock:
        assert _read_all(sock) == b""
    assert 0.9 < time.monotonic() - started < 3.0


def test_the_deadline_restarts_with_each_request(quick_server: ServerProcess) -> None:
    """On a keep-alive connection the next request has a deadline of its own: requests spaced
    0.6 s apart all succeed; a second head left unfinished then gets RequestTimeout."""
    with _connect(quick_server.url) as sock:
        for _ in range(3):
            sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert _read_one(sock).status_code == 403  # answered (unsigned), kept alive
            time.sleep(0.6)
        sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\n".encode())
        answer = _response(_read_all(sock))
    assert_error(
        answer, 408, "RequestTimeout", "Your request headers were not received within 1 seconds."
    )


# -- the edge (the built-in one of the same servers): the same bounds, in its own text ------


def test_the_edge_bounds_heads_too(server: ServerProcess) -> None:
    """An endless header line on the edge is 431, an unparsable request 400, both in the
    edge's plain text with X-Cache: Error from invalidator, and the connection closed."""
    with _connect(server.edge_url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):
            for _ in range(1600):
                sock.sendall(b"a" * 4096)
        big = _response(_read_all(sock))
    with _connect(server.edge_url) as sock:
        sock.sendall(b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n")
        bad = _response(_read_all(sock))
    assert (big.status_code, big.text) == (431, f"The request headers exceed {MAX_HEAD} bytes.\n")
    assert bad.status_code == 400 and bad.text.startswith("The request is not valid HTTP/1.1: ")
    for answer in (big, bad):
        assert answer.headers["x-cache"] == "Error from invalidator"
        assert answer.headers["connection"] == "close"


def test_the_edge_times_out_a_dribbled_head(quick_server: ServerProcess) -> None:
    """A head dribbled to the edge: 408 after --body-timeout (1 s here)."""
    started = time.monotonic()
    with _connect(quick_server.edge_url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        answer = _response(_read_all(sock))
    assert 0.9 < time.monotonic() - started < 3.0
    assert (answer.status_code, answer.text) == (408, "The request headers took over 1 seconds.\n")


# -- pipelining: what is counted and timed is the client's head, nothing else --------------


def _read_responses(sock: socket.socket, count: int) -> list[int]:
    """The statuses of `count` responses in a row on one connection (Content-Length framed)."""
    statuses = []
    data = b""
    for _ in range(count):
        while b"\r\n\r\n" not in data:
            more = sock.recv(65_536)
            assert more, f"closed after {len(statuses)} responses: {statuses}"
            data += more
        head, _, data = data.partition(b"\r\n\r\n")
        found = re.search(rb"(?i)content-length: *(\d+)", head)
        length = int(found.group(1)) if found else 0
        while len(data) < length:
            more = sock.recv(65_536)
            assert more
            data += more
        data = data[length:]
        statuses.append(int(head.split(b" ", 2)[1]))
    return statuses


def test_pipelined_requests_are_not_counted_as_one_head(server: ServerProcess) -> None:
    """100 pipelined requests of ~1 KB heads and a 101st split after 10 bytes, in one chunk:
    all 101 are answered (the bytes before the split head once counted against 64 KiB)."""
    filler = "X-Filler: " + "v" * 900 + "\r\n"
    one = f"GET {PATH} HTTP/1.1\r\nHost: x\r\n{filler}\r\n".encode()
    with _connect(server.url) as sock:
        sock.sendall(one * 100 + one[:10])
        time.sleep(0.3)
        sock.sendall(one[10:])
        assert _read_responses(sock, 101) == [403] * 101  # unsigned: answered by the app


def test_a_head_queued_behind_a_slow_request_is_not_timed_out(
    quick_server: ServerProcess,
) -> None:
    """On the edge: a request whose origin takes 2.5 s (the head deadline is 1 s), with two
    more pipelined behind it, the last split across sends: all three answered in order."""
    from tests.support.origin import Origin

    with Origin() as origin:
        origin.set("/slow", b"slow", headers=[("Cache-Control", "no-store")], delay=2.5)
        origin.set("/fast", b"fast", headers=[("Cache-Control", "no-store")])
        dist = quick_server.create_distribution(origin_url=origin.url)
        host = dist.domain_name
        _until_edge_serves(quick_server.edge_url, host)
        request = lambda path: f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()  # noqa: E731
        with _connect(quick_server.edge_url) as sock:
            sock.sendall(request("/slow"))
            time.sleep(0.3)
            sock.sendall(request("/fast?2") + request("/fast?3")[:10])
            time.sleep(0.2)
            sock.sendall(request("/fast?3")[10:])
            assert _read_responses(sock, 3) == [200, 200, 200]


def test_a_standalone_edge_times_out_a_dribbled_head_too(server: ServerProcess) -> None:
    """`invalidator edge --body-timeout 1` bounds heads like the built-in edge: 408 in ~1 s."""
    from tests.support.edge_process import EdgeProcess

    edge = EdgeProcess(server.url, extra_args=["--body-timeout", "1"]).spawn().wait_ready()
    try:
        started = time.monotonic()
        with _connect(edge.url) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            answer = _response(_read_all(sock))
        assert 0.9 < time.monotonic() - started < 3.0
        assert answer.status_code == 408
        assert answer.text == "The request headers took over 1 seconds.\n"
    finally:
        assert edge.terminate() == 0


# -- a refusal behind requests received whole: those are answered first, in order ----------


def _read_until_closed(sock: socket.socket) -> list[httpx.Response]:
    """Every response on a connection until the server closes it (Content-Length framed)."""
    data = _read_all(sock)
    answers = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        found = re.search(rb"(?i)content-length: *(\d+)", head)
        length = int(found.group(1)) if found else 0
        answers.append(_response(head + b"\r\n\r\n" + data[:length]))
        data = data[length:]
    return answers


def test_a_request_before_an_unparsable_one_is_answered_first(server: ServerProcess) -> None:
    """Two requests in one send, the second not HTTP: the first gets its answer, then the
    second its InvalidArgument, then the connection closes (the first answer was dropped)."""
    with _connect(server.url) as sock:
        sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\nFOO / HTTP/1.1\r\n\r\n".encode())
        answers = _read_until_closed(sock)
    assert [a.status_code for a in answers] == [403, 400]
    assert b"MissingAuthenticationToken" in answers[0].content
    assert_error(answers[1], 400, "InvalidArgument", NOT_HTTP)


def test_a_queued_request_refused_in_its_body_never_runs(server: ServerProcess) -> None:
    """Behind a GET, a POST whose chunked body turns bad: the GET is answered, the POST gets
    the 400 instead of its own answer, then the connection closes."""
    bad_post = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<Inva\r\nzz\r\n"
    )
    with _connect(server.url) as sock:
        sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n{bad_post}".encode())
        answers = _read_until_closed(sock)
    assert [a.status_code for a in answers] == [403, 400]
    assert_error(answers[1], 400, "InvalidArgument", NOT_HTTP)


def test_the_edge_answers_a_slow_request_before_refusing_the_next(
    quick_server: ServerProcess,
) -> None:
    """On the edge: an unparsable request and a head over 64 KiB, each behind a request whose
    origin takes 1.5 s: the slow one's 200 comes first, then the refusal."""
    from tests.support.origin import Origin

    with Origin() as origin:
        origin.set("/slow", b"slow", headers=[("Cache-Control", "no-store")], delay=1.5)
        origin.set("/fast", b"fast", headers=[("Cache-Control", "no-store")])
        host = quick_server.create_distribution(origin_url=origin.url).domain_name
        _until_edge_serves(quick_server.edge_url, host)
        slow = f"GET /slow HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        with _connect(quick_server.edge_url) as sock:
            sock.sendall(slow + b"FOO / HTTP/1.1\r\n\r\n")
            unparsable = _read_until_closed(sock)
        with _connect(quick_server.edge_url) as sock:
            sock.sendall(slow + b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
            time.sleep(0.2)  # the rest in reads of its own (the first read of a head is not
            # counted: see invalidator.http_head)
            with contextlib.suppress(OSError):
                for _ in range(20):
                    sock.sendall(b"a" * 4096)
            too_large = _read_until_closed(sock)
    assert [a.status_code for a in unparsable] == [200, 400]
    assert unparsable[0].text == "slow"
    assert [(a.status_code, a.text) for a in too_large] == [
        (200, "slow"),
        (431, f"The request headers exceed {MAX_HEAD} bytes.\n"),
    ]


def _signed_raw(url: str, method: str, path: str, body: bytes = b"") -> bytes:
    """One botocore-signed request as raw bytes (Host as signed)."""
    headers = sign_headers(method, url + path, body)
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    host = urlsplit(url).netloc
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{lines}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _invalidation_refs(server: ServerProcess, dist: str) -> dict[str, str]:
    listed = server.client().list_invalidations(DistributionId=dist)["InvalidationList"]
    ids = [item["Id"] for item in listed.get("Items", [])]
    return {
        server.client().get_invalidation(DistributionId=dist, Id=i)["Invalidation"][
            "InvalidationBatch"
        ]["CallerReference"]: i
        for i in ids
    }


def test_a_client_leaving_with_a_request_pipelined_is_a_gone_client(
    start_server: Callable[..., ServerProcess],
) -> None:
    """A create with a GET pipelined behind it, then the client closes without reading: the
    create still commits (it was received whole), and its answer is dropped quietly: no
    traceback of a write to the closed connection (uvicorn only told the newest request)."""
    server = start_server()
    dist = server.create_distribution().id
    path = f"/2020-05-31/distribution/{dist}/invalidation"
    references = [f"gone-{n}" for n in range(5)]
    for reference in references:
        with _connect(server.url) as sock:
            sock.sendall(
                _signed_raw(server.url, "POST", path, batch_xml(["/gone"], reference))
                + _signed_raw(server.url, "GET", path)
            )
    deadline = time.monotonic() + 10
    while set(references) - set(_invalidation_refs(server, dist)):
        assert time.monotonic() < deadline, "a create received whole was not committed"
        time.sleep(0.05)
    log = "".join(server.output)
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]


def test_a_half_closed_client_still_gets_its_answer(server: ServerProcess) -> None:
    """A client that shuts its sending side after a complete request (a half-close) is still
    answered, then the connection closes; so are two requests pipelined before the
    half-close, in order."""
    dist = server.create_distribution().id
    path = f"/2020-05-31/distribution/{dist}/invalidation"
    with _connect(server.url) as sock:
        sock.sendall(_signed_raw(server.url, "POST", path, batch_xml(["/gone"], "half-closed")))
        sock.shutdown(socket.SHUT_WR)
        answers = _read_until_closed(sock)
    assert [a.status_code for a in answers] == [201]
    assert b"<CallerReference>half-closed</CallerReference>" in answers[0].content
    with _connect(server.url) as sock:
        sock.sendall(_signed_raw(server.url, "GET", path) + _signed_raw(server.url, "GET", path))
        sock.shutdown(socket.SHUT_WR)
        answers = _read_until_closed(sock)
    assert [a.status_code for a in answers] == [200, 200]


def test_the_edge_answers_a_half_closed_client_too(server: ServerProcess) -> None:
    """Through the edge: a miss (fetched from the origin) and then a hit, each sent with a
    half-close, are answered before the connection closes."""
    from tests.support.origin import Origin

    with Origin() as origin:
        origin.set("/half", b"half", headers=[("Cache-Control", "max-age=60")], delay=0.3)
        host = server.create_distribution(origin_url=origin.url).domain_name
        _until_edge_serves(server.edge_url, host)
        for expected in ("Miss", "Hit"):
            with _connect(server.edge_url) as sock:
                sock.sendall(f"GET /half HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                sock.shutdown(socket.SHUT_WR)
                started = time.monotonic()
                answers = _read_until_closed(sock)
            assert [(a.status_code, a.content) for a in answers] == [(200, b"half")]
            assert answers[0].headers["x-cache"].startswith(expected)
            assert time.monotonic() - started < 3  # closed after the answer, not at a timeout
