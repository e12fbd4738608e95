"""Versioned schema migrations: plain SQL files `NNNN_name.sql`, applied in order, once.

Each store technology has its own folder of migrations (these are SQLite's); a database whose
recorded version is newer than the newest migration shipped here was written by a newer
invalidator and is refused (`SchemaTooNew`) rather than used with a schema the code does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreOpenError(Exception):
    """The store cannot be opened (unreadable, not a database, or a schema we do not know).

    The message is meant for the operator, one line; commands print it without a traceback.
    """


class SchemaTooNew(StoreOpenError):
    """The database carries a schema version newer than any migration this code ships."""

    def __init__(self, database: str, found: int, known: int) -> None:
        super().__init__(
            f"{database} has schema version {found}, but this invalidator knows versions up to "
            f"{known} only: it was written by a newer invalidator; upgrade to open it"
        )
        self.found = found
        self.known = known


@dataclass(frozen=True)
class Migration:
    """One schema step."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every migration shipped with the package, by version."""
    folder = resources.files("invalidator.store") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our SQL literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
