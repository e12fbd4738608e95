"""Every response carries one accurate Date header, taken when it is sent (spec §3)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from tests.support.envelope import assert_accurate_date, assert_error
from tests.support.server import ServerProcess
from tests.support.signing import SignedClient, batch_xml

StartServer = Callable[..., ServerProcess]


def _timed(send: Callable[[], httpx.Response]) -> tuple[httpx.Response, datetime]:
    response = send()
    return response, datetime.now(UTC)


def test_success_and_error_responses_carry_one_accurate_date(
    api: SignedClient, dist_id: str
) -> None:
    """201, 200 and 404 answers each have exactly one Date, within 1 s of their receipt."""
    for send in (
        lambda: api.create(dist_id, batch_xml(["/d"], "date")),
        lambda: api.list(dist_id),
        lambda: api.send("GET", f"/2020-05-31/distribution/{dist_id}/invalidation/INOPE"),
        lambda: api.send("GET", "/2020-05-31/nothing-here", sign=False),
    ):
        response, received = _timed(send)
        assert response.status_code in (200, 201, 404), response.text
        assert_accurate_date(response, received)


def test_request_timeout_date_is_taken_when_sent(start_server: StartServer) -> None:
    """A 408 sent after a 2 s body timeout is dated when sent, not when the headers came in."""
    srv = start_server(args=["--body-timeout", "2", "--edge-port", "-1"])
    url = urlsplit(srv.url)
    path = "/2020-05-31/distribution/EXXXXXXXXXXXXX/invalidation"
    head = (f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: 1000\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head + b"<InvalidationBatch>")  # and then nothing more
        sent_at = datetime.now(UTC)
        raw = sock.recv(65536)
        received = datetime.now(UTC)
        while b"</ErrorResponse>" not in raw:
            more = sock.recv(65536)
            if not more:
                break
            raw += more
    head_text, _, body = raw.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    headers = [tuple(h.split(": ", 1)) for h in lines[1:]]
    assert lines[0].startswith("HTTP/1.1 408"), lines[0]
    assert (received - sent_at).total_seconds() >= 1.9  # the timeout really ran
    response = httpx.Response(408, headers=headers, content=body)
    assert_error(
        response, 408, "RequestTimeout", "The request body was not received within 2 seconds."
    )
    assert_accurate_date(response, received)
    assert parsedate_to_datetime(response.headers["date"]) > sent_at.replace(microsecond=0)
