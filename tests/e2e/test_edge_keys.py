"""The edge's cache key and what it forwards, end to end: spellings, headers, cookies,
cache policies and path-pattern cache behaviors with two real origins."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from invalidator.domain.serving import CacheBehavior, Selection, serving_config
from tests.support.edge_harness import HOST, MAX60, Edge, distribution, running_edge
from tests.support.origin import Origin

HIT, MISS = "Hit from invalidator", "Miss from invalidator"


@pytest.mark.parametrize(
    ("first", "second"),
    [("/a%2Fb", "/a/b"), ("/x%FF", "/x%FE"), ("/q?a=1%26b=2", "/q?a=1&b=2")],
)
async def test_different_raw_spellings_are_different_objects(
    edge: Edge, first: str, second: str
) -> None:
    """Spellings that are different requests to the origin never share a cached copy."""
    for raw in ("/a%2Fb", "/a/b", "/x%FF", "/x%FE", "/q"):
        edge.origin.set(raw, headers=MAX60, echo=True)
    one = await edge.get(first)
    two = await edge.get(second)
    assert (one.headers["x-cache"], two.headers["x-cache"]) == (MISS, MISS)
    assert one.content != two.content
    assert (await edge.get(first)).content == one.content
    assert (await edge.get(second)).content == two.content


async def test_equivalent_spellings_share_one_object(edge: Edge) -> None:
    """Lowercase hex and encoded unreserved characters are one object; the origin gets the
    normalized spelling."""
    edge.origin.set("/a%2Fb", headers=MAX60, echo=True)
    first = await edge.get("/a%2fb")
    assert first.content == b"/a%2Fb?"
    again = await edge.get("/%61%2Fb")
    assert (again.headers["x-cache"], again.content) == (HIT, b"/a%2Fb?")


async def test_purge_of_either_spelling_covers_an_encoded_object(edge: Edge) -> None:
    """`/a/b` purges the object `/a%2Fb` too (a purge may cover more, never less)."""
    edge.origin.set("/a%2Fb", b"old", headers=MAX60)
    await edge.get("/a%2Fb")
    edge.origin.set("/a%2Fb", b"new", headers=MAX60)
    edge.purge("/a/b")
    assert (await edge.get("/a%2Fb")).content == b"new"


async def _raw_get(edge: Edge, target: str) -> tuple[str, bytes]:
    """GET `target` exactly as written (httpx would resolve its dot segments first): the
    X-Cache and the body."""
    import asyncio
    from urllib.parse import urlsplit

    parts = urlsplit(edge.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    cache = next(line.split(":", 1)[1].strip() for line in head.decode().split("\r\n")
                 if line.lower().startswith("x-cache:"))  # fmt: skip
    return cache, body


@pytest.mark.parametrize("spelling", ["/x/../dot", "/x/%2E%2E/dot", "/a/b/../../dot", "/./dot"])
async def test_dot_segments_name_the_object_they_resolve_to(edge: Edge, spelling: str) -> None:
    """`/x/../dot` is `/dot` (the origin is asked for `/dot`): one cached object, which an
    invalidation of `/dot` purges (it was a key of its own that no invalidation named)."""
    edge.origin.set("/dot", b"old", headers=MAX60)
    assert await _raw_get(edge, spelling) == (MISS, b"old")
    assert await _raw_get(edge, "/dot") == (HIT, b"old")
    assert edge.origin.last("/dot") is not None
    edge.origin.set("/dot", b"new", headers=MAX60)
    edge.purge("/dot")
    assert await _raw_get(edge, spelling) == (MISS, b"new")


@pytest.mark.parametrize("item", ["/x/../dot", "/x/%2E%2E/dot", "/a/./../dot*"])
async def test_an_invalidation_with_dot_segments_purges_what_viewers_get_there(
    edge: Edge, item: str
) -> None:
    """Invalidating the dotted URL a viewer uses takes away the copy served there (`/dot`)."""
    edge.origin.set("/dot", b"old", headers=MAX60)
    assert await _raw_get(edge, "/x/../dot") == (MISS, b"old")
    edge.origin.set("/dot", b"new", headers=MAX60)
    edge.purge(item)
    assert await _raw_get(edge, "/x/../dot") == (MISS, b"new")


async def test_default_forwarding_keeps_personal_headers_away(edge: Edge) -> None:
    """By default Authorization, Cookie, Accept-Language and Referer are not forwarded (and so
    cannot personalize a shared copy); User-Agent is CloudFront's; Set-Cookie is dropped."""
    edge.origin.set("/me", b"public", headers=[*MAX60, ("Set-Cookie", "s=1")])
    first = await edge.get("/me", headers={
        "authorization": "Bearer alice", "cookie": "session=alice", "accept-language": "de",
        "referer": "https://x.example/", "user-agent": "curl/8", "x-custom": "kept",
        "accept-encoding": "gzip, deflate, br",
    })  # fmt: skip
    seen = edge.origin.last("/me").headers
    for name in ("authorization", "cookie", "accept-language", "referer"):
        assert name not in seen
    assert seen["user-agent"] == "Amazon CloudFront" and seen["x-custom"] == "kept"
    assert seen["accept-encoding"] == "br,gzip"
    assert "set-cookie" not in first.headers
    other = await edge.get("/me", headers={"authorization": "Bearer bob", "cookie": "session=b",
                                           "accept-encoding": "br, gzip"})  # fmt: skip
    assert (other.headers["x-cache"], other.content) == (HIT, b"public")


async def test_whitelisted_headers_are_forwarded_and_keyed(edge: Edge) -> None:
    """A header in ForwardedValues.Headers reaches the origin and separates cached copies."""
    edge.serve(
        "E2", "lang.example", default_behavior=_behavior(edge, header_key=("accept-language",))
    )
    edge.origin.set("/l", headers=MAX60, echo=True)
    for language in ("de", "fr", "de", "fr"):
        await edge.get("/l", host="lang.example", headers={"accept-language": language})
    assert edge.origin.count("/l") == 2
    assert edge.origin.last("/l").headers["accept-language"] == "fr"


async def test_whitelisted_cookies_only_are_forwarded_and_keyed(edge: Edge) -> None:
    """Only whitelisted cookies reach the origin (sorted by name) and are in the key."""
    cookies = Selection("whitelist", ("b", "a"))
    edge.serve("E2", "c.example", default_behavior=_behavior(edge, cookie_key=cookies))
    edge.origin.set("/c", headers=[*MAX60, ("Set-Cookie", "a=2")], echo=True)
    first = await edge.get("/c", host="c.example", headers={"cookie": "z=9; b=2; a=1"})
    assert edge.origin.last("/c").headers["cookie"] == "a=1; b=2"
    assert first.headers["set-cookie"] == "a=2"  # cookies are forwarded: so is Set-Cookie
    same = await edge.get("/c", host="c.example", headers={"cookie": "a=1; b=2; z=0"})
    assert same.headers["x-cache"] == HIT and "set-cookie" not in same.headers
    other = await edge.get("/c", host="c.example", headers={"cookie": "a=1"})
    assert other.headers["x-cache"] == MISS
    assert edge.origin.count("/c") == 2


async def test_forwarded_authorization_is_stored_only_when_the_origin_allows(edge: Edge) -> None:
    """With Authorization forwarded (and keyed), a response is stored only with s-maxage,
    public or must-revalidate (RFC 9111 §3.5)."""
    edge.serve(
        "E2", "auth.example", default_behavior=_behavior(edge, header_key=("authorization",))
    )
    edge.origin.set("/private", b"p", headers=MAX60)
    edge.origin.set("/shared", b"s", headers=[("Cache-Control", "max-age=60, s-maxage=60")])
    for path in ("/private", "/private", "/shared", "/shared"):
        await edge.get(path, host="auth.example", headers={"authorization": "Bearer alice"})
    assert (edge.origin.count("/private"), edge.origin.count("/shared")) == (2, 1)
    bob = await edge.get("/shared", host="auth.example", headers={"authorization": "Bearer bob"})
    assert bob.headers["x-cache"] == MISS  # keyed: alice's copy is not bob's
    assert edge.origin.last("/shared").headers["authorization"] == "Bearer bob"


async def test_forwarding_all_headers_caches_nothing(edge: Edge) -> None:
    """`Headers: *` forwards every header (cookies too) and nothing is cached."""
    edge.serve("E2", "all.example", default_behavior=_behavior(edge, forward_all_headers=True))
    edge.origin.set("/all", b"x", headers=MAX60)
    for _ in range(2):
        response = await edge.get("/all", host="all.example",
                                  headers={"cookie": "a=1", "authorization": "t"})  # fmt: skip
        assert response.headers["x-cache"] == MISS
    seen = edge.origin.last("/all").headers
    assert (seen["cookie"], seen["authorization"]) == ("a=1", "t")
    assert edge.origin.count("/all") == 2


async def test_query_string_cache_keys_key_only_the_listed_parameters(edge: Edge) -> None:
    """QueryStringCacheKeys: every parameter is forwarded, only the listed ones are keyed."""
    keyed = Selection("whitelist", ("page",))
    edge.serve("E2", "qs.example", default_behavior=_behavior(edge, query_key=keyed))
    edge.origin.set("/list", headers=MAX60, echo=True)
    first = await edge.get("/list?page=2&utm=a", host="qs.example")
    assert first.content == b"/list?page=2&utm=a"
    same = await edge.get("/list?utm=b&page=2", host="qs.example")
    assert (same.headers["x-cache"], same.content) == (HIT, b"/list?page=2&utm=a")
    assert (await edge.get("/list?page=3", host="qs.example")).headers["x-cache"] == MISS


@pytest.mark.parametrize(
    ("keyed", "url", "item"),
    [
        (Selection("none"), "/noq/b?x=1", "/noq/b?x=1"),
        (Selection("whitelist", ("k",)), "/wl/a?k=1&u=2", "/wl/a?k=1&u=2"),
        (Selection("whitelist", ("k",)), "/wl/a?k=1&u=2", "/wl/a?k=1&*"),
    ],
    ids=["not-keyed", "whitelist-exact", "whitelist-wildcard"],
)
async def test_an_invalidated_url_is_purged_whatever_part_of_its_query_is_keyed(
    edge: Edge, keyed: Selection, url: str, item: str
) -> None:
    """The copy served at `url` is keyed on none or some of its query; invalidating `url`
    itself (or a wildcard over it) purges that copy (it was matched against the keyed
    query only, and the viewer kept getting the old copy at the exact URL invalidated)."""
    edge.serve("E2", "pq.example", default_behavior=_behavior(edge, query_key=keyed))
    path = url.partition("?")[0]
    edge.origin.set(path, b"old", headers=MAX60)
    assert (await edge.get(url, host="pq.example")).content == b"old"
    assert (await edge.get(url, host="pq.example")).headers["x-cache"] == HIT
    edge.origin.set(path, b"new", headers=MAX60)
    edge.purge(item, dist="E2")
    again = await edge.get(url, host="pq.example")
    assert (again.headers["x-cache"], again.content) == (MISS, b"new")


async def test_caching_optimized_policy_forwards_and_keys_no_query(edge: Edge) -> None:
    """A CachePolicyId behavior (Managed-CachingOptimized): no query string reaches the origin
    or the key; other viewer headers are not forwarded."""
    config = serving_config("E2", "policy.example", _distribution_config(edge.origin.port))
    edge.proxy.upsert_distribution(config)
    edge.origin.set("/p", headers=MAX60, echo=True)
    first = await edge.get("/p?a=1", host="policy.example", headers={"x-custom": "1"})
    assert first.content == b"/p?"
    assert "x-custom" not in edge.origin.last("/p").headers
    assert (await edge.get("/p?a=2", host="policy.example")).headers["x-cache"] == HIT


async def test_path_pattern_behaviors_pick_origin_ttls_and_forwarding() -> None:
    """CacheBehaviors apply in order, each with its own origin, TTLs and query forwarding; the
    default behavior serves the rest."""
    with Origin() as web, Origin() as api:
        raw = _distribution_config(web.port)
        raw["Origins"]["Items"].append(_custom_origin("api", api.port))
        raw["Origins"]["Quantity"] = 2
        legacy = {"QueryString": True, "Cookies": {"Forward": "none"}}
        raw["CacheBehaviors"] = {"Quantity": 2, "Items": [
            {"PathPattern": "/api/*", "TargetOriginId": "api", "ViewerProtocolPolicy": "allow-all",
             "ForwardedValues": legacy, "MinTTL": 0, "DefaultTTL": 5, "MaxTTL": 5},
            {"PathPattern": "*.css", "TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
             "ForwardedValues": {**legacy, "QueryString": False}, "MinTTL": 0,
             "DefaultTTL": 100, "MaxTTL": 100},
        ]}  # fmt: skip
        config = serving_config("E1", HOST, raw)
        for origin, body in ((web, b"web"), (api, b"api")):
            for path in ("/api/users", "/site.css", "/index.html"):
                origin.set(path, body + path.encode(), echo=path == "/api/users")
        async with running_edge(web, config=config) as edge:
            users = await edge.get("/api/users?id=7")
            assert users.content == b"/api/users?id=7"  # from the api origin, query forwarded
            assert (api.count("/api/users"), web.count("/api/users")) == (1, 0)
            assert (await edge.get("/site.css?v=1")).content == b"web/site.css"
            assert web.last("/site.css").query == ""  # that behavior forwards no query
            assert (await edge.get("/index.html")).content == b"web/index.html"
            edge.clock.now += 10  # past /api/*'s MaxTTL, within the others'
            assert (await edge.get("/api/users?id=7")).headers["x-cache"] == MISS
            assert (await edge.get("/site.css")).headers["x-cache"] == HIT
            assert (await edge.get("/index.html")).headers["x-cache"] == HIT
            edge.purge("/api/*")
            assert (await edge.get("/api/users?id=7")).headers["x-cache"] == MISS
            assert (await edge.get("/site.css")).headers["x-cache"] == HIT


def _behavior(edge: Edge, **fields: Any) -> CacheBehavior:
    return replace(distribution(edge.origin).default, **fields)


def _custom_origin(origin_id: str, port: int) -> dict[str, Any]:
    return {
        "Id": origin_id,
        "DomainName": "127.0.0.1",
        "CustomOriginConfig": {"HTTPPort": port, "HTTPSPort": 443,
                               "OriginProtocolPolicy": "http-only"},
    }  # fmt: skip


def _distribution_config(port: int) -> dict[str, Any]:
    return copy.deepcopy({
        "CallerReference": "keys",
        "Origins": {"Quantity": 1, "Items": [_custom_origin("web", port)]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
        "Comment": "", "Enabled": True,
    })  # fmt: skip


async def test_methods_outside_allowed_methods_are_refused_before_the_origin() -> None:
    """A behavior allows GET and HEAD unless its AllowedMethods says more: a POST or OPTIONS
    there is answered 403 by the edge and never reaches the origin; a behavior allowing every
    method passes its POST through."""
    with Origin() as web:
        raw = _distribution_config(web.port)
        raw["CacheBehaviors"] = {"Quantity": 1, "Items": [{
            "PathPattern": "/api/*", "TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",  # Managed-CachingDisabled
            "AllowedMethods": {"Quantity": 7, "Items": [
                "GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]},
        }]}  # fmt: skip
        web.set("/form", b"page", headers=MAX60)
        web.set("/api/items", b"created", status=201)
        async with running_edge(web, config=serving_config("E1", HOST, raw)) as edge:
            for method in ("POST", "OPTIONS", "DELETE"):
                refused = await edge.client.request(
                    method, "/form", content=b"x" if method == "POST" else None,
                    headers={"host": HOST},
                )  # fmt: skip
                assert refused.status_code == 403, method
                assert "not configured to allow the HTTP request method" in refused.text
                assert refused.headers["x-cache"] == "Error from invalidator"
            assert web.count("/form") == 0
            assert (await edge.get("/form")).content == b"page"
            assert (await edge.client.head("/form", headers={"host": HOST})).status_code == 200
            posted = await edge.client.post("/api/items", content=b"new", headers={"host": HOST})
            assert (posted.status_code, posted.content) == (201, b"created")
            assert web.last("/api/items").body == b"new"
