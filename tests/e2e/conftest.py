"""Fixtures of the edge tests: a real origin, and an edge in front of it (real uvicorn with the
edge's own protocol, in the test's loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.edge_harness import Edge, running_edge
from tests.support.origin import Origin


@pytest.fixture
def origin() -> Iterator[Origin]:
    """A real origin server whose objects the test sets."""
    with Origin() as served:
        yield served


@pytest.fixture
async def edge(origin: Origin) -> AsyncIterator[Edge]:
    """An edge serving one distribution in front of `origin`."""
    async with running_edge(origin) as running:
        yield running
