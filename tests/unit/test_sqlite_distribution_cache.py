"""The SQLite store parses a distribution row once and reuses it while the row is unchanged:
a change made through another connection (another process: the CLI, a second store) must be
seen by the next read and by the checks of the next write, never hidden by that reuse. The
write checks read the CallerReference and alias index, which must follow every write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from invalidator.cli.origin_config import config_for_origin
from invalidator.domain.clock import SystemClock
from invalidator.domain.distribution_service import DistributionService
from invalidator.domain.errors import CNAMEAlreadyExists, DistributionAlreadyExists
from invalidator.domain.ids import RandomIds
from invalidator.propagation.coordinator import Coordinator
from invalidator.store.sqlite import SqliteStore


def _service(store: SqliteStore) -> DistributionService:
    clock, ids = SystemClock(), RandomIds()
    return DistributionService(store, Coordinator(store, clock, ids), clock, ids, "cdn.test")


async def test_a_change_through_another_store_is_seen_by_reads_and_write_checks(
    tmp_path: Path,
) -> None:
    db = tmp_path / "invalidator.db"
    mine, theirs = SqliteStore(db), SqliteStore(db)
    try:
        created, _ = await _service(mine).create_distribution(
            config_for_origin("http://127.0.0.1:1024", ("a.example.com",))
        )
        dist_id = created.distribution.id
        # warm every read path of `mine` on the row as it is now
        assert (await mine.get_distribution(dist_id)).aliases == ("a.example.com",)  # type: ignore[union-attr]
        assert [d.aliases for d in await mine.list_distributions()] == [("a.example.com",)]

        # the other store (another process) moves the alias to b.example.com
        current = await theirs.get_distribution(dist_id)
        assert current is not None
        config = config_for_origin("http://127.0.0.1:1024", ("b.example.com",))
        config["CallerReference"] = current.caller_reference
        await _service(theirs).update_distribution(dist_id, config, current.etag)

        seen = await mine.get_distribution(dist_id)
        assert seen is not None and seen.aliases == ("b.example.com",)
        assert [d.aliases for d in await mine.list_distributions()] == [("b.example.com",)]
        # the write check of `mine` sees the moved alias: a.example.com is free, b is taken
        await _service(mine).create_distribution(
            config_for_origin("http://127.0.0.1:1025", ("a.example.com",))
        )
        with pytest.raises(CNAMEAlreadyExists):
            await _service(mine).create_distribution(
                config_for_origin("http://127.0.0.1:1026", ("b.example.com",))
            )
    finally:
        await mine.close()
        await theirs.close()


async def test_the_alias_index_follows_updates_and_deletes(tmp_path: Path) -> None:
    """An alias is taken while a distribution holds it, in any case and with a trailing dot;
    free again once an update drops it or its distribution is deleted. A CallerReference is
    taken for good while its distribution exists."""
    store = SqliteStore(tmp_path / "invalidator.db")
    service = _service(store)

    def config(*aliases: str) -> dict[str, Any]:
        return config_for_origin("http://127.0.0.1:1025", aliases)

    try:
        made, _ = await service.create_distribution(config("a.example.com", "b.example.com"))
        first = made.distribution
        for taken in ("A.Example.com.", "b.example.com"):
            with pytest.raises(CNAMEAlreadyExists):
                await service.create_distribution(config(taken))
        narrowed = {**first.config, "Aliases": {"Quantity": 1, "Items": ["b.example.com"]}}
        kept = await service.update_distribution(first.id, narrowed, first.etag)
        await service.create_distribution(config("a.example.com"))
        replayed = {**config(), "CallerReference": first.caller_reference}
        with pytest.raises(DistributionAlreadyExists):
            await service.create_distribution(replayed)
        off = {**narrowed, "Enabled": False}
        disabled = await service.update_distribution(first.id, off, kept.distribution.etag)
        await service.delete_distribution(first.id, disabled.distribution.etag)
        await service.create_distribution(config("b.example.com"))
        await service.create_distribution(replayed)
    finally:
        await store.close()
