"""Preconditions and byte ranges answered by the edge itself (RFC 9110 §13, §14). Pure.

The edge evaluates every precondition against the object it serves (from cache, or as the
origin just sent it), in RFC 9110 §13.2.2's order: `If-Match`, else `If-Unmodified-Since`
(false → 412); then `If-None-Match`, else `If-Modified-Since` (true → 304). Preconditions only
apply to a 2xx object. A single byte range of a 200 is answered with a 206 (`If-Range`
permitting), an unsatisfiable one with a 416; several ranges get the whole 200.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from invalidator.edge.freshness import not_modified, parse_http_date

_ETAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def _strong_match(header: str, etag: str | None) -> bool:
    """`If-Match` / `If-Range` entity-tag comparison: strong, `*` for any current object."""
    if header.strip() == "*":
        return True  # the object exists
    if not etag or etag.strip().startswith("W/"):
        return False
    mine = etag.strip()
    return any(m.group(1) is None and m.group(2) == mine for m in _ETAG.finditer(header))


def precondition_status(
    request_headers: Mapping[str, str], status: int, etag: str | None, last_modified: str | None
) -> int | None:
    """412 or 304 when a precondition of a GET/HEAD decides the answer, else None."""
    if not 200 <= status < 300:
        return None
    if_match = request_headers.get("if-match")
    if if_match is not None:
        if not _strong_match(if_match, etag):
            return 412
    else:
        since = parse_http_date(request_headers.get("if-unmodified-since"))
        modified = parse_http_date(last_modified)
        if since is not None and modified is not None and modified > since:
            return 412
    if not_modified(request_headers, etag, last_modified):
        return 304
    return None


@dataclass(frozen=True)
class ByteRange:
    """The bytes [start, end] (inclusive) of an object of `length` bytes."""

    start: int
    end: int
    length: int

    @property
    def size(self) -> int:
        """How many bytes the range holds."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The Content-Range value of a 206 answering it."""
        return f"bytes {self.start}-{self.end}/{self.length}"


UNSATISFIABLE = "unsatisfiable"


def requested_range(
    request_headers: Mapping[str, str],
    length: int | None,
    etag: str | None,
    last_modified: str | None,
) -> ByteRange | str | None:
    """The single byte range a GET of a 200 asks for, UNSATISFIABLE (416), or None (send all).

    None also when there is no Range, several ranges, a malformed one, an `If-Range` that does
    not match, or an unknown length (`length` None).
    """
    header = request_headers.get("range")
    if header is None or length is None:
        return None
    if_range = request_headers.get("if-range")
    if if_range is not None and not _if_range_matches(if_range, etag, last_modified):
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or length == 0:
            return UNSATISFIABLE
        return ByteRange(max(0, length - suffix), length - 1, length)
    start = int(first)
    end = int(last) if last else length - 1
    if last and end < start:
        return None  # invalid: ignore the header
    if start >= length:
        return UNSATISFIABLE
    return ByteRange(start, min(end, length - 1), length)


def _if_range_matches(value: str, etag: str | None, last_modified: str | None) -> bool:
    value = value.strip()
    if value.startswith(('"', "W/")):
        return _strong_match(value, etag)
    if last_modified is None:
        return False
    date = parse_http_date(value)
    return value == last_modified.strip() or (
        date is not None and date == parse_http_date(last_modified)
    )
