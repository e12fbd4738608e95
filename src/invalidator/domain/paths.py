"""Invalidation paths and cache tags: validation, classification and matching.

An item is one of three kinds:
- an exact path `/a.jpg` (matches every query-string and header variant of the object) or
  `/a.jpg?v=1` (matches only that query string);
- a wildcard `/img/*`: `*` only as the last character, matching zero or more characters;
- a tag `#product-42`: matches objects whose origin response listed that tag (case-insensitive).

Matching compares percent-decoded spellings, so `/a%20b` and `/a b` name the same object.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import unquote

from invalidator.domain.errors import InvalidArgument

MAX_PATH_LENGTH = 4000
MAX_TAG_LENGTH = 256
MAX_TAGS_PER_OBJECT = 50  # of a response, kept (CloudFront ignores the rest)
INVALID_PATHS_MESSAGE = "Your request contains one or more invalid invalidation paths."


class ItemKind(enum.Enum):
    """What an invalidation item names."""

    EXACT = "exact"
    WILDCARD = "wildcard"
    TAG = "tag"


@dataclass(frozen=True)
class PathItem:
    """A validated invalidation item, normalized for matching."""

    raw: str
    kind: ItemKind
    key: str  # decoded path (without `*`), or lowercased tag without `#`
    query: str | None = None  # decoded query string when the path names one

    def matches(self, path: str, query: str, tags: frozenset[str] = frozenset()) -> bool:
        """Whether a cached object (decoded path, decoded query, lowercased tags) is covered."""
        if self.kind is ItemKind.TAG:
            return self.key in tags
        if self.kind is ItemKind.WILDCARD:
            target = path if not query else f"{path}?{query}"
            return target.startswith(self.key)
        if path != self.key:
            return False
        return self.query is None or self.query == query


_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0 controls, DEL, C1 controls


def _has_control_chars(text: str) -> bool:
    return _CONTROL_CHARS.search(text) is not None


def parse_item(raw: str, *, tags_allowed: bool) -> PathItem:
    """Validate one item; raise InvalidArgument with CloudFront's message when it is not valid."""
    if raw.startswith("#"):
        return _parse_tag(raw, tags_allowed=tags_allowed)
    if (
        not raw.startswith("/")
        or len(raw) > MAX_PATH_LENGTH
        or _has_control_chars(raw)
        or "*" in raw[:-1]
    ):
        raise InvalidArgument(INVALID_PATHS_MESSAGE)
    if raw.endswith("*"):
        return PathItem(raw=raw, kind=ItemKind.WILDCARD, key=unquote(raw[:-1]))
    path, sep, query = raw.partition("?")
    return PathItem(
        raw=raw, kind=ItemKind.EXACT, key=unquote(path), query=unquote(query) if sep else None
    )


def _is_tag(text: str) -> bool:
    """1 to 256 visible ASCII characters (33-126), no comma: CloudFront's tag format."""
    return (
        0 < len(text) <= MAX_TAG_LENGTH
        and all(0x21 <= ord(ch) <= 0x7E for ch in text)
        and "," not in text
    )


def _parse_tag(raw: str, *, tags_allowed: bool) -> PathItem:
    tag = raw[1:]
    if not _is_tag(tag) or "*" in tag:
        raise InvalidArgument(
            f"Invalid cache tag {raw[:64]!r}: a tag is 1 to {MAX_TAG_LENGTH} printable ASCII "
            "characters without commas or wildcards."
        )
    if not tags_allowed:
        raise InvalidArgument(
            "Cache tag invalidations require a distribution with a cache tag header "
            "(CacheTagConfig.HeaderName)."
        )
    return PathItem(raw=raw, kind=ItemKind.TAG, key=tag.lower())


def parse_tag_header(value: str) -> frozenset[str]:
    """The tags an origin listed in its tag header (comma-separated), lowercased: the first
    `MAX_TAGS_PER_OBJECT` distinct ones in header order, as CloudFront keeps them ("the
    additional tags beyond the limit are not stored and cannot be used for invalidation").
    An entry that is not a tag (a space inside, over 256 characters, not ASCII) is skipped: no
    invalidation could name it, and it takes no place among the 50. The cap also bounds
    what one response can add to the edge's tag index."""
    tags: dict[str, None] = {}
    for entry in value.split(","):
        tag = entry.strip()
        if _is_tag(tag):
            tags[tag.lower()] = None
            if len(tags) == MAX_TAGS_PER_OBJECT:
                break
    return frozenset(tags)
