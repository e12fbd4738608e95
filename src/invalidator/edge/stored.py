"""What one cached object holds, and what it really costs in memory.

A key's `Entry` holds its variants (usually one, kept without a dict); a `Variant` holds the
status, the body, the headers encoded once (as a hit sends them, Content-Length included) and
its freshness and purge bookkeeping. Sizes are measured with `sys.getsizeof` when a variant is
stored, and a constant covers the index slots (LRU dict and links, per-distribution set, sweep
snapshot) measured with tracemalloc, so the cache's byte bound is honest for small and large
objects alike.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CacheKey = tuple[str, str, str]
Selector = tuple[str, ...]
_MISSING = "\x00"  # a Vary-ed request header that was absent
_NOT_STORED = frozenset({b"content-length", b"age", b"set-cookie", b"x-cache", b"via"})
NO_BODY_STATUSES = frozenset({204, 304})
_SLOT = 8  # a pointer in a tuple, list or dict slot
# Per entry, beyond the objects counted one by one: the OrderedDict slot and link node, the
# per-distribution index slot and the sweep snapshot slot (measured with tracemalloc).
_ENTRY_INDEX_BYTES = 220
_NAMES: dict[bytes, bytes] = {}  # interned header names: shared by every variant


@dataclass(slots=True)
class CachedResponse:
    """A stored response as served (read-only): `age` is its current age in seconds.

    `wire` holds the encoded stored headers (lowercased names; no Age, Via, X-Cache or
    Set-Cookie), then Content-Length unless the status has no body; `via` is the origin's Via
    (or None).
    """

    status: int
    wire: tuple[tuple[bytes, bytes], ...]
    via: bytes | None
    has_length: bool
    body: bytes
    age: int
    etag: str | None
    last_modified: str | None
    ref: object = None  # identifies the stored variant (for `refresh`)

    @property
    def headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The encoded stored headers, without Content-Length."""
        return self.wire[:-1] if self.has_length else self.wire

    def header_pairs(self) -> list[tuple[str, str]]:
        """The stored headers decoded (names lowercased)."""
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.headers]


class Variant:
    __slots__ = (
        "body",
        "born_pos",
        "content_pos",
        "etag",
        "has_length",
        "initial_age",
        "last_modified",
        "partial_query",
        "selector",
        "size",
        "status",
        "stored_at",
        "tags",
        "ttl",
        "via",
        "wire",
    )

    def __init__(self, selector: Selector, status: int, body: bytes) -> None:
        self.selector = selector
        self.status = status
        self.body = body
        self.wire: tuple[tuple[bytes, bytes], ...] = ()
        self.via: bytes | None = None
        self.has_length = False
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.stored_at = 0.0
        self.ttl = self.initial_age = self.born_pos = self.size = 0
        self.tags: frozenset[str] = frozenset()
        self.partial_query = False  # keyed on some of the query only (edge.purge)
        self.content_pos = 0  # born_pos of the fetch the body came from (never re-stamped)

    def expired(self, now: float) -> bool:
        return now - self.stored_at + self.initial_age >= self.ttl

    def revalidatable(self) -> bool:
        return self.etag is not None or self.last_modified is not None


VARIANT_BYTES = sys.getsizeof(Variant((), 0, b""))


class Entry:
    """The variants of one key: usually one (kept without a dict), else a dict by selector."""

    __slots__ = ("many", "one", "size", "vary")

    def __init__(self, vary: tuple[str, ...], size: int) -> None:
        self.vary = vary
        self.size = size  # bytes of the key and bookkeeping, counted once
        self.one: Variant | None = None
        self.many: dict[Selector, Variant] | None = None

    def get(self, selector: Selector) -> Variant | None:
        if self.many is not None:
            return self.many.get(selector)
        one = self.one
        return one if one is not None and one.selector == selector else None

    def put(self, variant: Variant) -> None:
        if self.many is not None:
            self.many[variant.selector] = variant
        elif self.one is None or self.one.selector == variant.selector:
            self.one = variant
        else:
            self.many = {self.one.selector: self.one, variant.selector: variant}
            self.one = None

    def pop(self, selector: Selector) -> Variant | None:
        if self.many is not None:
            return self.many.pop(selector, None)
        one = self.one
        if one is not None and one.selector == selector:
            self.one = None
            return one
        return None

    def variants(self) -> list[Variant]:
        if self.many is not None:
            return list(self.many.values())
        return [self.one] if self.one is not None else []


def vary_names(headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    names = [v.strip().lower() for n, v in headers if n.lower() == "vary" for v in v.split(",")]
    return tuple(sorted({n for n in names if n}))


def selector_of(variant: str, vary: tuple[str, ...], headers: Mapping[str, str]) -> Selector:
    if not vary:
        return (variant,)
    return (variant, *(headers.get(name, _MISSING).strip() for name in vary))


def encode_headers(
    headers: Sequence[tuple[str, str]], length: int | None
) -> tuple[tuple[tuple[bytes, bytes], ...], bytes | None, int]:
    """Encoded stored headers (then Content-Length: `length`), the origin's Via, their bytes."""
    out = []
    via: bytes | None = None
    size = 0
    for name, value in headers:
        raw_name = name.lower().encode("latin-1")
        raw_value = value.encode("latin-1")
        if raw_name == b"via":
            via = raw_value if via is None else via + b", " + raw_value
            continue
        if raw_name in _NOT_STORED:
            continue
        shared = _NAMES.get(raw_name)
        if shared is None:
            if len(_NAMES) < 512:
                _NAMES[raw_name] = raw_name
            shared = raw_name
            size += sys.getsizeof(raw_name)
        out.append((shared, raw_value))
        size += sys.getsizeof(raw_value) + _PAIR_BYTES + _SLOT
    if via is not None:
        size += sys.getsizeof(via)
    if length is not None:
        encoded_length = str(length).encode()
        out.append((b"content-length", encoded_length))
        size += sys.getsizeof(encoded_length) + _PAIR_BYTES + _SLOT
    result = tuple(out)
    return result, via, size + sys.getsizeof(result) - _SLOT * len(result)


_PAIR_BYTES = sys.getsizeof((b"", b""))


def served(variant: Variant, now: float) -> CachedResponse:
    return CachedResponse(
        variant.status,
        variant.wire,
        variant.via,
        variant.has_length,
        variant.body,
        int(now - variant.stored_at) + variant.initial_age,
        variant.etag,
        variant.last_modified,
        variant,
    )


def entry_bytes(key: CacheKey, vary: tuple[str, ...]) -> int:
    """What one entry costs besides its variants: key, entry object, index slots."""
    size = sys.getsizeof(key) + sys.getsizeof(key[1]) + sys.getsizeof(Entry((), 0))
    if key[2]:
        size += sys.getsizeof(key[2])
    if vary:
        size += sys.getsizeof(vary) + sum(sys.getsizeof(n) for n in vary)
    return size + _ENTRY_INDEX_BYTES


def variant_extra_bytes(variant: Variant) -> int:
    """The smaller objects a variant holds: selector, validators, length, tags."""
    size = sys.getsizeof(variant.selector) + sum(sys.getsizeof(s) for s in variant.selector)
    for text in (variant.etag, variant.last_modified):
        if text is not None:
            size += sys.getsizeof(text)
    if variant.tags:
        size += sys.getsizeof(variant.tags) + sum(sys.getsizeof(t) for t in variant.tags)
    return size
