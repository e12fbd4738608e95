"""Fixtures of the unit tests: an in-process control plane on a fresh SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.plane import Plane, open_plane


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[Plane]:
    """A plane (store, service, coordinator, clock) with a 1 s lease and a 0.2 s margin."""
    plane = await open_plane(tmp_path / "db.sqlite", lease_seconds=1.0, margin_seconds=0.2)
    yield plane
    await plane.coordinator.stop()
    await plane.store.close()
