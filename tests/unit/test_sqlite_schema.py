"""SqliteStore's files and schema: private permissions, upgrades, and a newer schema refused."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from invalidator.cli.origin_config import config_for_origin
from invalidator.domain.clock import SystemClock
from invalidator.domain.distribution_service import DistributionService
from invalidator.domain.errors import CNAMEAlreadyExists
from invalidator.domain.ids import RandomIds
from invalidator.propagation.coordinator import Coordinator
from invalidator.store.schema import SchemaTooNew, StoreOpenError, load_migrations, split_statements
from invalidator.store.sqlite import SqliteStore, migrate
from tests.support.server import server_env

NOW = "2024-01-02T03:04:05.000000+00:00"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _v1_database(path: Path) -> None:
    """A database as the first release left it: only migration 0001, with rows in it."""
    first = load_migrations()[0]
    assert first.version == 1
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
    for statement in split_statements(first.sql):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?)", (first.name,))
    conn.execute(
        "INSERT INTO distributions (id, caller_reference, domain_name, aliases, origin_url, "
        "tag_header, enabled, created_at, modified_at, etag, config, tags, next_seq) "
        "VALUES ('EOLD0000000001', 'ref', 'd1.example', '[\"www.old.test\"]', "
        "'http://127.0.0.1:9', NULL, 1, ?, ?, 'ETAG1', NULL, '[]', 2)",
        (NOW, NOW),
    )
    conn.execute(
        "INSERT INTO invalidations (id, distribution_id, seq, caller_reference, paths, "
        "file_paths, wildcard_paths, status, create_time, complete_time) VALUES "
        "('IOLD0000000001', 'EOLD0000000001', 1, 'inv-ref', ?, 1, 1, 'Completed', ?, ?)",
        (json.dumps(["/a", "/b/*"]), NOW, NOW),
    )
    conn.execute(
        "INSERT INTO access_keys (access_key_id, secret_access_key, distributions, created_at) "
        "VALUES ('AKIAOLD', 'old-secret', NULL, ?)",
        (NOW,),
    )
    conn.close()


async def test_new_data_dir_and_database_files_are_private(tmp_path: Path) -> None:
    """A data dir the store creates is 0700; the database, -wal and -shm files are 0600."""
    old_umask = os.umask(0o022)
    try:
        store = SqliteStore(tmp_path / "data" / "invalidator.db")
    finally:
        os.umask(old_umask)
    try:
        await store.list_access_keys()
        assert _mode(tmp_path / "data") == 0o700
        for name in ("invalidator.db", "invalidator.db-wal", "invalidator.db-shm"):
            assert _mode(tmp_path / "data" / name) == 0o600, name
    finally:
        await store.close()


async def test_existing_readable_database_is_narrowed(tmp_path: Path) -> None:
    """A database others may read (as older releases left it) is 0600 once opened."""
    db = tmp_path / "invalidator.db"
    await SqliteStore(db).close()
    os.chmod(db, 0o644)
    store = SqliteStore(db)
    try:
        assert _mode(db) == 0o600
    finally:
        await store.close()


async def test_v1_database_is_upgraded_with_its_data(tmp_path: Path) -> None:
    """A database with only migration 0001 gets every later one; its rows read back intact."""
    db = tmp_path / "invalidator.db"
    _v1_database(db)
    store = SqliteStore(db)
    try:
        dist = await store.get_distribution("EOLD0000000001")
        assert dist is not None and dist.aliases == ("www.old.test",) and dist.etag == "ETAG1"
        inv = await store.get_invalidation("EOLD0000000001", "IOLD0000000001")
        assert inv is not None and inv.paths == ("/a", "/b/*") and inv.caller_reference == "inv-ref"
        key = await store.get_access_key("AKIAOLD")
        assert key is not None and key.secret_access_key == "old-secret" and not key.revoked
        assert await store.head_position() == 0  # the events table exists, empty
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    conn.close()
    assert versions == [m.version for m in load_migrations()]


async def test_an_upgraded_database_keeps_its_aliases_taken(tmp_path: Path) -> None:
    """The alias index (migration 0006) holds the aliases stored before it: after the upgrade
    a new distribution naming one (any case, a trailing dot) is CNAMEAlreadyExists."""
    db = tmp_path / "invalidator.db"
    _v1_database(db)
    store = SqliteStore(db)
    clock, ids = SystemClock(), RandomIds()
    service = DistributionService(store, Coordinator(store, clock, ids), clock, ids, "cdn.test")
    try:
        with pytest.raises(CNAMEAlreadyExists):
            await service.create_distribution(
                config_for_origin("http://127.0.0.1:1024", ("WWW.Old.Test.",))
            )
        made, created = await service.create_distribution(
            config_for_origin("http://127.0.0.1:1024", ("www.new.test",))
        )
        assert created and made.distribution.aliases == ("www.new.test",)
    finally:
        await store.close()


async def test_reopening_runs_no_migration_again(tmp_path: Path) -> None:
    """A database at the current version is opened without executing any migration SQL."""
    db = tmp_path / "invalidator.db"
    await SqliteStore(db).close()
    conn = sqlite3.connect(db, isolation_level=None)
    executed: list[str] = []
    conn.set_trace_callback(executed.append)
    version = migrate(conn)
    conn.close()
    assert version == max(m.version for m in load_migrations())
    schema_changes = [s for s in executed if s.lstrip().upper().startswith(("CREATE T", "ALTER"))]
    assert schema_changes == ["CREATE TABLE IF NOT EXISTS schema_migrations "
                              "(version INTEGER PRIMARY KEY, name TEXT)"]  # fmt: skip
    assert not any(s.lstrip().upper().startswith("INSERT") for s in executed)


def _mark_newer(db: Path) -> int:
    newer = max(m.version for m in load_migrations()) + 1
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations VALUES (?, '9999_from_the_future.sql')", (newer,))
    conn.close()
    return newer


async def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A database migrated by a newer release is refused with SchemaTooNew; nothing changes."""
    db = tmp_path / "invalidator.db"
    await SqliteStore(db).close()
    newer = _mark_newer(db)
    before = db.read_bytes()
    with pytest.raises(SchemaTooNew) as info:
        SqliteStore(db)
    assert info.value.found == newer
    assert f"schema version {newer}" in str(info.value) and str(db) in str(info.value)
    assert isinstance(info.value, StoreOpenError)
    assert db.read_bytes() == before


def test_not_a_database_is_a_store_open_error(tmp_path: Path) -> None:
    """A file that is not SQLite is StoreOpenError naming it, not a raw sqlite3 error."""
    db = tmp_path / "invalidator.db"
    db.write_bytes(b"this is not a database, just text that is long enough" * 20)
    with pytest.raises(StoreOpenError, match="cannot open the store"):
        SqliteStore(db)


async def test_cli_on_a_newer_schema_exits_with_one_line(tmp_path: Path) -> None:
    """`keys list` and `serve` on a newer database exit 1 with the reason, no traceback."""
    await SqliteStore(tmp_path / "invalidator.db").close()
    _mark_newer(tmp_path / "invalidator.db")
    for args in (["keys", "list"], ["serve", "--port", "0", "--edge-port", "-1"]):
        done = subprocess.run(
            [sys.executable, "-m", "invalidator", *args, "--data-dir", str(tmp_path)],
            env=server_env(), capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "newer invalidator" in done.stderr and "schema version" in done.stderr
