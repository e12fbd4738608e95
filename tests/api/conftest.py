"""Fixtures of the API tests: a signing raw-HTTP client and a fresh distribution."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import ServerProcess
from tests.support.signing import SignedClient


@pytest.fixture
def api(server: ServerProcess) -> Iterator[SignedClient]:
    """A raw-HTTP client for the session server, signing with botocore."""
    with SignedClient(server.url) as client:
        yield client


@pytest.fixture
def dist_id(server: ServerProcess) -> str:
    """A fresh distribution (no cache tag header) on the session server."""
    return server.create_distribution().id
