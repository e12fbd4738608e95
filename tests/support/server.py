"""Run real `invalidator serve` processes on free ports for tests and benchmarks."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invalidator.cli.local import api_client
from invalidator.cli.origin_config import config_for_origin
from invalidator.domain.models import Distribution
from invalidator.settings import load_settings
from invalidator.store.sqlite import SqliteStore
from tests.support.child import kill, wait_for_output

ACCESS_KEY_ID = "AKIAINVALIDATORTEST1"
SECRET_ACCESS_KEY = "test-secret-key-0123456789abcdefghijklmn"
_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class ServerProcess:
    """A running server and how to reach it."""

    data_dir: Path
    env: dict[str, str]
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    edge_url: str = ""
    output: list[str] = field(default_factory=list)

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Start (with a built-in edge on a free port unless the args say otherwise) and wait
        for its listening lines; afterwards a thread keeps draining the output."""
        edge_args = [] if "--edge-port" in self.extra_args else ["--edge-port", "0"]
        cmd = [sys.executable, "-m", "invalidator", "serve", "--port", "0",
               "--data-dir", str(self.data_dir), *edge_args, *self.extra_args]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        want_edge = (
            "-1" not in self.extra_args[self.extra_args.index("--edge-port") + 1 :][:1]
            if "--edge-port" in self.extra_args
            else True
        )

        def ready(line: str) -> bool:
            found = _LISTENING.search(line)
            if found and "API" in line:
                self.url = found.group(1)
            elif found and "edge" in line:
                self.edge_url = found.group(1)
            return bool(self.url and (self.edge_url or not want_edge))

        wait_for_output(self.proc, self.output, ready, timeout, "server")
        return self

    def kill(self) -> None:
        """SIGKILL, no cleanup."""
        kill(self.proc)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def client(self, region: str = "us-east-1", **kwargs: Any) -> Any:
        """A boto3 CloudFront client for this server."""
        import boto3

        return boto3.client(
            "cloudfront",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=kwargs.pop("key_id", ACCESS_KEY_ID),
            aws_secret_access_key=kwargs.pop("secret", SECRET_ACCESS_KEY),
            **kwargs,
        )

    def create_distribution(self, **kwargs: Any) -> Distribution:
        """A distribution written straight to the server's store (as the CLI does)."""
        return asyncio.run(add_distribution(self.data_dir, **kwargs))


def server_env(**extra: str) -> dict[str, str]:
    """The environment for a test server: the test key pair, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVALIDATOR_")}
    env.update(
        INVALIDATOR_ACCESS_KEY_ID=ACCESS_KEY_ID,
        INVALIDATOR_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        INVALIDATOR_LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


async def add_distribution(
    data_dir: Path,
    origin_url: str = "http://127.0.0.1:1024",
    tag_header: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Distribution:
    """Create a distribution through the API, in-process on the store of `data_dir`."""
    settings = load_settings(
        {"data_dir": str(data_dir)},
        environ={
            "INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        },
    )
    async with api_client(settings, create=True) as client:
        created = await client.create_distribution(
            config_for_origin(origin_url, aliases, tag_header)
        )
    store = SqliteStore(data_dir / "invalidator.db")
    try:
        found = await store.get_distribution(created["Id"])
    finally:
        await store.close()
    assert found is not None
    return found
