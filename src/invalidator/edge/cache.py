"""The edge's in-memory object cache: byte-bounded LRU, variants, lazy purge, revalidation.

Entries are keyed by (distribution id, path, query), path and query in the normalized
percent-encoded spelling of `edge.keys`; the variants of an entry (the request-derived part of
the key, then the values of the headers a `Vary` response header names) hang under it, so
whatever removes the entry removes them all. Purges are recorded as `PurgeRules` per
distribution and applied when an entry is read (and by the background `sweep`), so a purge
never scans the cache. Every variant remembers `born_pos`, the log position its origin fetch
started under; a rule recorded at a later position makes it stale, which is how a fetch that
raced a purge is born stale. A variant that passes the staleness check is re-stamped with the
latest position recorded, so compaction can drop the rules it no longer needs.

Expired variants with a validator (ETag or Last-Modified) stay (until evicted, purged or
swept) so the proxy can revalidate them with a conditional request; a purged one never does.

Memory: the bound covers what is really held, measured with `sys.getsizeof` when a variant is
stored (body, encoded headers, bookkeeping, key and index slots), the bytes reserved by origin
downloads still in flight, and the purge rules.

Not thread-safe: one event loop owns it.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from invalidator.domain.paths import ItemKind, parse_item
from invalidator.edge.freshness import Freshness
from invalidator.edge.keys import normalize, normalize_path
from invalidator.edge.purge import NO_POSITION, PurgeRules
from invalidator.edge.stored import (
    NO_BODY_STATUSES,
    VARIANT_BYTES,
    CachedResponse,
    Entry,
    Variant,
    encode_headers,
    entry_bytes,
    selector_of,
    served,
    variant_extra_bytes,
    vary_names,
)

__all__ = ["CacheStats", "CachedResponse", "EdgeCache"]

CacheKey = tuple[str, str, str]
_ALL_POSITIONS = sys.maxsize


@dataclass(frozen=True)
class CacheStats:
    """Counters of one cache (`bytes`: stored variants; the bound also covers the others)."""

    entries: int
    variants: int
    bytes: int
    hits: int
    misses: int
    evictions: int
    rules: int
    rule_bytes: int = 0
    in_flight_bytes: int = 0


class EdgeCache:
    """Byte-bounded LRU of origin responses with lazy, position-stamped purges."""

    def __init__(
        self,
        max_bytes: int,
        max_object_bytes: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0 or max_object_bytes <= 0:
            raise ValueError("max_bytes and max_object_bytes must be positive")
        self.max_bytes = max_bytes
        self.max_object_bytes = min(max_object_bytes, max_bytes)
        self._now = monotonic
        self._entries: OrderedDict[CacheKey, Entry] = OrderedDict()
        self._by_distribution: dict[str, set[CacheKey]] = {}
        self._rules: dict[str, PurgeRules] = {}
        self._rule_bytes = 0
        self._born: dict[int, int] = {}  # born_pos -> live variants born there
        self._in_flight: dict[int, int] = {}  # born_pos -> fetches under way
        self._in_flight_bytes = 0
        self._last_pos = -1  # the highest position a purge was recorded at
        self._bytes = 0
        self._variants = 0
        self._hits = self._misses = self._evictions = 0
        self._sweep_keys: list[CacheKey] = []
        self._sweep_at = 0
        self._epoch = 0

    # -- reads -----------------------------------------------------------------------------

    def lookup(
        self,
        distribution_id: str,
        path: str,
        query: str,
        request_headers: Mapping[str, str],
        variant: str = "",
    ) -> CachedResponse | None:
        """The fresh, unpurged variant for this request, or None (dropping a dead one)."""
        key = (distribution_id, path, query)
        entry = self._entries.get(key)
        found = None
        now = 0.0
        if entry is not None:
            one = entry.one
            if one is not None and not entry.vary:  # the usual case: no tuple to build
                found = one if one.selector[0] == variant else None
            else:
                found = entry.get(selector_of(variant, entry.vary, request_headers))
            if found is not None:
                now = self._now()
                if self._purged(key, found):
                    self._remove_variant(key, entry, found)
                    found = None
                elif found.expired(now):
                    if not found.revalidatable():
                        self._remove_variant(key, entry, found)
                    found = None
        if found is None:
            self._misses += 1
            return None
        self._entries.move_to_end(key)
        self._hits += 1
        return served(found, now)

    def stale(
        self,
        distribution_id: str,
        path: str,
        query: str,
        request_headers: Mapping[str, str],
        variant: str = "",
    ) -> CachedResponse | None:
        """The expired, unpurged variant with a validator, to revalidate; else None."""
        key = (distribution_id, path, query)
        entry = self._entries.get(key)
        if entry is None:
            return None
        found = entry.get(selector_of(variant, entry.vary, request_headers))
        if found is None or not found.revalidatable():
            return None
        if self._purged(key, found):
            self._remove_variant(key, entry, found)
            return None
        now = self._now()
        return served(found, now) if found.expired(now) else None

    def purged_since(
        self,
        distribution_id: str,
        path: str,
        query: str,
        tags: frozenset[str],
        born_pos: int,
        partial_query: bool = False,
    ) -> bool:
        """Whether a purge recorded after `born_pos` covers this object (`partial_query`: its
        key holds only some of the query, see `edge.purge`)."""
        rules = self._rules.get(distribution_id)
        return rules is not None and rules.is_stale(path, query, tags, born_pos, partial_query)

    def stats(self) -> CacheStats:
        """Current counters."""
        return CacheStats(
            entries=len(self._entries),
            variants=self._variants,
            bytes=self._bytes,
            hits=self._hits,
            misses=self._misses,
            evictions=self._evictions,
            rules=sum(len(r) for r in self._rules.values()),
            rule_bytes=self._rule_bytes,
            in_flight_bytes=self._in_flight_bytes,
        )

    # -- writes ----------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """How many times the cache was cleared: positions before a clear mean nothing after."""
        return self._epoch

    @contextmanager
    def fetching(self, born_pos: int) -> Iterator[int]:
        """Mark an origin fetch stamped `born_pos` as under way (compaction keeps its rules).

        Yields the current `epoch`; pass it to `store` so that a fetch started before a
        `clear()` (say, of a log that was reset) is never stored after it.
        """
        self._in_flight[born_pos] = self._in_flight.get(born_pos, 0) + 1
        try:
            yield self._epoch
        finally:
            _decrement(self._in_flight, born_pos)

    def reserve(self, size: int) -> bool:
        """Count `size` bytes of a download in flight against the bound (evicting LRU entries
        to make room); False, and nothing counted, when they cannot fit."""
        if size > self.max_object_bytes:
            return False
        self._in_flight_bytes += size
        self._evict()
        if self._used() > self.max_bytes:
            self._in_flight_bytes -= size
            return False
        return True

    def release(self, size: int) -> None:
        """Stop counting `size` reserved bytes."""
        self._in_flight_bytes = max(0, self._in_flight_bytes - size)

    def store(
        self,
        distribution_id: str,
        path: str,
        query: str,
        request_headers: Mapping[str, str],
        *,
        status: int,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        freshness: Freshness,
        born_pos: int,
        tags: frozenset[str] = frozenset(),
        epoch: int | None = None,
        variant: str = "",
        partial_query: bool = False,
    ) -> bool:
        """Store a response whose fetch started at `born_pos`; False when it may not be kept.

        Not stored: not storable, larger than max_object_bytes, `Vary: *`, already purged by a
        rule recorded after `born_pos`, or fetched in an `epoch` before the last `clear()`.
        `variant` is the request-derived part of the key (keyed headers and cookies);
        `partial_query`: the key's query holds only some of the request's (see `edge.purge`).
        """
        if not freshness.storable or (epoch is not None and epoch != self._epoch):
            return False
        if len(body) > self.max_object_bytes:
            return False
        vary = vary_names(headers)
        if "*" in vary:
            return False
        if self.purged_since(distribution_id, path, query, tags, born_pos, partial_query):
            return False
        length = None if status in NO_BODY_STATUSES else len(body)
        encoded, via, header_bytes = encode_headers(headers, length)
        size = VARIANT_BYTES + sys.getsizeof(body) + header_bytes
        if size > self.max_object_bytes:
            return False
        key = (distribution_id, path, query)
        entry = self._entries.get(key)
        if entry is not None and entry.vary != vary:
            self._remove_entry(key)
            entry = None
        if entry is None:
            entry = Entry(vary, entry_bytes(key, vary))
            self._entries[key] = entry
            self._by_distribution.setdefault(distribution_id, set()).add(key)
            self._bytes += entry.size
        selector = selector_of(variant, vary, request_headers)
        old = entry.pop(selector)
        if old is not None:
            self._forget(old)
        stored = Variant(selector, status, body)
        stored.wire, stored.via, stored.has_length = encoded, via, length is not None
        stored.tags, stored.partial_query, stored.content_pos = tags, partial_query, born_pos
        self._set_freshness(stored, freshness, max(born_pos, self._last_pos))
        stored.size = size + variant_extra_bytes(stored)
        if entry.many is not None or entry.one is not None:
            stored.size += sys.getsizeof(selector) + 72  # a dict slot among several variants
        entry.put(stored)
        self._entries.move_to_end(key)
        self._bytes += stored.size
        self._variants += 1
        self._born[stored.born_pos] = self._born.get(stored.born_pos, 0) + 1
        self._evict()
        return True

    def refresh(
        self,
        distribution_id: str,
        path: str,
        query: str,
        cached: CachedResponse,
        *,
        headers: Sequence[tuple[str, str]],
        freshness: Freshness,
        born_pos: int,
        tags: frozenset[str] | None = None,
        epoch: int | None = None,
    ) -> CachedResponse | None:
        """Apply a 304 to a stale variant: new headers and freshness, born at `born_pos`.

        None when it may not come back: gone meanwhile, purged (a purged variant is treated
        as absent, never revalidated back to life), not storable, or a `clear()` happened.
        `tags` (when the 304 named them) replace the variant's; a tag the copy did not have
        is checked against every purge since the body was fetched (the copy goes when one
        covers it, or when compaction may have dropped one; the proxy then fetches anew).
        """
        key = (distribution_id, path, query)
        entry = self._entries.get(key)
        found = cached.ref if isinstance(cached.ref, Variant) else None
        if entry is None or found is None or entry.get(found.selector) is not found:
            return None
        # A copy's born_pos is re-stamped once checked against the rules of its tags; a tag
        # the 304 adds was never checked: it is, against every rule since the body was
        # fetched (content_pos), and when compaction may have dropped some of those, the
        # copy cannot be proven fresh and goes.
        gained = frozenset() if tags is None else tags - found.tags
        rules = self._rules.get(distribution_id)
        if gained and (
            (rules is not None and found.content_pos < rules.dropped_tag_pos)
            or self.purged_since(distribution_id, path, query, gained, found.content_pos)
        ):
            self._remove_variant(key, entry, found)
            return None
        covering = found.tags if tags is None else found.tags | tags
        if self.purged_since(
            distribution_id, path, query, covering, found.born_pos, found.partial_query
        ):
            self._remove_variant(key, entry, found)
            return None
        if not freshness.storable or (epoch is not None and epoch != self._epoch):
            return None
        if vary_names(headers) != entry.vary:
            return None
        encoded, via, header_bytes = encode_headers(
            headers, len(found.body) if found.has_length else None
        )
        self._forget(found)
        found.wire, found.via = encoded, via
        if tags is not None:
            found.tags = tags
        self._set_freshness(found, freshness, max(born_pos, found.born_pos, self._last_pos))
        found.size = (VARIANT_BYTES + sys.getsizeof(found.body) + header_bytes
                      + variant_extra_bytes(found))  # fmt: skip
        self._bytes += found.size
        self._variants += 1
        self._born[found.born_pos] = self._born.get(found.born_pos, 0) + 1
        self._entries.move_to_end(key)
        self._evict()
        return served(found, found.stored_at) if entry.get(found.selector) is found else None

    def purge(self, distribution_id: str, items: Sequence[str], pos: int) -> None:
        """Record the invalidation at log position `pos`: O(1) per item, no scan.

        Items are parsed with `parse_item(raw, tags_allowed=True)`; an invalid one raises
        InvalidArgument before any rule is recorded. Record the purge *before* the edge's
        applied position reaches `pos`, so no fetch can be stamped at `pos` while older;
        positions must not decrease (until `clear()`).
        """
        parsed = [parse_item(raw, tags_allowed=True) for raw in items]
        rules = self._rules.setdefault(distribution_id, PurgeRules())
        before = rules.bytes
        for item in parsed:
            rules.add(item, pos)
            if item.kind is ItemKind.EXACT:  # free eager removal of the keyed entry
                # Items are text; keys are the wire's bytes (UTF-8 for non-ASCII), normalized.
                wire = item.raw.encode("utf-8", "surrogatepass").decode("latin-1")
                path, sep, query = wire.partition("?")
                key = (distribution_id, normalize_path(path), normalize(query) if sep else "")
                if key in self._entries:
                    self._remove_entry(key)
        self._rule_bytes += rules.bytes - before
        self._last_pos = max(self._last_pos, pos)
        self._evict()

    def drop_distribution(self, distribution_id: str) -> None:
        """Forget a distribution's entries and rules."""
        for key in list(self._by_distribution.get(distribution_id, ())):
            self._remove_entry(key)
        rules = self._rules.pop(distribution_id, None)
        if rules is not None:
            self._rule_bytes -= rules.bytes

    def clear(self) -> None:
        """Forget everything, and void the fetches under way (hit/miss counters stay)."""
        self._epoch += 1
        self._entries.clear()
        self._by_distribution.clear()
        self._rules.clear()
        self._rule_bytes = 0
        self._born.clear()
        self._last_pos = -1
        self._bytes = self._variants = 0
        self._sweep_keys, self._sweep_at = [], 0

    def sweep(self, max_entries: int = 10_000) -> int:
        """Remove purged and dead variants among the next `max_entries` entries.

        Dead: expired without a validator (expired ones with a validator are kept for
        revalidation). The survivors are re-stamped with the latest purge position. Walks a
        snapshot of the keys across calls. A call that finds the walk finished compacts the
        purge rules no live entry or in-flight fetch still needs and takes a new snapshot
        (about 12 ms per million entries), and does nothing else. Returns the variants removed.
        """
        if self._sweep_at >= len(self._sweep_keys):
            self.compact()
            # the plain dict view: walking the LRU links of 1M keys is 50x slower
            self._sweep_keys, self._sweep_at = list(dict.keys(self._entries)), 0
            return 0  # the snapshot is this call's slice of work
        now = self._now()
        removed = 0
        end = min(self._sweep_at + max_entries, len(self._sweep_keys))
        latest = self._last_pos
        for key in self._sweep_keys[self._sweep_at : end]:
            entry = self._entries.get(key)
            if entry is None:
                continue
            for variant in entry.variants():
                if self._purged(key, variant) or (
                    variant.expired(now) and not variant.revalidatable()
                ):
                    self._remove_variant(key, entry, variant)
                    removed += 1
                elif variant.born_pos < latest:
                    _decrement(self._born, variant.born_pos)
                    variant.born_pos = latest
                    self._born[latest] = self._born.get(latest, 0) + 1
        self._sweep_at = end
        return removed

    def compact(self) -> int:
        """Drop purge rules older than every live entry and in-flight fetch; rules dropped."""
        floor = min((*self._born, *self._in_flight), default=_ALL_POSITIONS)
        dropped = 0
        for distribution_id, rules in list(self._rules.items()):
            before = rules.bytes
            dropped += rules.compact(floor)
            self._rule_bytes -= before - rules.bytes
            if not len(rules) and rules.dropped_tag_pos == NO_POSITION:  # else refresh needs
                del self._rules[distribution_id]  # to know that a tag rule was dropped
        return dropped

    # -- internals -------------------------------------------------------------------------

    def _used(self) -> int:
        return self._bytes + self._in_flight_bytes + self._rule_bytes

    def _evict(self) -> None:
        while self._used() > self.max_bytes and self._entries:
            self._remove_entry(next(iter(self._entries)))
            self._evictions += 1

    def _set_freshness(self, variant: Variant, freshness: Freshness, born_pos: int) -> None:
        variant.stored_at = self._now()
        variant.ttl, variant.initial_age = freshness.ttl, freshness.age
        variant.born_pos = born_pos
        etag = last_modified = None
        for name, value in variant.wire:
            if name == b"etag":
                etag = value.decode("latin-1")
            elif name == b"last-modified":
                last_modified = value.decode("latin-1")
        variant.etag, variant.last_modified = etag, last_modified

    def _purged(self, key: CacheKey, variant: Variant) -> bool:
        rules = self._rules.get(key[0])
        return rules is not None and rules.is_stale(
            key[1], key[2], variant.tags, variant.born_pos, variant.partial_query
        )

    def _remove_variant(self, key: CacheKey, entry: Entry, variant: Variant) -> None:
        if entry.pop(variant.selector) is not None:
            self._forget(variant)
        if entry.one is None and not entry.many:
            del self._entries[key]
            self._bytes -= entry.size
            _discard(self._by_distribution, key)

    def _remove_entry(self, key: CacheKey) -> None:
        entry = self._entries.pop(key)
        for variant in entry.variants():
            self._forget(variant)
        self._bytes -= entry.size
        _discard(self._by_distribution, key)

    def _forget(self, variant: Variant) -> None:
        self._bytes -= variant.size
        self._variants -= 1
        _decrement(self._born, variant.born_pos)


def _decrement(counts: dict[int, int], pos: int) -> None:
    left = counts[pos] - 1
    if left:
        counts[pos] = left
    else:
        del counts[pos]


def _discard(index: dict[str, set[CacheKey]], key: CacheKey) -> None:
    keys = index.get(key[0])
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[key[0]]
