"""The SQLite writer's group commit: jobs without savepoints, and the redo when one fails late."""

from __future__ import annotations

import asyncio
import sqlite3
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
