"""Durability across `kill -9` and graceful SIGTERM: an acknowledged invalidation is never lost."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

from tests.support.edge_process import EdgeProcess
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

StartServer = Callable[..., ServerProcess]
NO_RETRY = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10
)


def _batch(paths: list[str], ref: str) -> dict[str, object]:
    return {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": ref}


def _wait_completed(cf: Any, dist_id: str, inv_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll GetInvalidation until Completed; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        got: dict[str, Any] = cf.get_invalidation(DistributionId=dist_id, Id=inv_id)["Invalidation"]
        if got["Status"] == "Completed" or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_kill_right_after_201_keeps_the_invalidation(start_server: StartServer) -> None:
    """SIGKILL the instant a 201 arrives: after restart the invalidation is there and completes."""
    first = start_server()
    dist = first.create_distribution()
    created = first.client(config=NO_RETRY).create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/crash/a.jpg", "/crash/*"], "crash-1")
    )
    first.kill()
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    inv = created["Invalidation"]

    second = start_server(data_dir=first.data_dir)
    got = _wait_completed(second.client(), dist.id, inv["Id"])
    assert got["Id"] == inv["Id"]
    assert got["CreateTime"] == inv["CreateTime"]
    assert got["InvalidationBatch"] == {
        "Paths": {"Quantity": 2, "Items": ["/crash/a.jpg", "/crash/*"]},
        "CallerReference": "crash-1",
    }
    assert got["Status"] == "Completed"


def test_in_progress_left_by_a_crash_completes_at_start(start_server: StartServer) -> None:
    """Work still InProgress in the store when the process died is resumed by the next start."""
    first = start_server()
    dist = first.create_distribution()
    inv = first.client().create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/resume"], "resume-1")
    )["Invalidation"]
    first.kill()
    # Simulate dying between commit and completion: put the row back to InProgress.
    with sqlite3.connect(first.data_dir / "invalidator.db") as db:
        changed = db.execute(
            "UPDATE invalidations SET status = 'InProgress', complete_time = NULL WHERE id = ?",
            (inv["Id"],),
        ).rowcount
    assert changed == 1

    second = start_server(data_dir=first.data_dir)
    assert _wait_completed(second.client(), dist.id, inv["Id"])["Status"] == "Completed"


def test_restart_does_not_wait_for_the_dead_builtin_edge(start_server: StartServer) -> None:
    """After a kill -9 the old process's built-in edge (and its cache) is gone: the restarted
    server forgets its session at once, so a new invalidation completes at once instead of
    after the dead session's (here 30 s) lease."""
    lease = ["--lease-seconds", "30"]
    first = start_server(args=lease)
    dist = first.create_distribution()
    first.client().create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/before"], "before-crash")
    )
    first.kill()
    second = start_server(data_dir=first.data_dir, args=lease)
    started = time.monotonic()
    created = second.client().create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/after"], "after-crash")
    )["Invalidation"]
    done = _wait_completed(second.client(), dist.id, created["Id"], timeout=15)
    assert done["Status"] == "Completed"
    assert time.monotonic() - started < 15  # a waited-out lease would take 30 s


def test_kill_during_concurrent_creates_loses_no_acknowledged_id(
    start_server: StartServer,
) -> None:
    """8 writers, SIGKILL right after the first 201s: every acknowledged id survives intact."""
    first = start_server()
    dist = first.create_distribution()
    clients = [first.client(config=NO_RETRY) for _ in range(8)]
    acked: list[tuple[str, str, str]] = []  # (id, caller reference, path)
    lock = threading.Lock()
    enough = threading.Event()

    def writer(n: int) -> None:
        for i in range(200):
            ref, path = f"w{n}-{i}", f"/w{n}/{i}.jpg"
            try:
                out = clients[n].create_invalidation(
                    DistributionId=dist.id, InvalidationBatch=_batch([path], ref)
                )
            except Exception:  # the server is gone: stop writing
                return
            inv_id = out.get("Invalidation", {}).get("Id")
            if inv_id is None:  # the 201's body was cut by the kill (botocore does not check
                return  # Content-Length): no id was acknowledged to this client
            with lock:
                acked.append((inv_id, ref, path))
                if len(acked) >= 8:
                    enough.set()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    assert enough.wait(20), "no 201s arrived"
    first.kill()
    for t in threads:
        t.join(30)
    with lock:
        survivors = list(acked)
    assert len(survivors) >= 8

    second = start_server(data_dir=first.data_dir)
    cf = second.client()
    for inv_id, ref, path in survivors:
        got = cf.get_invalidation(DistributionId=dist.id, Id=inv_id)["Invalidation"]
        assert got["InvalidationBatch"] == {
            "Paths": {"Quantity": 1, "Items": [path]},
            "CallerReference": ref,
        }
    listed = {
        s["Id"]
        for page in cf.get_paginator("list_invalidations").paginate(DistributionId=dist.id)
        for s in page["InvalidationList"].get("Items", [])
    }
    assert {inv_id for inv_id, _, _ in survivors} <= listed
    last = survivors[-1][0]
    assert _wait_completed(cf, dist.id, last)["Status"] == "Completed"


def test_sigterm_exits_zero_and_keeps_data(start_server: StartServer) -> None:
    """SIGTERM shuts down gracefully (exit 0 within seconds) and the data survives a restart."""
    first = start_server()
    dist = first.create_distribution()
    cf = first.client()
    ids = [
        cf.create_invalidation(
            DistributionId=dist.id, InvalidationBatch=_batch([f"/t{i}"], f"term-{i}")
        )["Invalidation"]["Id"]
        for i in range(3)
    ]
    started = time.monotonic()
    assert first.terminate(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert first.proc is not None and first.proc.stdout is not None
    rest = first.proc.stdout.read()
    assert "Traceback" not in rest, rest

    second = start_server(data_dir=first.data_dir)
    listed = second.client().list_invalidations(DistributionId=dist.id)["InvalidationList"]
    assert [s["Id"] for s in listed["Items"]] == list(reversed(ids))
    assert {s["Status"] for s in listed["Items"]} == {"Completed"}


def test_sigterm_with_a_standalone_edge_and_a_create_waiting(start_server: StartServer) -> None:
    """SIGTERM while a standalone edge long-polls and a create waits (--create-wait 15) for that
    frozen edge: both requests are answered at once (the create with 201 InProgress, the truth
    then), the server exits 0 in seconds, no traceback; the invalidation is kept."""
    server = start_server(args=["--create-wait", "15"])
    dist = server.create_distribution()
    edge = EdgeProcess(server.url).spawn().wait_ready()
    try:
        cf = server.client()
        time.sleep(1.0)  # registered, its long-poll parked in the server
        edge.freeze()
        answers: list[dict[str, Any]] = []
        creating = threading.Thread(
            target=lambda: answers.append(
                cf.create_invalidation(
                    DistributionId=dist.id, InvalidationBatch=_batch(["/w"], "waiting")
                )["Invalidation"]
            )
        )
        creating.start()
        time.sleep(1.0)
        assert not answers  # still waiting for the frozen edge
        started = time.monotonic()
        assert server.terminate(timeout=15) == 0, server.output
        assert time.monotonic() - started < 3, server.output
        creating.join(5)
        assert answers and answers[0]["Status"] == "InProgress"
        assert not any("Traceback" in line or "Exception in ASGI" in line for line in server.output)
    finally:
        edge.kill()
    again = start_server(data_dir=server.data_dir)
    listed = again.client().list_invalidations(DistributionId=dist.id)["InvalidationList"]
    assert [item["Id"] for item in listed["Items"]] == [answers[0]["Id"]]
