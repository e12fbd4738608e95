"""The SQLite writer's group commit: jobs without savepoints, and the redo when one fails late."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from invalidator.store.sqlite import SqliteStore


class Refused(Exception):
    """A job's own refusal."""


async def test_a_job_failing_after_writing_rolls_back_alone(tmp_path: Path) -> None:
    """A job that raises after writing leaves nothing (the group is redone with savepoints);
    one that raises before writing, and the others, are unaffected."""
    store = SqliteStore(tmp_path / "db.sqlite")
    await store._write(lambda conn: conn.execute("CREATE TABLE t (v TEXT)"))

    def insert(value: str, fail: str | None = None) -> object:
        def job(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
            if fail == "late":
                raise Refused(value)
            return value

        def refuse_early(conn: sqlite3.Connection) -> str:
            raise Refused(value)

        return refuse_early if fail == "early" else job

    results = await asyncio.gather(
        store._write(insert("a")),  # type: ignore[arg-type]
        store._write(insert("b", "late")),  # type: ignore[arg-type]
        store._write(insert("c", "early")),  # type: ignore[arg-type]
        store._write(insert("d")),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert results[0] == "a" and results[3] == "d"
    assert isinstance(results[1], Refused) and isinstance(results[2], Refused)
    rows = store._query("SELECT v FROM t ORDER BY v")
    assert [r[0] for r in rows] == ["a", "d"]
    await store.close()


async def test_completing_more_ids_than_one_statement_takes(tmp_path: Path) -> None:
    """`complete_invalidations` updates in chunks of ids: 1,201 ids (three statements) all turn
    Completed with the time given, ids not in progress are left alone, and a repeat changes
    nothing (completion is idempotent)."""
    store = SqliteStore(tmp_path / "db.sqlite")
    ids = [f"I{n:05d}" for n in range(1201)]

    def rows(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO distributions (id, caller_reference, domain_name, aliases, origin_url, "
            "enabled, created_at, modified_at, etag) "
            "VALUES ('E1', 'c', 'd.example', '[]', 'http://o', 1, 't', 't', 'e')"
        )
        conn.executemany(
            "INSERT INTO invalidations (id, distribution_id, seq, caller_reference, paths, "
            "file_paths, wildcard_paths, status, create_time) "
            "VALUES (?, 'E1', ?, ?, '[\"/a\"]', 1, 0, 'InProgress', 't')",
            [(i, n, f"ref-{n}") for n, i in enumerate([*ids, "IKEEP"])],
        )

    await store._write(rows)
    first, later = datetime(2026, 12, 2, 1, tzinfo=UTC), datetime(2026, 12, 2, 2, tzinfo=UTC)
    await store.complete_invalidations([*ids, "INONE"], first)
    await store.complete_invalidations(ids[:10], later)
    found = {
        r[0]: (r[1], r[2])
        for r in store._query("SELECT id, status, complete_time FROM invalidations")
    }
    completed = {i: found[i] for i in ids}
    assert set(completed.values()) == {("Completed", "2026-12-02T01:00:00.000000+00:00")}
    assert found["IKEEP"] == ("InProgress", None)
    assert "INONE" not in found
    await store.close()
