"""The SQLite store's group commit: jobs without savepoints and the redo when one fails late;
statements on the caller's loop, the lock wait and COMMIT in the thread; several loops."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from invalidator.domain.errors import ServiceUnavailable
from invalidator.store.group_commit import GroupCommitWriter
from invalidator.store.sqlite import SqliteStore, _connect


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


def _insert(value: str) -> object:
    def job(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return threading.get_ident()

    return job


def _writer_on_table(path: Path, busy_timeout_ms: int = 1000) -> GroupCommitWriter:
    setup = _connect(path)
    setup.execute("CREATE TABLE t (v TEXT)")
    setup.close()
    return GroupCommitWriter(_connect(path), busy_timeout_ms=busy_timeout_ms)


def _rows(path: Path) -> list[str]:
    check = sqlite3.connect(path)
    try:
        return [r[0] for r in check.execute("SELECT v FROM t ORDER BY v")]
    finally:
        check.close()


async def _store_with_table(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store._write(lambda conn: conn.execute("CREATE TABLE t (v TEXT)"))
    return store


async def test_statements_run_on_the_callers_loop_thread(tmp_path: Path) -> None:
    """A group's statements run on the thread of the loop that submitted them (no GIL
    hand-off per statement); they are readable once the future resolved."""
    store = await _store_with_table(tmp_path / "db.sqlite")
    threads = await asyncio.gather(*(store._write(_insert(f"v{n}")) for n in range(20)))  # type: ignore[arg-type]
    assert set(threads) == {threading.get_ident()}
    assert store._query("SELECT count(*) FROM t")[0][0] == 20
    await store.close()


async def test_a_write_waits_for_another_process_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """While another connection holds the write lock, a write waits (in the thread, not on the
    loop: timers keep firing) and commits as soon as the lock is released."""
    path = tmp_path / "db.sqlite"
    store = await _store_with_table(path)
    other = _connect(path)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (v) VALUES ('other')")
    write = asyncio.ensure_future(store._write(_insert("mine")))  # type: ignore[arg-type]
    ticks = 0
    for _ in range(20):
        await asyncio.sleep(0.01)
        ticks += 1
    assert not write.done() and ticks == 20
    other.execute("COMMIT")
    other.close()
    thread = await asyncio.wait_for(write, 5)
    assert thread != threading.get_ident()  # this group ran in the writer thread
    rows = store._query("SELECT v FROM t ORDER BY v")
    assert [r[0] for r in rows] == ["mine", "other"]
    assert await store._write(_insert("next")) == threading.get_ident()  # back on the loop
    await store.close()


async def test_a_lock_held_past_the_busy_timeout_fails_the_group(tmp_path: Path) -> None:
    """When the lock stays taken for longer than the busy timeout, the group's callers get
    ServiceUnavailable and nothing of theirs is written; the writer goes on afterwards."""
    path = tmp_path / "db.sqlite"
    writer = _writer_on_table(path, busy_timeout_ms=100)
    other = _connect(path)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        await writer.submit(_insert("lost"))  # type: ignore[arg-type]
    assert 0.09 <= time.monotonic() - started < 5
    other.execute("ROLLBACK")
    await writer.submit(_insert("kept"))  # type: ignore[arg-type]
    assert [r[0] for r in other.execute("SELECT v FROM t")] == ["kept"]
    other.close()
    await writer.drain()
    writer.stop()


def test_two_event_loops_write_to_one_store_at_once(tmp_path: Path) -> None:
    """Loops in two threads share the connection: every write of each lands, each caller is
    answered on its own loop."""
    path = tmp_path / "db.sqlite"
    store = asyncio.run(_store_with_table(path))
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        async def burst() -> None:
            for round_ in range(20):
                await asyncio.gather(
                    *(store._write(_insert(f"{prefix}-{round_}-{n}")) for n in range(10))  # type: ignore[arg-type]
                )

        try:
            asyncio.run(burst())
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    count = store._query("SELECT count(*) FROM t")[0][0]
    assert count == 400
    asyncio.run(store.close())


async def test_writes_after_close_are_refused(tmp_path: Path) -> None:
    """close() finishes queued writes first; a write after it fails with ServiceUnavailable."""
    path = tmp_path / "db.sqlite"
    store = await _store_with_table(path)
    queued = [asyncio.ensure_future(store._write(_insert(f"q{n}"))) for n in range(5)]  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the tasks have submitted their jobs; none has run yet
    assert not any(f.done() for f in queued)
    await store.close()
    assert all(f.done() and f.exception() is None for f in queued)
    with pytest.raises(ServiceUnavailable):
        await store._write(_insert("late"))  # type: ignore[arg-type]
    assert len(_rows(path)) == 5


async def test_a_transaction_sqlite_rolled_back_fails_the_whole_group(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk makes SQLite roll the whole transaction back: the jobs after it must not
    run in autocommit (nothing of the group reaches the disk, every caller is told), and the
    cause is logged once (the callers only see a 503)."""
    caplog.set_level(logging.ERROR, logger="invalidator.store")
    path = tmp_path / "db.sqlite"
    writer = _writer_on_table(path)
    writer._conn.execute("PRAGMA max_page_count = 3")  # room for the schema, not for a big row

    def big(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200_000,))

    def refuses_late(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (v) VALUES ('partial')")
        raise Refused()

    results = await asyncio.gather(
        writer.submit(_insert("a")),  # type: ignore[arg-type]
        writer.submit(big),
        writer.submit(refuses_late),
        return_exceptions=True,
    )
    assert all(isinstance(r, ServiceUnavailable) for r in results)
    assert _rows(path) == []
    (logged,) = [r for r in caplog.records if r.name == "invalidator.store"]
    assert logged.getMessage() == "store writes failed: answered 503"
    assert "full" in logged.__dict__["error"] and logged.__dict__["writes_failed"] == 3
    writer._conn.execute("PRAGMA max_page_count = 1000000")
    await writer.submit(_insert("after"))  # type: ignore[arg-type]
    assert _rows(path) == ["after"]
    await writer.drain()
    writer.stop()


class _Fatal(BaseException):
    """Not an Exception: escapes `except Exception`."""


async def test_a_job_raising_a_base_exception_does_not_stall_the_writer(tmp_path: Path) -> None:
    """The group's callers are answered (ServiceUnavailable), nothing of it is written, and
    the next write works, whether the group ran on the loop or in the thread."""
    path = tmp_path / "db.sqlite"
    writer = _writer_on_table(path)

    def fatal(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (v) VALUES ('fatal')")
        raise _Fatal()

    loop = asyncio.get_running_loop()
    handler_errors: list[BaseException | None] = []
    loop.set_exception_handler(lambda _loop, ctx: handler_errors.append(ctx.get("exception")))
    first = writer.submit(_insert("a"))  # type: ignore[arg-type]
    second = writer.submit(fatal)
    done, _ = await asyncio.wait([first, second], timeout=5)
    assert len(done) == 2
    assert isinstance(first.exception(), ServiceUnavailable)
    assert isinstance(second.exception(), ServiceUnavailable)
    assert any(isinstance(e, _Fatal) for e in handler_errors)  # re-raised, seen by the loop
    other = _connect(path)  # now the group goes to the thread, which must survive it too
    other.execute("BEGIN IMMEDIATE")
    in_thread = writer.submit(fatal)
    await asyncio.sleep(0.05)
    other.execute("ROLLBACK")
    other.close()
    with pytest.raises(ServiceUnavailable):
        await asyncio.wait_for(in_thread, 5)
    await asyncio.wait_for(writer.submit(_insert("after")), 5)  # type: ignore[arg-type]
    assert _rows(path) == ["after"]
    await writer.drain()
    writer.stop()


async def test_stop_waits_for_a_group_under_way(tmp_path: Path) -> None:
    """stop() from another thread while a group runs: the group commits and is answered,
    then the thread ends; nothing hangs."""
    path = tmp_path / "db.sqlite"
    writer = _writer_on_table(path)

    def slow(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t (v) VALUES ('slow')")
        time.sleep(0.3)
        return "slow"

    future = writer.submit(slow)
    stopper = threading.Timer(0.1, writer.stop)
    stopper.start()
    assert await asyncio.wait_for(future, 5) == "slow"
    stopper.join(5)
    assert not writer._thread.is_alive()
    assert _rows(path) == ["slow"]
    with pytest.raises(ServiceUnavailable):
        await writer.submit(_insert("late"))  # type: ignore[arg-type]


async def test_a_job_marked_in_thread_leaves_the_loop_free(tmp_path: Path) -> None:
    """A long job submitted `in_thread` (as deleting a distribution is) runs with its group in
    the writer thread: the loop keeps running while it works, and its result commits."""
    path = tmp_path / "db.sqlite"
    writer = _writer_on_table(path)

    def long_job(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES ('long')")
        time.sleep(0.3)  # stands for a long statement (SQLite releases the GIL too)
        return threading.get_ident()

    job = writer.submit(long_job, in_thread=True)
    neighbour = writer.submit(_insert("neighbour"))  # type: ignore[arg-type]
    ticks = 0
    while not job.done():
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks >= 10  # the loop was not blocked for the 0.3 s
    assert job.result() != threading.get_ident()
    assert await neighbour != threading.get_ident()  # the same group, in the thread
    assert _rows(path) == ["long", "neighbour"]
    await writer.drain()
    writer.stop()
