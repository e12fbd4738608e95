"""SqliteStore: the embedded default store.

One write connection, owned by a group-commit writer (store/group_commit.py): the writes
waiting while a group commits run together in one transaction with one COMMIT, so a burst of
creates costs one fsync (WAL, synchronous=FULL) instead of one each. Every caller's future
resolves only after that commit: a 201 is never sent for data that is not on disk. Reads use
a separate connection on the caller's thread (WAL snapshot reads).

The database holds access keys' secrets in plain text, so a data directory we create is 0700
and the database file is 0600 (SQLite gives its -wal and -shm files the database's mode); an
existing database readable by others is narrowed to 0600 when opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from invalidator.domain.config_rules import alias_key
from invalidator.domain.errors import NoSuchDistribution, ServiceUnavailable
from invalidator.domain.models import (
    AccessKey,
    Distribution,
    EdgeRecord,
    Event,
    EventKind,
    InProgressCounts,
    Invalidation,
    InvalidationDraft,
    InvalidationStatus,
)
from invalidator.domain.ports import AdmitFn, ChangeFn, CheckFn, DecideCreateFn
from invalidator.store.group_commit import GroupCommitWriter
from invalidator.store.rows import (
    ACCESS_KEY_COLUMNS,
    DISTRIBUTION_COLUMNS,
    INVALIDATION_COLUMNS,
    access_key_from_row,
    access_key_params,
    distribution_from_row,
    distribution_params,
    invalidation_from_row,
    time_text,
)
from invalidator.store.schema import (
    SchemaTooNew,
    StoreOpenError,
    load_migrations,
    split_statements,
)

T = TypeVar("T")
_BUSY_TIMEOUT_MS = 10_000
_PARSED_CACHE = 10_000
_IDS_PER_STATEMENT = 500  # below SQLite's oldest bound on parameters per statement (999)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


_PRIVATE_FILE = 0o600
_PRIVATE_DIR = 0o700
_DB_SUFFIXES = ("", "-wal", "-shm")


def make_data_dir(data_dir: Path) -> None:
    """Create the data directory (0700; its parents with the default mode) if missing. An
    existing non-directory there is NotADirectoryError, whose text says so (mkdir would say
    "File exists", as if all were well)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=_PRIVATE_DIR)
    except FileExistsError:  # with exist_ok, only for something that is not a directory
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(data_dir)) from None


_ParsedRow = tuple[tuple[Any, ...], Distribution]


def _reuse(cache: dict[str, _ParsedRow], row: tuple[Any, ...]) -> _ParsedRow:
    """`row` with its Distribution: the cached one while the row is unchanged, else parsed."""
    cached = cache.get(row[0])
    return cached if cached is not None and cached[0] == row else (row, distribution_from_row(row))


def _prepare_files(path: Path) -> None:
    """Create the data directory (0700) and the database file (0600) if missing; narrow an
    existing database, -wal or -shm file that others may read to 0600."""
    make_data_dir(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, _PRIVATE_FILE))  # a new file is born private
    for suffix in _DB_SUFFIXES:
        file = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                os.chmod(file, _PRIVATE_FILE)


def migrate(conn: sqlite3.Connection, database: str = "the database") -> int:
    """Apply pending migrations; returns the schema version.

    Raises `SchemaTooNew` (nothing changed) when the database records a version newer than
    the newest migration shipped here; `database` names it in that message.
    """
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)"
    )
    migrations = load_migrations()
    known = max((m.version for m in migrations), default=0)
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        version = max(done, default=0)
        if version > known:
            raise SchemaTooNew(database, version, known)
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
            version = migration.version
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


class SqliteStore:
    """The Store port on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            _prepare_files(path)
            write_conn = _connect(path)
            try:
                migrate(write_conn, str(path))
                self._read = _connect(path)
            except BaseException:
                write_conn.close()
                raise
        except (sqlite3.Error, OSError) as exc:  # SchemaTooNew passes through as it is
            raise StoreOpenError(f"cannot open the store {path}: {exc}") from exc
        self._read_lock = threading.Lock()
        self._parsed: dict[str, _ParsedRow] = {}
        self._parsed_keys: dict[str, tuple[tuple[Any, ...], AccessKey]] = {}
        self._writer = GroupCommitWriter(write_conn, _BUSY_TIMEOUT_MS)

    # -- plumbing ------------------------------------------------------------------------

    async def _write(self, job: Callable[[sqlite3.Connection], T], *, in_thread: bool = False) -> T:
        return await self._writer.submit(job, in_thread=in_thread)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock:
            try:
                return self._read.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise ServiceUnavailable() from exc

    async def close(self) -> None:
        """Finish queued writes and close both connections."""
        await self._writer.drain()
        await asyncio.to_thread(self._writer.stop)
        self._read.close()

    # -- distributions -------------------------------------------------------------------

    def _distribution(self, row: Sequence[Any]) -> Distribution:
        """The Distribution of a row, parsed again only when the row changed: its config is a
        JSON document of kilobytes, and listings and the edges' config reads go over every
        stored one (an unchanged row costs a comparison, not a parse). Shared objects: never
        mutated."""
        entry = _reuse(self._parsed, tuple(row))
        if len(self._parsed) > _PARSED_CACHE:  # ids read one by one, none listed since
            self._parsed.clear()
        self._parsed[entry[0][0]] = entry
        return entry[1]

    def _every_distribution(self, rows: Sequence[Sequence[Any]]) -> list[Distribution]:
        """The Distributions of a full listing; the cache then holds exactly these rows, so a
        deleted distribution leaves it and it never outgrows the store (a bound checked while
        listing would clear it again and again above that many distributions)."""
        old = self._parsed
        kept = {row[0]: _reuse(old, row) for row in map(tuple, rows)}
        self._parsed = kept  # replaced whole: the writer thread may list while the loop reads
        return [entry[1] for entry in kept.values()]

    async def get_distribution(self, distribution_id: str) -> Distribution | None:
        """The distribution, or None (always read, so a change by another process counts)."""
        rows = self._query(
            f"SELECT {DISTRIBUTION_COLUMNS} FROM distributions WHERE id = ?", (distribution_id,)
        )
        return self._distribution(rows[0]) if rows else None

    async def list_distributions(self) -> list[Distribution]:
        """All distributions, oldest first."""
        rows = self._query(
            f"SELECT {DISTRIBUTION_COLUMNS} FROM distributions ORDER BY created_at, id"
        )
        return self._every_distribution(rows)

    async def list_distributions_page(
        self, after: str, limit: int, only: frozenset[str] | None = None
    ) -> list[Distribution]:
        """At most `limit` distributions with an Id after `after`, in Id order (by the primary
        key: a page costs its own rows, however many are stored)."""
        sql = f"SELECT {DISTRIBUTION_COLUMNS} FROM distributions WHERE id > ?"
        params: list[Any] = [after]
        if only is not None:
            sql += " AND id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(only)))
        rows = self._query(sql + " ORDER BY id LIMIT ?", [*params, limit])
        return [self._distribution(row) for row in rows]

    @staticmethod
    def _upsert_distribution(conn: sqlite3.Connection, distribution: Distribution) -> None:
        params = distribution_params(distribution)
        names = [c.strip() for c in DISTRIBUTION_COLUMNS.split(",")]
        sets = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        conn.execute(
            f"INSERT INTO distributions ({DISTRIBUTION_COLUMNS}) "
            f"VALUES ({', '.join('?' * len(params))}) ON CONFLICT (id) DO UPDATE SET {sets}",
            params,
        )
        conn.execute("DELETE FROM distribution_aliases WHERE distribution_id = ?", (params[0],))
        conn.executemany(
            "INSERT INTO distribution_aliases (alias_key, distribution_id) VALUES (?, ?)",
            [(key, params[0]) for key in sorted({alias_key(a) for a in distribution.aliases})],
        )

    @staticmethod
    def _add_event(
        conn: sqlite3.Connection,
        kind: EventKind,
        distribution_id: str,
        invalidation_id: str | None = None,
    ) -> int:
        cur = conn.execute(
            "INSERT INTO events (kind, distribution_id, invalidation_id, created_at) "
            "VALUES (?, ?, ?, ?)",
            (kind.value, distribution_id, invalidation_id, time_text(datetime.now(UTC))),
        )
        return int(cur.lastrowid or 0)

    async def create_distribution(
        self, candidate: Distribution, decide: DecideCreateFn
    ) -> tuple[Distribution, bool]:
        """Decide and insert in one transaction (see Store)."""

        def job(conn: sqlite3.Connection) -> tuple[Distribution, bool]:
            replay = decide(_Index(self, conn))
            if replay is not None:
                return replay, False
            self._upsert_distribution(conn, candidate)
            self._add_event(conn, EventKind.DISTRIBUTION, candidate.id)
            return candidate, True

        return await self._write(job)

    async def update_distribution(self, distribution_id: str, change: ChangeFn) -> Distribution:
        """Compare-and-swap a distribution in one transaction (see Store)."""

        def job(conn: sqlite3.Connection) -> Distribution:
            row = conn.execute(
                f"SELECT {DISTRIBUTION_COLUMNS} FROM distributions WHERE id = ?",
                (distribution_id,),
            ).fetchone()
            if row is None:
                raise NoSuchDistribution()
            updated = change(self._distribution(row), _Index(self, conn))
            self._upsert_distribution(conn, updated)
            self._add_event(conn, EventKind.DISTRIBUTION, updated.id)
            return updated

        return await self._write(job)

    async def delete_distribution(self, distribution_id: str, check: CheckFn) -> None:
        """Check and delete (with its invalidations) in one transaction (see Store)."""

        def job(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                f"SELECT {DISTRIBUTION_COLUMNS} FROM distributions WHERE id = ?",
                (distribution_id,),
            ).fetchone()
            if row is None:
                raise NoSuchDistribution()
            check(self._distribution(row))
            conn.execute("DELETE FROM distributions WHERE id = ?", (distribution_id,))
            self._add_event(conn, EventKind.DISTRIBUTION_DELETED, distribution_id)

        await self._write(job, in_thread=True)  # cascades over all its invalidations

    # -- invalidations -------------------------------------------------------------------

    async def create_invalidation(
        self, draft: InvalidationDraft, admit: AdmitFn
    ) -> tuple[Invalidation, bool]:
        """Idempotency check, limits and insert in one transaction (see Store)."""

        def job(conn: sqlite3.Connection) -> tuple[Invalidation, bool]:
            # One statement for the sequence, the replay check and the in-progress counts.
            found = conn.execute(
                "SELECT next_seq, "
                "(SELECT id FROM invalidations WHERE distribution_id = d.id "
                "AND caller_reference = ?3), "
                "(SELECT COALESCE(SUM(file_paths), 0) FROM invalidations "
                "WHERE distribution_id = d.id AND status = ?1), "
                "(SELECT COALESCE(SUM(wildcard_paths), 0) FROM invalidations "
                "WHERE distribution_id = d.id AND status = ?1) "
                "FROM distributions d WHERE d.id = ?2",
                (
                    InvalidationStatus.IN_PROGRESS.value,
                    draft.distribution_id,
                    draft.caller_reference,
                ),
            ).fetchone()
            if found is None:
                raise NoSuchDistribution()
            existing = None
            if found[1] is not None:
                existing_row = conn.execute(
                    f"SELECT {INVALIDATION_COLUMNS} FROM invalidations WHERE id = ?", (found[1],)
                ).fetchone()
                existing = invalidation_from_row(existing_row)
            replay = admit(existing, InProgressCounts(found[2], found[3]))
            if replay is not None:
                return replay, False
            seq = int(found[0])
            conn.execute(
                "UPDATE distributions SET next_seq = ? WHERE id = ?",
                (seq + 1, draft.distribution_id),
            )
            pos = self._add_event(conn, EventKind.INVALIDATION, draft.distribution_id, draft.id)
            conn.execute(
                "INSERT INTO invalidations (id, distribution_id, seq, caller_reference, paths, "
                "file_paths, wildcard_paths, status, create_time, pos) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    draft.id,
                    draft.distribution_id,
                    seq,
                    draft.caller_reference,
                    json.dumps(list(draft.paths)),
                    draft.file_paths,
                    draft.wildcard_paths,
                    InvalidationStatus.IN_PROGRESS.value,
                    time_text(draft.create_time),
                    pos,
                ),
            )
            created = Invalidation(
                id=draft.id,
                distribution_id=draft.distribution_id,
                seq=seq,
                caller_reference=draft.caller_reference,
                paths=draft.paths,
                status=InvalidationStatus.IN_PROGRESS,
                create_time=draft.create_time,
                pos=pos,
            )
            return created, True

        return await self._write(job)

    async def get_invalidation(
        self, distribution_id: str, invalidation_id: str
    ) -> Invalidation | None:
        """The invalidation if it belongs to that distribution."""
        rows = self._query(
            f"SELECT {INVALIDATION_COLUMNS} FROM invalidations "
            "WHERE id = ? AND distribution_id = ?",
            (invalidation_id, distribution_id),
        )
        return invalidation_from_row(rows[0]) if rows else None

    async def list_invalidations(
        self, distribution_id: str, before_id: str | None, limit: int
    ) -> list[Invalidation] | None:
        """Newest first (by seq), after the marker."""
        before_seq = None
        if before_id is not None:
            found = self._query(
                "SELECT seq FROM invalidations WHERE id = ? AND distribution_id = ?",
                (before_id, distribution_id),
            )
            if not found:
                return None
            before_seq = found[0][0]
        rows = self._query(
            f"SELECT {INVALIDATION_COLUMNS} FROM invalidations WHERE distribution_id = ? "
            "AND seq < ? ORDER BY seq DESC LIMIT ?",
            (distribution_id, before_seq if before_seq is not None else 2**62, limit),
        )
        return [invalidation_from_row(r) for r in rows]

    async def in_progress_invalidations(self, after: int = 0) -> list[Invalidation]:
        """Every InProgress invalidation, oldest first; with `after` > 0 only those logged
        after that position (a range of the event log, not a scan of every invalidation)."""
        if after > 0:
            columns = ", ".join(f"i.{c.strip()}" for c in INVALIDATION_COLUMNS.split(","))
            rows = self._query(
                f"SELECT {columns} FROM events e JOIN invalidations i ON i.id = e.invalidation_id "
                "WHERE e.pos > ? AND e.kind = ? AND i.status = ? ORDER BY e.pos",
                (after, EventKind.INVALIDATION.value, InvalidationStatus.IN_PROGRESS.value),
            )
            return [invalidation_from_row(r) for r in rows]
        rows = self._query(
            f"SELECT {INVALIDATION_COLUMNS} FROM invalidations WHERE status = ? "
            "ORDER BY create_time, seq",
            (InvalidationStatus.IN_PROGRESS.value,),
        )
        return [invalidation_from_row(r) for r in rows]

    async def complete_invalidations(self, invalidation_ids: Sequence[str], at: datetime) -> None:
        """Mark Completed (idempotent)."""
        ids = list(invalidation_ids)

        def job(conn: sqlite3.Connection) -> None:
            # One statement per chunk, not one per id: each statement the writer runs hands
            # the GIL to the event loop and back, which is what a busy server pays for.
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                chunk = ids[start : start + _IDS_PER_STATEMENT]
                conn.execute(
                    "UPDATE invalidations SET status = ?, complete_time = ? "
                    f"WHERE status = ? AND id IN ({','.join('?' * len(chunk))})",
                    (
                        InvalidationStatus.COMPLETED.value,
                        time_text(at),
                        InvalidationStatus.IN_PROGRESS.value,
                        *chunk,
                    ),
                )

        if ids:
            await self._write(job)

    async def count_in_progress(self, distribution_id: str) -> int:
        """In-progress batches of a distribution."""
        rows = self._query(
            "SELECT COUNT(*) FROM invalidations WHERE distribution_id = ? AND status = ?",
            (distribution_id, InvalidationStatus.IN_PROGRESS.value),
        )
        return int(rows[0][0])

    # -- the edges' event log and registry ---------------------------------------------------

    async def events_after(self, pos: int, limit: int) -> list[Event]:
        """Events with a position above `pos`, in order (invalidations with their paths)."""
        rows = self._query(
            "SELECT e.pos, e.kind, e.distribution_id, i.paths, e.created_at FROM events e "
            "LEFT JOIN invalidations i ON i.id = e.invalidation_id "
            "WHERE e.pos > ? ORDER BY e.pos LIMIT ?",
            (pos, limit),
        )
        return [
            Event(
                pos=row[0],
                kind=EventKind(row[1]),
                distribution_id=row[2],
                paths=tuple(json.loads(row[3])) if row[3] else (),
                stamp=row[4],
            )
            for row in rows
        ]

    async def event_stamp(self, pos: int) -> str | None:
        """The stamp of the event at `pos`, None when there is none."""
        rows = self._query("SELECT created_at FROM events WHERE pos = ?", (pos,))
        return str(rows[0][0]) if rows else None

    async def head_position(self) -> int:
        """The position of the newest event (0 when there is none)."""
        return int(self._query("SELECT COALESCE(MAX(pos), 0) FROM events")[0][0])

    async def config_positions(self, after: int = 0) -> dict[str, int]:
        """Per distribution, the position of its newest config event (above `after`)."""
        rows = self._query(
            "SELECT distribution_id, MAX(pos) FROM events WHERE pos > ? AND kind = ? "
            "GROUP BY distribution_id",
            (after, EventKind.DISTRIBUTION.value),
        )
        return {row[0]: int(row[1]) for row in rows}

    async def register_edge(self, edge: EdgeRecord) -> EdgeRecord:
        """Insert a new edge session (names may repeat: each registration is its own)."""
        seen = edge.seen_at or edge.registered_at

        def job(conn: sqlite3.Connection) -> EdgeRecord:
            conn.execute(
                "INSERT INTO edge_sessions (id, name, url, registered_at, seen_at, in_process, "
                "lease_seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    edge.id,
                    edge.name,
                    edge.url,
                    time_text(edge.registered_at),
                    time_text(seen),
                    int(edge.in_process),
                    edge.lease_seconds,
                ),
            )
            return edge

        return await self._write(job)

    async def list_edges(self) -> list[EdgeRecord]:
        """Every stored edge session."""
        rows = self._query(
            "SELECT id, name, url, registered_at, seen_at, in_process, lease_seconds "
            "FROM edge_sessions ORDER BY name, id"
        )
        return [
            EdgeRecord(
                r[0],
                r[1],
                r[2],
                datetime.fromisoformat(r[3]),
                datetime.fromisoformat(r[4]),
                bool(r[5]),
                float(r[6]),
            )
            for r in rows
        ]

    async def delete_edge(self, edge_id: str) -> None:
        """Forget an edge session (it stopped cleanly, or its lease is long gone)."""
        await self.delete_edges([edge_id])

    async def delete_edges(self, edge_ids: Sequence[str]) -> None:
        """Forget several edge sessions at once."""
        ids = [(i,) for i in edge_ids]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM edge_sessions WHERE id = ?", ids)

        if ids:
            await self._write(job)

    async def raise_edge_leases(self, lease_seconds: float) -> None:
        """Raise every stored session's granted lease length to at least `lease_seconds`."""

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE edge_sessions SET lease_seconds = ? WHERE lease_seconds < ?",
                (lease_seconds, lease_seconds),
            )

        await self._write(job)

    async def touch_edges(self, edge_ids: Sequence[str], at: datetime) -> None:
        """Note that these sessions were heard from at `at`."""
        rows = [(time_text(at), i) for i in edge_ids]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE edge_sessions SET seen_at = ? WHERE id = ?", rows)

        if rows:
            await self._write(job)

    # -- access keys ---------------------------------------------------------------------

    async def get_access_key(self, access_key_id: str) -> AccessKey | None:
        """The key, or None."""
        rows = self._query(
            f"SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?",
            (access_key_id,),
        )
        if not rows:
            return None
        row = tuple(rows[0])  # always read (revocations count at once); parsed once per row
        cached = self._parsed_keys.get(access_key_id)
        if cached is not None and cached[0] == row:
            return cached[1]
        key = access_key_from_row(row)
        if len(self._parsed_keys) > _PARSED_CACHE:
            self._parsed_keys.clear()
        self._parsed_keys[access_key_id] = (row, key)
        return key

    async def list_access_keys(self) -> list[AccessKey]:
        """All keys, oldest first."""
        rows = self._query(
            f"SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY created_at, access_key_id"
        )
        return [access_key_from_row(r) for r in rows]

    async def put_access_key(self, key: AccessKey) -> None:
        """Insert or replace a key."""
        params = access_key_params(key)

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT OR REPLACE INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES (?,?,?,?,?,?)",
                params,
            )

        await self._write(job)


class _Index:
    """The DistributionIndex of a write transaction: queries on its connection, by the
    unique CallerReference and the `distribution_aliases` table (rows parsed through the
    store's cache of unchanged rows)."""

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn

    def with_caller_reference(self, caller_reference: str) -> Distribution | None:
        """The distribution created with this CallerReference, or None."""
        row = self._conn.execute(
            f"SELECT {DISTRIBUTION_COLUMNS} FROM distributions WHERE caller_reference = ?",
            (caller_reference,),
        ).fetchone()
        return self._store._distribution(row) if row is not None else None

    def owning(self, aliases: Iterable[str]) -> list[Distribution]:
        """The distributions holding any of these aliases (by `alias_key`)."""
        keys = sorted({alias_key(a) for a in aliases})
        if not keys:
            return []
        rows = self._conn.execute(
            f"SELECT {DISTRIBUTION_COLUMNS} FROM distributions WHERE id IN (SELECT "
            f"distribution_id FROM distribution_aliases WHERE alias_key IN "
            f"({', '.join('?' * len(keys))})) ORDER BY id",
            keys,
        ).fetchall()
        return [self._store._distribution(row) for row in rows]
