"""HTTP freshness and conditional requests, the CloudFront way. Pure functions, no I/O.

Storability and TTL of an origin response:
- only GET and HEAD are stored; `Vary: *` never is;
- `Cache-Control: no-store`, `private` or `no-cache` → not stored, unless MinTTL > 0 (CloudFront
  then keeps the object for MinTTL seconds);
- explicit freshness: `s-maxage` > `max-age` > `Expires` minus `Date` (or now);
- without explicit freshness, DefaultTTL, and only for the statuses stored by default
  (200, 203, 204, 300, 301, 404, 405, 410, 414, 501);
- the TTL is clamped to [MinTTL, MaxTTL]; the origin's `Age` counts against it, so a response
  already older than its TTL is not stored;
- a response to a request that carried `Authorization` (only possible when the behavior
  forwards it) is stored only with `public`, `s-maxage` or `must-revalidate` (RFC 9111 §3.5),
  whatever MinTTL says.

Headers are passed as a mapping of lowercased names to values (repeated headers joined with
", ", see `fold_headers`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

STORABLE_METHODS = frozenset({"GET", "HEAD"})
STORABLE_BY_DEFAULT = frozenset({200, 203, 204, 300, 301, 404, 405, 410, 414, 501})
# Error responses CloudFront caches by the Error Caching Minimum TTL (Developer Guide, "Control
# how long CloudFront caches errors"): 10 s unless a custom error response sets it (see
# `ServingConfig.error_caching_ttl`); a header lifetime counts only when longer;
# `no-store`/`no-cache`/`private` keep 404, 410, 414 and 501 out of the cache and are ignored
# for the others; 416 is never cached.
ERROR_STATUSES = frozenset({400, 403, 404, 405, 410, 414, 416, 500, 501, 502, 503, 504})
_ERRORS_OBEYING_NO_STORE = frozenset({404, 410, 414, 501})
_NOT_STORED = frozenset({"no-store", "private", "no-cache"})
_SHARED_WITH_AUTHORIZATION = frozenset({"public", "s-maxage", "must-revalidate"})
_ETAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')


class Ttls(Protocol):
    """The TTLs of a cache behaviour (a `ServingConfig` is one)."""

    @property
    def min_ttl(self) -> int:
        """Lower bound of any TTL, in seconds."""
        ...

    @property
    def default_ttl(self) -> int:
        """TTL without explicit freshness, in seconds."""
        ...

    @property
    def max_ttl(self) -> int:
        """Upper bound of any TTL, in seconds."""
        ...


@dataclass(frozen=True)
class Freshness:
    """Whether a response may be stored, for how long, and how old it already is."""

    storable: bool
    ttl: int = 0  # lifetime in seconds, clamped to the distribution's TTLs
    age: int = 0  # the origin's `Age`: seconds of the lifetime already used

    @property
    def remaining(self) -> int:
        """Seconds of freshness left when the response arrived."""
        return self.ttl - self.age


NOT_STORABLE = Freshness(storable=False)


def fold_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lowercased names to values; repeated headers joined with ", "."""
    folded: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        folded[key] = f"{folded[key]}, {value}" if key in folded else value
    return folded


def parse_cache_control(value: str) -> dict[str, str | None]:
    """Directives (lowercased) to their argument (unquoted) or None."""
    directives: dict[str, str | None] = {}
    for part in value.split(","):
        name, sep, arg = part.strip().partition("=")
        if not name:
            continue
        directives.setdefault(name.strip().lower(), arg.strip().strip('"') if sep else None)
    return directives


def parse_http_date(value: str | None) -> float | None:
    """Epoch seconds of an HTTP date, or None when absent or malformed."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _seconds(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None


def _explicit_lifetime(
    directives: Mapping[str, str | None], headers: Mapping[str, str], now: float
) -> int | None:
    for name in ("s-maxage", "max-age"):
        if name in directives:
            seconds = _seconds(directives[name])
            return 0 if seconds is None else seconds
    if "expires" in headers:
        expires = parse_http_date(headers["expires"])
        if expires is None:  # an invalid Expires means "already expired"
            return 0
        date = parse_http_date(headers.get("date"))
        return max(0, int(expires - (now if date is None else date)))
    return None


def freshness(
    method: str,
    status: int,
    headers: Mapping[str, str],
    ttls: Ttls,
    *,
    now: float,
    authorized: bool = False,
    error_ttl: int | None = None,
) -> Freshness:
    """Whether (and for how long) a response to `method` may be stored; `now` in epoch seconds.

    `authorized`: the request carried an Authorization header to the origin. `error_ttl`: the
    distribution's Error Caching Minimum TTL for this status; given, an error status follows
    CloudFront's error caching (see ERROR_STATUSES) instead of the rules for other responses.
    """
    if method.upper() not in STORABLE_METHODS:
        return NOT_STORABLE
    vary = headers.get("vary", "")
    if any(v.strip() == "*" for v in vary.split(",")):
        return NOT_STORABLE
    age = _seconds(headers.get("age")) or 0
    directives = parse_cache_control(headers.get("cache-control", ""))
    if authorized and not _SHARED_WITH_AUTHORIZATION.intersection(directives):
        return NOT_STORABLE
    if error_ttl is not None and status in ERROR_STATUSES:
        return _error_freshness(status, directives, headers, ttls, error_ttl, now, age)
    if _NOT_STORED.intersection(directives):
        if ttls.min_ttl > 0:
            return _result(ttls.min_ttl, age)
        return NOT_STORABLE
    lifetime = _explicit_lifetime(directives, headers, now)
    if lifetime is None:
        if status not in STORABLE_BY_DEFAULT:
            return NOT_STORABLE
        lifetime = ttls.default_ttl
    return _result(min(max(lifetime, ttls.min_ttl), ttls.max_ttl), age)


def _error_freshness(
    status: int,
    directives: Mapping[str, str | None],
    headers: Mapping[str, str],
    ttls: Ttls,
    error_ttl: int,
    now: float,
    age: int,
) -> Freshness:
    """An error response: kept for the error caching TTL, or a longer header lifetime (up to
    MaxTTL); never 416; not at all when a 404, 410, 414 or 501 says `no-store` and the like."""
    if status == 416:
        return NOT_STORABLE
    if _NOT_STORED.intersection(directives):
        return NOT_STORABLE if status in _ERRORS_OBEYING_NO_STORE else _result(error_ttl, age)
    lifetime = _explicit_lifetime(directives, headers, now)
    ttl = error_ttl if lifetime is None else min(max(lifetime, error_ttl), ttls.max_ttl)
    return _result(ttl, age)


def _result(ttl: int, age: int) -> Freshness:
    if ttl <= age:
        return NOT_STORABLE
    return Freshness(storable=True, ttl=ttl, age=age)


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(if_none_match: str, etag: str | None) -> bool:
    """`If-None-Match` against a stored ETag, with weak comparison; `*` matches any object."""
    if if_none_match.strip() == "*":
        return True
    if not etag:
        return False
    mine = _opaque(etag.strip())
    return any(m.group(2) == mine for m in _ETAG.finditer(if_none_match))


def not_modified(
    request_headers: Mapping[str, str], etag: str | None, last_modified: str | None
) -> bool:
    """Whether a conditional GET/HEAD is answered 304 by the stored object's validators.

    `If-None-Match` wins over `If-Modified-Since` (RFC 9110 §13.2.2).
    """
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    since = parse_http_date(request_headers.get("if-modified-since"))
    modified = parse_http_date(last_modified)
    if since is None or modified is None:
        return False
    return modified <= since
