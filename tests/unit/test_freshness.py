"""Freshness and conditional requests: CloudFront's caching rules as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate

import pytest

from invalidator.edge.freshness import (
    Freshness,
    etag_matches,
    fold_headers,
    freshness,
    not_modified,
    parse_cache_control,
)

NOW = 1_700_000_000.0


@dataclass(frozen=True)
class T:
    min_ttl: int = 0
    default_ttl: int = 86400
    max_ttl: int = 31536000


def fresh(
    headers: dict[str, str], status: int = 200, method: str = "GET", **ttls: int
) -> Freshness:
    return freshness(method, status, headers, T(**ttls), now=NOW)


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def test_default_ttl_without_explicit_freshness() -> None:
    """A 200 with no caching headers is kept for DefaultTTL."""
    assert fresh({}) == Freshness(storable=True, ttl=86400, age=0)


def test_s_maxage_wins_over_max_age_and_expires() -> None:
    """s-maxage beats max-age, which beats Expires."""
    expires = http_date(NOW + 999)
    assert fresh({"cache-control": "max-age=10, s-maxage=20", "expires": expires}).ttl == 20
    assert fresh({"cache-control": "max-age=10", "expires": expires}).ttl == 10


def test_expires_relative_to_date_or_now() -> None:
    """Expires counts from the response's Date, else from now."""
    assert fresh({"expires": http_date(NOW + 300)}).ttl == 300
    headers = {"expires": http_date(NOW + 300), "date": http_date(NOW - 100)}
    assert fresh(headers).ttl == 400


def test_invalid_or_past_expires_is_already_expired() -> None:
    """An unparsable or past Expires means not storable with MinTTL 0, MinTTL otherwise."""
    assert not fresh({"expires": "0"}).storable
    assert not fresh({"expires": http_date(NOW - 10)}).storable
    assert fresh({"expires": "0"}, min_ttl=5).ttl == 5


def test_clamped_to_min_and_max_ttl() -> None:
    """Explicit lifetimes are clamped to [MinTTL, MaxTTL]."""
    assert fresh({"cache-control": "max-age=5"}, min_ttl=30).ttl == 30
    assert fresh({"cache-control": "max-age=5000"}, max_ttl=60).ttl == 60
    assert fresh({"cache-control": "max-age=0"}, min_ttl=0).storable is False


@pytest.mark.parametrize("directive", ["no-store", "private", "no-cache", "private, max-age=60"])
def test_no_store_private_no_cache(directive: str) -> None:
    """no-store/private/no-cache are not stored unless MinTTL > 0, which is then the TTL."""
    assert not fresh({"cache-control": directive}).storable
    assert fresh({"cache-control": directive}, min_ttl=7, default_ttl=10) == Freshness(True, 7)


def test_vary_star_never_stored() -> None:
    """`Vary: *` is never stored, even with MinTTL."""
    assert not fresh({"vary": "Accept, *"}, min_ttl=10, default_ttl=10).storable


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_only_get_and_head(method: str) -> None:
    """Only GET and HEAD responses are stored."""
    assert not fresh({"cache-control": "max-age=60"}, method=method).storable
    assert fresh({}, method="HEAD").storable


@pytest.mark.parametrize("status", [200, 203, 204, 300, 301, 404, 405, 410, 414, 501])
def test_statuses_stored_by_default(status: int) -> None:
    """CloudFront's default-cacheable statuses take DefaultTTL."""
    assert fresh({}, status=status).ttl == 86400


@pytest.mark.parametrize("status", [302, 307, 400, 403, 500, 502, 503])
def test_other_statuses_need_explicit_freshness(status: int) -> None:
    """Other statuses are stored only with explicit freshness."""
    assert not fresh({}, status=status).storable
    assert fresh({"cache-control": "max-age=30"}, status=status).ttl == 30


def test_age_counts_against_freshness() -> None:
    """The origin's Age is used up lifetime; an already-stale response is not stored."""
    got = fresh({"cache-control": "max-age=100", "age": "40"})
    assert (got.ttl, got.age, got.remaining) == (100, 40, 60)
    assert not fresh({"cache-control": "max-age=100", "age": "100"}).storable


def test_parse_cache_control() -> None:
    """Directives are lowercased, arguments unquoted."""
    assert parse_cache_control('Max-Age="60", no-cache, ,s-maxage=5') == {
        "max-age": "60",
        "no-cache": None,
        "s-maxage": "5",
    }
    assert fresh({"cache-control": "max-age=abc"}, min_ttl=0).storable is False


def test_fold_headers_joins_repeats() -> None:
    """Repeated header fields are joined with ', ' under a lowercased name."""
    assert fold_headers([("Cache-Control", "public"), ("cache-control", "max-age=5")]) == {
        "cache-control": "public, max-age=5"
    }


def test_if_none_match_strong_weak_star() -> None:
    """If-None-Match uses weak comparison, lists, and `*`."""
    assert etag_matches('"a"', '"a"')
    assert etag_matches('W/"a"', '"a"')
    assert etag_matches('"a"', 'W/"a"')
    assert etag_matches('"x", W/"a"', '"a"')
    assert not etag_matches('"b"', '"a"')
    assert etag_matches("*", None)
    assert not etag_matches('"a"', None)


def test_if_modified_since() -> None:
    """If-Modified-Since answers 304 when Last-Modified is not later."""
    modified = http_date(NOW - 100)
    assert not_modified({"if-modified-since": http_date(NOW)}, None, modified)
    assert not_modified({"if-modified-since": modified}, None, modified)
    assert not not_modified({"if-modified-since": http_date(NOW - 200)}, None, modified)
    assert not not_modified({"if-modified-since": "garbage"}, None, modified)
    assert not not_modified({"if-modified-since": http_date(NOW)}, None, None)


def test_if_none_match_takes_precedence() -> None:
    """With If-None-Match present, If-Modified-Since is ignored."""
    headers = {"if-none-match": '"b"', "if-modified-since": http_date(NOW)}
    assert not not_modified(headers, '"a"', http_date(NOW - 100))
    assert not not_modified({}, '"a"', http_date(NOW - 100))


@pytest.mark.parametrize(
    ("cache_control", "stored"),
    [
        ("max-age=60", False),
        ("max-age=60, public", True),
        ("s-maxage=60", True),
        ("max-age=60, must-revalidate", True),
    ],
)
def test_a_response_to_an_authorized_request(cache_control: str, stored: bool) -> None:
    """RFC 9111 §3.5: only public, s-maxage or must-revalidate let it be stored, MinTTL or not."""
    result = freshness("GET", 200, {"cache-control": cache_control}, T(min_ttl=5), now=NOW,
                       authorized=True)  # fmt: skip
    assert result.storable is stored
    assert freshness("GET", 200, {"cache-control": cache_control}, T(), now=NOW).storable


def error_fresh(headers: dict[str, str], status: int, error_ttl: int = 10) -> Freshness:
    return freshness("GET", status, headers, T(), now=NOW, error_ttl=error_ttl)


@pytest.mark.parametrize("status", [400, 403, 404, 405, 410, 414, 500, 501, 502, 503, 504])
def test_errors_are_kept_for_the_error_caching_ttl(status: int) -> None:
    """Without caching headers an error is kept for the Error Caching Minimum TTL (10 s by
    default), not DefaultTTL; a longer header lifetime wins, a shorter one does not."""
    assert error_fresh({}, status).ttl == 10
    assert error_fresh({}, status, error_ttl=60).ttl == 60
    assert error_fresh({"cache-control": "max-age=300"}, status).ttl == 300
    assert error_fresh({"cache-control": "max-age=3"}, status).ttl == 10
    assert not error_fresh({}, status, error_ttl=0).storable


def test_no_store_keeps_some_errors_out_and_is_ignored_for_the_others() -> None:
    """`no-store` (or `no-cache`, `private`) keeps 404, 410, 414 and 501 out of the cache;
    CloudFront ignores it for the other errors, which stay for the error caching TTL. 416 is
    never cached."""
    for status in (404, 410, 414, 501):
        assert not error_fresh({"cache-control": "no-store"}, status).storable
    for status in (400, 403, 500, 502, 503, 504):
        assert error_fresh({"cache-control": "no-cache"}, status).ttl == 10
    assert not error_fresh({"cache-control": "max-age=60"}, 416).storable
    assert error_fresh({}, 200).ttl == 86400  # other statuses as before
