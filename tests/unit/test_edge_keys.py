"""Cache keys and forwarded values: spelling normalization, query, cookies, headers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from invalidator.domain.serving import SELECT_ALL, SELECT_NONE, CacheBehavior, Selection
from invalidator.edge.keys import (
    ForwardedView,
    normalize,
    normalize_path,
    normalized_accept_encoding,
    origin_headers,
    select_cookies,
    select_query,
    variant_key,
)

LEGACY = CacheBehavior("*", "http://o", (), 0, 86400, 31536000)
POLICY = replace(LEGACY, viewer_headers=False, query_forward=SELECT_NONE, query_key=SELECT_NONE)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/plain/path.html", "/plain/path.html"),
        ("/%61%62c", "/abc"),  # unreserved characters decoded
        ("/a%2fb", "/a%2Fb"),  # reserved ones kept encoded, hex uppercased
        ("/a%2Fb", "/a%2Fb"),
        ("/x%ff", "/x%FF"),
        ("/a b", "/a%20b"),  # bytes outside the URI set encoded
        ("/\xe4\xb8\xad", "/%E4%B8%AD"),  # raw UTF-8 bytes, as latin-1
        ("/100%", "/100%25"),  # a lone percent
        ("/%zz", "/%25zz"),
        ("/a#b", "/a%23b"),
        ("a=1%26b=2", "a=1%26b=2"),
        ("q=%7e~", "q=~~"),
        ("/!$&'()*+,;=:@", "/!$&'()*+,;=:@"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    """RFC 3986 normalization: unreserved decoded, hex uppercased, the rest encoded."""
    assert normalize(raw) == normalized
    assert normalize(normalized) == normalized


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/x/../dot", "/dot"),
        ("/x/./dot", "/x/dot"),
        ("/a/b/../../dot", "/dot"),
        ("/x/%2E%2E/dot", "/dot"),  # decoded first: `%2E` is unreserved
        ("/x/%2e/dot", "/x/dot"),
        ("/../../dot", "/dot"),  # never above the root
        ("/a/b/.", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/..", "/"),
        ("/a/..b/.c/d.", "/a/..b/.c/d."),  # dots inside names are names
        ("//ds/./x", "//ds/x"),  # empty segments stay
        ("/a%2F..%2Fb", "/a%2F..%2Fb"),  # an encoded slash does not end a segment
        ("/file.tar.gz", "/file.tar.gz"),
    ],
)
def test_normalize_path_removes_dot_segments(raw: str, normalized: str) -> None:
    """RFC 3986 §5.2.4 on the normalized path: the object an HTTP client would fetch."""
    assert normalize_path(raw) == normalized
    assert normalize_path(normalized) == normalized


def test_select_query() -> None:
    """All, none, or the listed parameters (compared decoded), in the order received."""
    query = "b=2&a=1&c%20d=3&a=4"
    assert select_query(query, SELECT_ALL) == query
    assert select_query(query, SELECT_NONE) == ""
    assert select_query(query, Selection("whitelist", ("a", "c d"))) == "a=1&c%20d=3&a=4"


def test_select_cookies_sorted_with_wildcards() -> None:
    """Chosen cookies sorted by name; whitelists may use `*` and `?`; names are case-sensitive."""
    header = "z=1; sess-2=b; sess-1=a; Other=x; bad"
    assert select_cookies(header, SELECT_ALL) == "Other=x; sess-1=a; sess-2=b; z=1"
    assert select_cookies(header, SELECT_NONE) == ""
    assert select_cookies(header, Selection("whitelist", ("sess-?", "other"))) == (
        "sess-1=a; sess-2=b"
    )
    assert select_cookies(None, SELECT_ALL) == ""


@pytest.mark.parametrize(
    ("value", "normalized"),
    [
        ("gzip, deflate, br", "br,gzip"),
        ("deflate", ""),
        ("GZIP", "gzip"),
        ("br;q=1.0, identity", "br"),
        ("gzip;q=0, br", "br"),
        (None, ""),
    ],
)
def test_accept_encoding_normalized(value: str | None, normalized: str) -> None:
    """Only gzip and br count, sorted; q=0 refuses one."""
    assert normalized_accept_encoding(value) == normalized


def test_variant_key() -> None:
    """Keyed headers and cookies and the normalized Accept-Encoding make the variant."""
    headers = {"accept-encoding": "gzip", "accept-language": "de", "cookie": "a=1; b=2"}
    assert variant_key(LEGACY, headers) == "gzip"
    assert variant_key(replace(LEGACY, compress=False), headers) == ""
    keyed = replace(LEGACY, header_key=("accept-language",),
                    cookie_key=Selection("whitelist", ("b",)))  # fmt: skip
    assert variant_key(keyed, headers) == "gzip\naccept-language:de\nb=2"
    assert variant_key(keyed, {**headers, "cookie": "b=2; a=9"}) == variant_key(keyed, headers)
    assert variant_key(keyed, {**headers, "accept-language": "fr"}) != variant_key(keyed, headers)


def test_origin_headers_legacy_defaults() -> None:
    """CloudFront's table: removed headers, User-Agent replaced, others forwarded."""
    pairs = [("accept", "*/*"), ("authorization", "t"), ("cookie", "a=1"), ("referer", "r"),
             ("user-agent", "curl"), ("x-custom", "1"), ("if-none-match", '"e"'),
             ("connection", "x-hop"), ("x-hop", "h"), ("te", "trailers"),
             ("accept-encoding", "gzip"), ("x-edge-location", "x"),
             ("content-type", "t/p")]  # fmt: skip
    folded = dict(pairs)
    sent = dict(origin_headers(LEGACY, pairs, folded, cacheable=True))
    assert sent == {"x-custom": "1", "content-type": "t/p", "accept-encoding": "gzip",
                    "user-agent": "Amazon CloudFront"}  # fmt: skip
    passing = dict(origin_headers(LEGACY, pairs, folded, cacheable=False))
    assert passing["if-none-match"] == '"e"'  # a pass-through keeps the viewer's conditionals


def test_origin_headers_of_a_cache_policy_and_whitelists() -> None:
    """A cache policy forwards only what it names; whitelisted headers and cookies go as sent."""
    pairs = [("x-custom", "1"), ("accept-language", "de"), ("cookie", "b=2; a=1"),
             ("user-agent", "curl"), ("authorization", "t")]  # fmt: skip
    folded = dict(pairs)
    assert dict(origin_headers(POLICY, pairs, folded, cacheable=True)) == {
        "user-agent": "Amazon CloudFront"
    }
    keyed = replace(POLICY, header_key=("accept-language", "authorization", "user-agent"),
                    cookie_key=SELECT_ALL)  # fmt: skip
    assert dict(origin_headers(keyed, pairs, folded, cacheable=True)) == {
        "accept-language": "de", "authorization": "t", "user-agent": "curl",
        "cookie": "a=1; b=2",
    }  # fmt: skip
    everything = replace(LEGACY, forward_all_headers=True)
    assert dict(origin_headers(everything, pairs, folded, cacheable=False)) == folded


def test_forwarded_view_is_what_the_origin_saw() -> None:
    """Vary is matched against forwarded values: a removed header reads as absent."""
    view = ForwardedView(LEGACY, {"accept-language": "de", "accept-encoding": "gzip, br",
                                  "x-custom": "1"})  # fmt: skip
    assert view.get("accept-language") is None
    assert view["accept-encoding"] == "br,gzip"
    assert view.get("user-agent") == "Amazon CloudFront"
    assert view.get("x-custom") == "1"
