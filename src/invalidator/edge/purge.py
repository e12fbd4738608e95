"""Lazy purge rules: a purge records (item, log position); entries are judged when read.

Every cached entry carries `born_pos`, the edge's applied log position when its origin fetch
*started*. An entry is stale when a rule covering it has `pos > born_pos`: it was fetched before
that invalidation was applied, including a fetch still in flight when the purge arrived.

Costs do not depend on the number of cached entries:
- `add` is O(1) (O(number of distinct prefix lengths) when a new length appears);
- `is_stale` is O(1) for exact paths and tags, O(distinct wildcard prefix lengths) for wildcards;
- `compact` is O(rules), run from the background sweep.

Entries are judged by their *decoded* path and query (the cache keys them by a normalized
percent-encoded form), like the rules: a raw and a percent-encoded spelling of one character
are one object for a purge. Decoding can only merge spellings (`%FF` and `%FE` both decode to
U+FFFD), so a purge may cover a little more than it names, never less.

An entry whose key holds only some of a request's query (its behavior keys none, or a
whitelist: `partial_query`) is the copy served for every query of its path: an item naming
that path with any query (`/a?x=1`, `/a?k=1&*`) covers it, whatever query its key holds.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import replace
from typing import TypeVar
from urllib.parse import unquote

from invalidator.domain.paths import ItemKind, PathItem
from invalidator.edge.keys import remove_dot_segments

NO_POSITION = -1
RULE_OVERHEAD = 104  # bytes a rule costs besides its key: dict slot, int, amortized table
K = TypeVar("K")


class PurgeRules:
    """The purge rules of one distribution."""

    def __init__(self) -> None:
        self._paths: dict[str, int] = {}  # decoded path -> pos: every query variant
        self._queries: dict[tuple[str, str], int] = {}  # (path, query) -> pos
        self._prefixes: dict[str, int] = {}  # wildcard prefix -> pos
        self._length_counts: dict[int, int] = {}  # prefix length -> number of prefixes
        self._lengths: list[int] = []  # sorted distinct prefix lengths
        self._tags: dict[str, int] = {}  # lowercased tag -> pos
        self._query_paths: dict[str, int] = {}  # path of an item with a query -> pos
        self.dropped_tag_pos = NO_POSITION  # the newest tag rule compaction dropped
        self._max_pos = NO_POSITION
        self._bytes = 0

    @property
    def bytes(self) -> int:
        """Approximate memory held by the rules (counted in the edge cache's bound)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._paths) + len(self._queries) + len(self._prefixes) + len(self._tags)

    @property
    def max_pos(self) -> int:
        """The highest position of any rule held (NO_POSITION when empty)."""
        return self._max_pos

    def add(self, item: PathItem, pos: int) -> None:
        """Record that `item` was invalidated at log position `pos`; an item whose path has
        dot segments also under the path they resolve to, which is how viewers' requests are
        keyed (`edge.keys.normalize_path`)."""
        self._max_pos = max(self._max_pos, pos)
        if item.kind is ItemKind.TAG:
            self._bytes += _raise(self._tags, item.key, pos)
            return
        path, with_query, query = item.key.partition("?")
        resolved = remove_dot_segments(path)
        if resolved != path:
            self.add(replace(item, key=resolved + with_query + query), pos)
        if item.kind is ItemKind.WILDCARD:
            if item.key not in self._prefixes:
                self._add_length(len(item.key))
            self._bytes += _raise(self._prefixes, item.key, pos)
            if with_query:
                self._bytes += _raise(self._query_paths, path, pos)
        elif item.query is None:
            self._bytes += _raise(self._paths, item.key, pos)
        else:
            self._bytes += _raise(self._queries, (item.key, item.query), pos)
            self._bytes += _raise(self._query_paths, item.key, pos)

    def is_stale(
        self,
        path: str,
        query: str,
        tags: frozenset[str],
        born_pos: int,
        partial_query: bool = False,
    ) -> bool:
        """Whether a rule covering (path, query, lowercased tags) is newer than `born_pos`.

        `path` and `query` may be percent-encoded: they are compared decoded. `partial_query`:
        the key holds only some of the query (see the module docstring).
        """
        if self._max_pos <= born_pos:
            return False
        path, query = unquote(path), unquote(query)
        if self._paths.get(path, NO_POSITION) > born_pos:
            return True
        if partial_query and self._query_paths.get(path, NO_POSITION) > born_pos:
            return True
        if self._queries and self._queries.get((path, query), NO_POSITION) > born_pos:
            return True
        if self._prefixes:
            target = f"{path}?{query}" if query else path
            size = len(target)
            for length in self._lengths:
                if length > size:
                    break
                if self._prefixes.get(target[:length], NO_POSITION) > born_pos:
                    return True
        if self._tags:
            return any(self._tags.get(tag, NO_POSITION) > born_pos for tag in tags)
        return False

    def compact(self, min_live_born_pos: int) -> int:
        """Drop the rules no entry or fetch born at or after `min_live_born_pos` can need.

        A rule with `pos <= min_live_born_pos` makes nothing stale any more. Returns how many
        rules were dropped.
        """
        before = len(self)
        self._bytes -= _drop_older(self._paths, min_live_born_pos)
        self._bytes -= _drop_older(self._queries, min_live_born_pos)
        dropped_tags = [pos for pos in self._tags.values() if pos <= min_live_born_pos]
        self.dropped_tag_pos = max(self.dropped_tag_pos, *dropped_tags, NO_POSITION)
        self._bytes -= _drop_older(self._tags, min_live_born_pos)
        self._bytes -= _drop_older(self._query_paths, min_live_born_pos)
        for prefix in [p for p, pos in self._prefixes.items() if pos <= min_live_born_pos]:
            del self._prefixes[prefix]
            self._bytes -= _rule_bytes(prefix)
            self._remove_length(len(prefix))
        positions = (*self._paths.values(), *self._queries.values(),
                     *self._prefixes.values(), *self._tags.values())  # fmt: skip
        self._max_pos = max(positions, default=NO_POSITION)
        return before - len(self)

    def _add_length(self, length: int) -> None:
        count = self._length_counts.get(length, 0)
        if count == 0:
            bisect.insort(self._lengths, length)
        self._length_counts[length] = count + 1

    def _remove_length(self, length: int) -> None:
        count = self._length_counts[length] - 1
        if count:
            self._length_counts[length] = count
        else:
            del self._length_counts[length]
            self._lengths.remove(length)


def _rule_bytes(key: object) -> int:
    if isinstance(key, tuple):
        return RULE_OVERHEAD + sys.getsizeof(key) + sum(sys.getsizeof(k) for k in key)
    return RULE_OVERHEAD + sys.getsizeof(key)


def _raise(rules: dict[K, int], key: K, pos: int) -> int:
    """Record `key` at `pos` (never lowering it); the bytes a new rule adds."""
    known = rules.get(key)
    if known is None:
        rules[key] = pos
        return _rule_bytes(key)
    if known < pos:
        rules[key] = pos
    return 0


def _drop_older(rules: dict[K, int], floor: int) -> int:
    """Drop the rules at or below `floor`; the bytes freed."""
    freed = 0
    for key in [k for k, pos in rules.items() if pos <= floor]:
        del rules[key]
        freed += _rule_bytes(key)
    return freed
