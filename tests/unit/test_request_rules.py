"""Pure rules at the edge of the API: MaxItems, control characters in paths, the tags an origin
lists, the key pair."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from invalidator.domain.access_keys import configured_key, revoked
from invalidator.domain.clock import SystemClock
from invalidator.domain.errors import InvalidArgument
from invalidator.domain.ids import RandomIds
from invalidator.domain.invalidations import parse_max_items
from invalidator.domain.paths import MAX_TAGS_PER_OBJECT, ItemKind, parse_item, parse_tag_header
from invalidator.runtime import ensure_access_key
from invalidator.settings import Settings, SettingsError, load_settings
from invalidator.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("sent", "limit"),
    [(None, 100), ("", 100), ("1", 1), ("100", 100), ("101", 100), (" 7 ", 7), ("007", 7),
     ("99999999999999999999", 100), ("1" + "0" * 10_000, 100), ("0" * 50 + "3", 3)],
)  # fmt: skip
def test_max_items_is_capped_at_100(sent: str | None, limit: int) -> None:
    """Absent is 100; any all-digit value is taken, capped at 100 however many digits it has."""
    assert parse_max_items(sent) == limit


@pytest.mark.parametrize(
    "sent", ["0", "000", "-5", "+5", "1.0", "1e9", "abc", "²", "\u0661", "1_0"]
)
def test_max_items_not_a_positive_integer_is_invalid(sent: str) -> None:
    """Non-numeric (also non-ASCII digits) or < 1 is InvalidArgument."""
    with pytest.raises(InvalidArgument, match="MaxItems must be a positive integer"):
        parse_max_items(sent)


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\x80", "\x85", "\x9f"])
def test_c0_del_and_c1_controls_are_invalid_paths(char: str) -> None:
    """C0 controls, DEL and C1 controls (U+0080-U+009F) make a path invalid."""
    with pytest.raises(InvalidArgument, match="invalid invalidation paths"):
        parse_item(f"/a{char}b", tags_allowed=False)


@pytest.mark.parametrize("char", ["\xa0", "é", "€", "\u2028", "😀"])
def test_printable_non_ascii_paths_are_fine(char: str) -> None:
    """Characters after the C1 block (NBSP, letters, symbols, emoji) are ordinary."""
    assert parse_item(f"/a{char}b", tags_allowed=False).kind is ItemKind.EXACT


@pytest.mark.parametrize(
    "env",
    [
        {"INVALIDATOR_ACCESS_KEY_ID": "AKIAONLY"},
        {"INVALIDATOR_SECRET_ACCESS_KEY": "only-secret"},
        {"INVALIDATOR_ACCESS_KEY_ID": "AKIAONLY", "INVALIDATOR_SECRET_ACCESS_KEY": ""},
    ],
)
def test_half_a_key_pair_is_a_settings_error(env: dict[str, str]) -> None:
    """One of access key id and secret without the other is refused, naming where it came from."""
    with pytest.raises(SettingsError, match=r"is set \(from INVALIDATOR_.+\) but .+ is not"):
        load_settings(environ=env)


def test_both_or_neither_key_settings_load() -> None:
    """Both set, or neither: settings load."""
    both = {"INVALIDATOR_ACCESS_KEY_ID": "AKIA1", "INVALIDATOR_SECRET_ACCESS_KEY": "s"}
    assert load_settings(environ=both).key_pair() == ("AKIA1", "s")
    assert load_settings(environ={}).key_pair() is None


async def test_ensure_access_key_refuses_half_a_pair(tmp_path: Path) -> None:
    """Settings built directly with only an id are refused too, and no key is created."""
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        with pytest.raises(SettingsError):
            await ensure_access_key(
                store, Settings(access_key_id="AKIAONLY"), SystemClock(), RandomIds()
            )
        assert await store.list_access_keys() == []
    finally:
        await store.close()


async def test_ensure_access_key_never_reactivates_a_revoked_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A configured key revoked in the store stays revoked (with a warning); its secret too."""
    store = SqliteStore(tmp_path / "db.sqlite")
    settings = Settings(access_key_id="AKIACONF", secret_access_key="first")
    try:
        await ensure_access_key(store, settings, SystemClock(), RandomIds())
        key = await store.get_access_key("AKIACONF")
        assert key is not None and not key.revoked
        await store.put_access_key(revoked(key))
        rotated = Settings(access_key_id="AKIACONF", secret_access_key="second")
        logger = logging.getLogger("invalidator.keys")
        logger.addHandler(caplog.handler)  # also when "invalidator" does not propagate
        try:
            assert await ensure_access_key(store, rotated, SystemClock(), RandomIds()) is None
        finally:
            logger.removeHandler(caplog.handler)
        after = await store.get_access_key("AKIACONF")
        assert after is not None and after.revoked and after.secret_access_key == "first"
        warned = [r for r in caplog.records if r.levelname == "WARNING"]
        assert any("stays revoked" in r.getMessage() for r in warned)
    finally:
        await store.close()


async def test_a_stored_key_keeps_its_scope_and_a_client_never_rewrites_it(tmp_path: Path) -> None:
    """A configured id that names a limited key: serve replaces the secret only (scope and
    description kept); a client command (update_secret=False) changes nothing at all."""
    store = SqliteStore(tmp_path / "db.sqlite")
    limited = replace(
        configured_key("AKIALIM", "rotated", SystemClock().now()),
        distributions=frozenset({"EONLY"}),
        description="ci",
    )
    try:
        await store.put_access_key(limited)
        stale = Settings(access_key_id="AKIALIM", secret_access_key="stale")
        await ensure_access_key(store, stale, SystemClock(), RandomIds(), update_secret=False)
        assert await store.get_access_key("AKIALIM") == limited
        await ensure_access_key(store, stale, SystemClock(), RandomIds())
        assert await store.get_access_key("AKIALIM") == replace(limited, secret_access_key="stale")
    finally:
        await store.close()


def test_an_origin_tag_header_keeps_the_first_50_distinct_tags() -> None:
    """CloudFront stores the first 50 tags of a response; later ones cannot be invalidated.
    Repeats (in any case) take one place; entries that are not tags take none."""
    listed = ", ".join(f"T{i}" for i in range(80))
    assert parse_tag_header(listed) == {f"t{i}" for i in range(MAX_TAGS_PER_OBJECT)}
    repeated = "A, a, " + "with space, " + "x" * 257 + ", caf\u00e9, " + listed
    kept = parse_tag_header(repeated)
    assert len(kept) == MAX_TAGS_PER_OBJECT
    assert kept == {"a"} | {f"t{i}" for i in range(MAX_TAGS_PER_OBJECT - 1)}
    assert parse_tag_header(" product-7 ,, home ,") == {"product-7", "home"}
