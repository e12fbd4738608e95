"""Preconditions and byte ranges the edge answers itself (RFC 9110 §13, §14)."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from invalidator.edge.conditional import (
    UNSATISFIABLE,
    ByteRange,
    precondition_status,
    requested_range,
)

NOW = 1_700_000_000.0
MODIFIED = formatdate(NOW - 3600, usegmt=True)


def date(offset: float) -> str:
    return formatdate(NOW - 3600 + offset, usegmt=True)


@pytest.mark.parametrize(
    ("request_headers", "status"),
    [
        ({}, None),
        ({"if-match": '"a"'}, None),
        ({"if-match": '"b", "a"'}, None),
        ({"if-match": "*"}, None),
        ({"if-match": 'W/"a"'}, 412),  # strong comparison
        ({"if-match": '"b"'}, 412),
        ({"if-unmodified-since": date(-1)}, 412),
        ({"if-unmodified-since": date(0)}, None),
        ({"if-unmodified-since": "not a date"}, None),
        ({"if-match": '"a"', "if-unmodified-since": date(-1)}, None),  # If-Match wins
        ({"if-none-match": '"a"'}, 304),
        ({"if-none-match": 'W/"a"'}, 304),  # weak comparison
        ({"if-modified-since": date(0)}, 304),
        ({"if-match": '"b"', "if-none-match": '"a"'}, 412),  # 412 first
    ],
)
def test_preconditions_in_rfc_order(request_headers: dict[str, str], status: int | None) -> None:
    """If-Match, else If-Unmodified-Since, then If-None-Match, else If-Modified-Since."""
    assert precondition_status(request_headers, 200, '"a"', MODIFIED) == status


def test_preconditions_apply_to_2xx_only() -> None:
    """A 404 ignores preconditions; a weak stored ETag never passes If-Match."""
    assert precondition_status({"if-match": '"b"'}, 404, '"a"', None) is None
    assert precondition_status({"if-match": '"a"'}, 200, 'W/"a"', None) == 412


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-0", ByteRange(0, 0, 10)),
        ("bytes=2-5", ByteRange(2, 5, 10)),
        ("bytes=5-", ByteRange(5, 9, 10)),
        ("bytes=-4", ByteRange(6, 9, 10)),
        ("bytes=-40", ByteRange(0, 9, 10)),
        ("bytes=8-99", ByteRange(8, 9, 10)),
        ("bytes=10-", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=5-2", None),  # invalid: ignored
        ("bytes=0-1,3-4", None),  # several ranges: the whole object
        ("items=0-1", None),
        ("bytes=", None),
    ],
)
def test_requested_range(value: str, expected: ByteRange | str | None) -> None:
    """One satisfiable byte range, UNSATISFIABLE, or None (send everything)."""
    assert requested_range({"range": value}, 10, '"a"', MODIFIED) == expected


def test_if_range_and_unknown_length() -> None:
    """If-Range must match (strong ETag or the exact date); an unknown length sends all."""
    wanted = {"range": "bytes=1-2"}
    assert requested_range({**wanted, "if-range": '"a"'}, 10, '"a"', None) == ByteRange(1, 2, 10)
    assert requested_range({**wanted, "if-range": '"b"'}, 10, '"a"', None) is None
    assert requested_range({**wanted, "if-range": 'W/"a"'}, 10, 'W/"a"', None) is None
    assert requested_range({**wanted, "if-range": MODIFIED}, 10, None, MODIFIED) is not None
    assert requested_range({**wanted, "if-range": date(1)}, 10, None, MODIFIED) is None
    assert requested_range(wanted, None, None, None) is None
    assert ByteRange(2, 5, 10).content_range == "bytes 2-5/10"
