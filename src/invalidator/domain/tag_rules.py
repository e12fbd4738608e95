"""CloudFront's rules for resource tags (InvalidTagging), shared by every way of tagging.

From the model's Tag shape and the Developer Guide's tagging page: a key is 1 to 128
characters, a value 0 to 256, both made of letters, digits, spaces and `_ . : / = + - @`
(Unicode letters and digits count); keys starting with `aws:` are reserved for AWS; a
distribution carries at most 50 tags; a key appears once per request.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from invalidator.domain.errors import InvalidTagging

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
_SPECIAL = frozenset("_.:/=+-@")
RESERVED_PREFIX = "aws:"


def _allowed(text: str) -> bool:
    """Letters, separators (space) and numbers of any script, plus `_ . : / = + - @`."""
    return all(c in _SPECIAL or unicodedata.category(c)[0] in "LZN" for c in text)


def check_tag_key(key: str) -> None:
    """InvalidTagging unless `key` is a key one may set or remove."""
    if not 1 <= len(key) <= MAX_KEY:
        raise InvalidTagging(f"A tag key must be 1 to {MAX_KEY} characters long.")
    if not _allowed(key):
        raise InvalidTagging(
            f"The tag key {key[:64]!r} has characters other than letters, digits, spaces and "
            f"_ . : / = + - @."
        )
    if key.lower().startswith(RESERVED_PREFIX):
        raise InvalidTagging(f"Tag keys starting with {RESERVED_PREFIX!r} are reserved for AWS.")


def check_tags(tags: Iterable[tuple[str, str]]) -> None:
    """InvalidTagging unless every key and value is valid and no key is repeated."""
    seen: set[str] = set()
    for key, value in tags:
        check_tag_key(key)
        if key in seen:
            raise InvalidTagging(f"The tag key {key[:64]!r} appears more than once.")
        seen.add(key)
        if len(value) > MAX_VALUE:
            raise InvalidTagging(f"A tag value must be at most {MAX_VALUE} characters long.")
        if not _allowed(value):
            raise InvalidTagging(
                f"The value of tag {key[:64]!r} has characters other than letters, digits, "
                f"spaces and _ . : / = + - @."
            )
    if len(seen) > MAX_TAGS:
        raise InvalidTagging(f"A resource can have at most {MAX_TAGS} tags.")


def check_tag_keys(keys: Iterable[str]) -> None:
    """InvalidTagging unless every key of an UntagResource request is a valid key."""
    for key in keys:
        check_tag_key(key)
