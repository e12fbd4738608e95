"""Shared fixtures: a real server process per session, and fresh ones on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess, server_env


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One `invalidator serve` for the session; tests use their own distributions."""
    proc = ServerProcess(tmp_path_factory.mktemp("server"), server_env()).start()
    yield proc
    proc.terminate()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with their own data dir (or a given one); all stopped at teardown."""
    started: list[ServerProcess] = []

    def start(
        data_dir: Path | None = None, args: list[str] | None = None, **env: Any
    ) -> ServerProcess:
        proc = ServerProcess(data_dir or tmp_path / "data", server_env(**env), args or [])
        started.append(proc.start())
        return proc

    yield start
    for proc in started:
        proc.kill()
