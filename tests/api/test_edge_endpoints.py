"""The control plane's own endpoints (real `invalidator serve`): the edge protocol is never
throttled, the fleet listing needs a fleet key, and `/_invalidator/metrics` tells how
propagation goes in the Prometheus text format."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.envelope import assert_error
from tests.support.server import ServerProcess, server_env
from tests.support.signing import SignedClient, batch_xml

StartServer = Callable[..., ServerProcess]
EDGE = "/_invalidator/edge"
_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def _create_key(data_dir: Path, *distributions: str) -> tuple[str, str]:
    flags = [f"--distribution={d}" for d in distributions]
    done = subprocess.run(
        [sys.executable, "-m", "invalidator", "keys", "create", "--data-dir", str(data_dir),
         *flags],
        env=server_env(), capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", done.stdout)
    secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", done.stdout)
    assert key_id is not None and secret is not None, done.stdout
    return key_id.group(1), secret.group(1)


def _post(api: SignedClient, path: str, body: object) -> httpx.Response:
    data = json.dumps(body).encode()
    return api.send("POST", path, data, {"content-type": "application/json"})


def test_edge_protocol_is_not_rate_limited(start_server: StartServer) -> None:
    """With --rate-limit 1/s (burst 2), an edge's register, 20 heartbeats and polls in a row
    all succeed, while the same key's API calls are throttled as before."""
    srv = start_server(args=["--edge-port", "-1"], INVALIDATOR_RATE_LIMIT="1",
                       INVALIDATOR_RATE_BURST="2")  # fmt: skip
    dist = srv.create_distribution()
    with SignedClient(srv.url) as api:
        registered = _post(
            api, EDGE + "/register", {"name": "e", "url": "http://e", "cursor": None}
        )
        assert registered.status_code == 200, registered.text
        session = registered.json()["edge_id"]
        beats = [_post(api, EDGE + "/heartbeat", {"edge_id": session, "cursor": 0})
                 for _ in range(20)]  # fmt: skip
        assert [b.status_code for b in beats] == [200] * 20
        polls = [api.send("GET", EDGE + "/events?after=0&wait_ms=0") for _ in range(5)]
        assert [p.status_code for p in polls] == [200] * 5
        configs = api.send("GET", EDGE + "/distributions")
        assert configs.status_code == 200
        listed = [api.list(dist.id).status_code for _ in range(3)]
        assert listed[:2] == [200, 200] and listed[2] == 400
        assert_error(api.list(dist.id), 400, "Throttling", "Rate exceeded",
                     operation="ListInvalidations")  # fmt: skip


def test_listing_edges_needs_a_key_allowed_on_every_distribution(
    start_server: StartServer,
) -> None:
    """A key restricted to some distributions gets AccessDenied on the fleet listing (names,
    addresses) as on every edge call; the all-distribution key lists the sessions."""
    srv = start_server()
    dist = srv.create_distribution()
    key_id, secret = _create_key(srv.data_dir, dist.id)
    with SignedClient(srv.url, key_id=key_id, secret=secret) as limited:
        assert_error(
            limited.send("GET", "/_invalidator/edges"), 403, "AccessDenied",
            f"User: {key_id} is not authorized to list the edge fleet: that needs a key "
            "allowed on every distribution.", operation="ListInvalidations",
        )  # fmt: skip
        assert_error(
            limited.send("GET", EDGE + "/events?after=0"), 403, "AccessDenied",
            f"User: {key_id} is not authorized to act as an edge: that needs a key allowed "
            "on every distribution.", operation="ListInvalidations",
        )  # fmt: skip
    with SignedClient(srv.url) as admin:
        listing = admin.send("GET", "/_invalidator/edges")
        assert listing.status_code == 200
        assert [row["name"].startswith("builtin-") for row in listing.json()["edges"]] == [True]


def scrape(url: str) -> dict[str, float]:
    """`GET /_invalidator/metrics` without credentials, as `name{labels}` -> value."""
    response = httpx.get(url + "/_invalidator/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ \S", line), line
            continue
        found = _SAMPLE.match(line)
        assert found is not None, line
        samples[found.group(1) + (found.group(2) or "")] = float(found.group(3))
    return samples


def test_metrics_follow_propagation(server: ServerProcess) -> None:
    """Unauthenticated scrape: invalidations created and completed, their create→Completed
    time in the histogram, the log head, live sessions and each session's lag."""
    dist = server.create_distribution()
    before = scrape(server.url)
    with SignedClient(server.url) as api:
        created = api.create(dist.id, batch_xml(["/m"], str(uuid.uuid4())))
        assert created.status_code == 201, created.text
    invalidation_id = re.search(rb"<Id>(\w+)</Id>", created.content)
    assert invalidation_id is not None
    cf = server.client()
    deadline = time.monotonic() + 15
    while (
        cf.get_invalidation(DistributionId=dist.id, Id=invalidation_id.group(1).decode())[
            "Invalidation"
        ]["Status"]
        != "Completed"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    after = scrape(server.url)
    created_key, completed_key = (
        "invalidator_invalidations_created_total",
        "invalidator_invalidations_completed_total",
    )
    assert after[created_key] >= before[created_key] + 1
    assert after[completed_key] >= before[completed_key] + 1
    count = "invalidator_invalidation_completion_seconds_count"
    assert after[count] >= before[count] + 1
    assert after['invalidator_invalidation_completion_seconds_bucket{le="+Inf"}'] == after[count]
    assert after["invalidator_invalidation_completion_seconds_sum"] >= 0
    assert after["invalidator_event_log_head"] >= 1
    assert after['invalidator_edge_sessions{state="live"}'] >= 1
    lags = {k: v for k, v in after.items() if k.startswith("invalidator_edge_lag_events{")}
    assert lags and all(re.search(r'session="S\w+",name="builtin-', k) for k in lags)
    assert all(v >= 0 for v in lags.values())
    clock = "CLOCK_BOOTTIME" if hasattr(time, "CLOCK_BOOTTIME") else "time.monotonic"
    assert after[f'invalidator_lease_clock_info{{clock="{clock}"}}'] == 1


def test_metrics_ignore_credentials(server: ServerProcess) -> None:
    """The metrics endpoint is public: a signed request and one with a bad signature are
    answered alike (nothing there needs a key)."""
    with SignedClient(server.url) as api:
        signed = api.send("GET", "/_invalidator/metrics")
        forged = api.send("GET", "/_invalidator/metrics", secret="not-the-secret")
    assert signed.status_code == forged.status_code == 200
    assert b"invalidator_event_log_head" in forged.content


@pytest.mark.parametrize(
    "value", ["9" * 5000, "0" * 5000 + "1", "1" + "0" * 400, "%C2%B2", "-1", ""]
)
@pytest.mark.parametrize("name", ["after", "wait_ms"])
def test_edge_events_bounds_its_numbers(api: SignedClient, name: str, value: str) -> None:
    """`after` / `wait_ms` of thousands of digits, a float-overflowing one, a non-ASCII digit
    (²): InvalidArgument (400), never a 500; leading zeros are the number."""
    answer = api.send("GET", f"/_invalidator/edge/events?{name}={value}")
    if value == "0" * 5000 + "1":
        assert answer.status_code == 200, answer.text
        return
    assert_error(
        answer, 400, "InvalidArgument", f"{name} must be a non-negative integer below 2**63."
    )


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/register", b'{"name": "\\ud800", "url": "http://e"}'),  # a lone surrogate
        ("/register", b'{"name": "e", "url": "http://e", "cursor": 1e400}'),
        ("/register", b'{"name": "e", "url": "http://e", "cursor": ' + b"9" * 100 + b"}"),
        ("/register", b'{"name": "e", "url": "http://e", "cursor": true}'),
        ("/register", b'{"name": "e", "url": "http://e", "cursor": -1}'),
        ("/heartbeat", b'{"edge_id": "x", "cursor": ' + b"9" * 100 + b"}"),
        ("/heartbeat", b'{"edge_id": "\\udfff", "cursor": 1}'),
    ],
)
def test_edge_protocol_bodies_are_checked_before_the_store(
    api: SignedClient, path: str, raw: bytes
) -> None:
    """Strings no store can hold and cursors no 64-bit column holds are MalformedJSON
    400s (a lone surrogate reached SQLite and made a 500)."""
    answer = api.send("POST", "/_invalidator/edge" + path, raw)
    assert answer.status_code == 400, answer.text
    assert b"<Code>MalformedJSON</Code>" in answer.content


def test_an_edge_name_is_bounded(api: SignedClient) -> None:
    """A name of 257 characters is InvalidArgument."""
    answer = _post(api, "/_invalidator/edge/register", {"name": "n" * 257, "url": "http://e"})
    assert_error(
        answer, 400, "InvalidArgument", "An edge's name is at most 256 characters, its url 2048."
    )
