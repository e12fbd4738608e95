"""One `invalidator serve` per data directory, and the in-process CLI beside it.

A second control plane on one store would complete invalidations no edge acknowledged (no
edge heartbeats to it, so every lease looks expired there); it must refuse to start. The
in-process CLI commands share the store with a running server and never complete anything.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from invalidator.cli.data_lock import data_dir_lock
from invalidator.cli.local import api_client
from invalidator.settings import load_settings
from tests.support.edge_process import EdgeProcess
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess, server_env

pytestmark = pytest.mark.slow
StartServer = Callable[..., ServerProcess]


def _serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invalidator", "serve", "--data-dir", str(data_dir),
         "--port", "0", "--edge-port", "-1"],
        env=server_env(), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_second_serve_on_a_data_dir_fails_fast(start_server: StartServer, tmp_path: Path) -> None:
    """While one serve runs, another on the same data directory exits 1 with a clear message
    naming the holder (no traceback); once the first stopped, the directory is free again."""
    data = tmp_path / "data"
    first = start_server(data_dir=data)
    assert first.proc is not None
    started = time.monotonic()
    second = _serve(data)
    assert second.returncode == 1, second.stdout + second.stderr
    assert time.monotonic() - started < 15
    assert "Traceback" not in second.stderr + second.stdout
    assert f"another `invalidator serve` (pid {first.proc.pid}) is using the data directory" in (
        second.stderr
    )
    assert str(data) in second.stderr
    assert first.proc.poll() is None
    assert first.terminate() == 0
    again = start_server(data_dir=data)
    assert again.proc is not None and again.proc.poll() is None


def _in_process_invalidation(data_dir: Path, dist_id: str) -> str:
    """CreateInvalidation through the CLI's in-process API on the server's store; the status
    its 201 reports."""
    settings = load_settings(
        {"data_dir": str(data_dir)},
        environ={
            "INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        },
    )

    async def create() -> str:
        async with api_client(settings) as client:
            created = await client.create_invalidation(dist_id, ["/cli"], str(uuid.uuid4()))
        return created.status

    return asyncio.run(create())


def test_in_process_cli_never_completes_invalidations(
    start_server: StartServer, tmp_path: Path
) -> None:
    """With a server running and its only edge frozen (an invalidation InProgress), the
    in-process CLI (distribution list/create, and a CreateInvalidation through its API)
    works, and nothing reads Completed before the frozen edge's lease ran out on the server."""
    data = tmp_path / "data"
    server = start_server(data_dir=data, args=["--lease-seconds", "8", "--heartbeat-seconds",
                                               "0.2", "--edge-port", "-1"])  # fmt: skip
    edge = EdgeProcess(server.url, extra_args=["--heartbeat-seconds", "0.2"]).spawn()
    try:
        edge.wait_ready()
        dist = server.create_distribution()
        client = server.client()
        time.sleep(0.5)  # the edge has the distribution's config
        edge.freeze()
        frozen_at = time.monotonic()
        held = client.create_invalidation(
            DistributionId=dist.id,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/held"]},
                               "CallerReference": str(uuid.uuid4())},
        )["Invalidation"]  # fmt: skip
        assert held["Status"] == "InProgress"
        env = {"env": server_env(), "capture_output": True, "text": True, "timeout": 30}
        listed = subprocess.run([sys.executable, "-m", "invalidator", "distribution", "list",
                                 "--data-dir", str(data)], check=True, **env)  # fmt: skip
        assert dist.id in listed.stdout
        subprocess.run([sys.executable, "-m", "invalidator", "distribution", "create",
                        "--origin", "http://127.0.0.1:1024", "--data-dir", str(data)],
                       check=True, **env)  # fmt: skip
        assert _in_process_invalidation(data, dist.id) == "InProgress"
        time.sleep(0.5)
        listing = client.list_invalidations(DistributionId=dist.id)["InvalidationList"]
        statuses = {item["Id"]: item["Status"] for item in listing["Items"]}
        assert len(statuses) == 2, statuses
        assert time.monotonic() - frozen_at < 8.0, "the check ran too late to mean anything"
        assert set(statuses.values()) == {"InProgress"}, statuses
        deadline = time.monotonic() + 20
        while set(statuses.values()) != {"Completed"}:
            assert time.monotonic() < deadline, statuses
            time.sleep(0.1)
            listing = client.list_invalidations(DistributionId=dist.id)["InvalidationList"]
            statuses = {item["Id"]: item["Status"] for item in listing["Items"]}
        assert time.monotonic() - frozen_at >= 8.0  # completed by the server, after the lease
    finally:
        edge.kill()


def test_the_lock_creates_a_private_data_dir(tmp_path: Path) -> None:
    """`serve` takes its lock before the store exists: the directory it creates is 0700 too."""
    with data_dir_lock(tmp_path / "new" / "data"):
        pass
    assert (tmp_path / "new" / "data").stat().st_mode & 0o777 == 0o700


def test_a_nudge_while_serve_starts_does_not_kill_it(tmp_path: Path) -> None:
    """The lock names the pid before the SIGUSR1 handler exists: a CLI command finishing then
    nudges a server still starting, which must ignore it (SIGUSR1's default action ends a
    process) and go on to serve."""
    from invalidator.cli.data_lock import nudge_server

    data_dir = tmp_path / "data"
    srv = ServerProcess(data_dir, server_env())
    cmd = [sys.executable, "-m", "invalidator", "serve", "--port", "0", "--edge-port", "0",
           "--data-dir", str(data_dir)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=srv.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not nudge_server(data_dir):  # as early as the lock names the pid
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.001)
        for _ in range(20):  # and on through the start
            nudge_server(data_dir)
            time.sleep(0.05)
        assert proc.poll() is None, proc.returncode
    finally:
        proc.kill()
        proc.wait(5)


def test_a_nudge_holding_the_lock_shared_does_not_block_a_start(tmp_path: Path) -> None:
    """`nudge_server` takes the lock shared for a moment to see whether a serve holds it; a
    serve starting in that moment waits it out instead of naming a dead pid and giving up."""
    import fcntl
    import os
    import threading

    from invalidator.cli.data_lock import LOCK_NAME, DataDirLocked

    data_dir = tmp_path / "data"
    with data_dir_lock(data_dir):
        pass  # a previous serve, gone: its pid stays in the file
    fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    threading.Timer(0.1, os.close, (fd,)).start()  # as a nudge would, a little longer
    with data_dir_lock(data_dir):
        pass
    fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:  # held for good (a serve): refused within the patience
        started = time.monotonic()
        with pytest.raises(DataDirLocked), data_dir_lock(data_dir):
            pass
        assert time.monotonic() - started < 2
    finally:
        os.close(fd)
