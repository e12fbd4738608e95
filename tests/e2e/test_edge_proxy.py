"""The edge proxy end to end: a real uvicorn serving EdgeProxy in front of a real origin."""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
from email.utils import formatdate

import pytest

from invalidator.edge.responses import HIT, MISS
from tests.support.edge_harness import HOST, MAX60, Edge


async def test_miss_then_hit_with_age_and_via(edge: Edge) -> None:
    """First request is a Miss, the next a Hit from cache with a growing Age; Via is added."""
    edge.origin.set("/a.txt", b"v1", headers=MAX60)
    first = await edge.get("/a.txt")
    assert (first.status_code, first.text, first.headers["x-cache"]) == (
        200,
        "v1",
        "Miss from invalidator",
    )
    assert "1.1 invalidator" in first.headers["via"]
    edge.clock.now += 7
    second = await edge.get("/a.txt")
    assert (second.text, second.headers["x-cache"]) == ("v1", "Hit from invalidator")
    assert second.headers["age"] == "7"
    assert edge.origin.count("/a.txt") == 1


async def test_origin_request_headers(edge: Edge) -> None:
    """The origin gets its own Host, the custom headers and Via; hop-by-hop headers are not sent."""
    edge.origin.set("/h", b"ok", headers=MAX60)
    await edge.get("/h", headers={"connection": "keep-alive, x-hop", "x-hop": "1", "x-keep": "2"})
    seen = edge.origin.last("/h")
    assert seen.headers["host"] == f"127.0.0.1:{edge.origin.port}"
    assert seen.headers["x-origin-secret"] == "s3cret"
    assert "1.1 invalidator" in seen.headers["via"]
    assert "x-hop" not in seen.headers and seen.headers["x-keep"] == "2"


async def test_via_and_forwarded_for_are_appended_to(edge: Edge) -> None:
    """A viewer's own Via and X-Forwarded-For reach the origin with the edge's hop appended."""
    edge.origin.set("/fwd", b"ok", headers=MAX60)
    await edge.get("/fwd", headers={"via": "1.1 corp-proxy", "x-forwarded-for": "203.0.113.7"})
    seen = edge.origin.last("/fwd")
    assert seen.headers["via"] == "1.1 corp-proxy, 1.1 invalidator"
    assert seen.headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"


async def test_cached_copy_served_until_exact_purge(edge: Edge) -> None:
    """The origin changes, the edge serves the old copy; after a purge, the new one."""
    edge.origin.set("/page", b"old", headers=MAX60)
    await edge.get("/page")
    edge.origin.set("/page", b"new", headers=MAX60)
    assert (await edge.get("/page")).text == "old"
    edge.purge("/page")
    fresh = await edge.get("/page")
    assert (fresh.text, fresh.headers["x-cache"]) == ("new", "Miss from invalidator")
    assert (await edge.get("/page")).headers["x-cache"] == "Hit from invalidator"


async def test_wildcard_purge(edge: Edge) -> None:
    """`/img/*` refreshes everything under /img/ and nothing else."""
    for path in ("/img/1.png", "/img/2/x.png", "/other"):
        edge.origin.set(path, b"old", headers=MAX60)
        await edge.get(path)
        edge.origin.set(path, b"new", headers=MAX60)
    edge.purge("/img/*")
    assert (await edge.get("/img/1.png")).text == "new"
    assert (await edge.get("/img/2/x.png")).text == "new"
    assert (await edge.get("/other")).text == "old"


async def test_tag_purge(edge: Edge) -> None:
    """`#Product-1` refreshes objects whose origin listed that tag in the tag header."""
    edge.origin.set("/p1", b"old", headers=[*MAX60, ("Cache-Tag", "product-1, all")])
    edge.origin.set("/p2", b"old", headers=[*MAX60, ("Cache-Tag", "product-2")])
    await edge.get("/p1")
    await edge.get("/p2")
    edge.origin.set("/p1", b"new", headers=MAX60)
    edge.origin.set("/p2", b"new", headers=MAX60)
    edge.purge("#Product-1")
    assert (await edge.get("/p1")).text == "new"
    assert (await edge.get("/p2")).text == "old"


async def test_query_variants(edge: Edge) -> None:
    """Each query is its own object; `/q?v=1` purges one, `/q` all of them."""
    edge.origin.set("/q", b"old", headers=MAX60)
    for query in ("v=1", "v=2"):
        await edge.get(f"/q?{query}")
    assert edge.origin.count("/q") == 2
    edge.origin.set("/q", b"new", headers=MAX60)
    edge.purge("/q?v=1")
    assert (await edge.get("/q?v=1")).text == "new"
    assert (await edge.get("/q?v=2")).text == "old"
    edge.purge("/q")
    assert (await edge.get("/q?v=2")).text == "new"


async def test_query_not_forwarded(edge: Edge) -> None:
    """Without query forwarding the query is dropped: one object, and the origin never sees it."""
    edge.serve("E2", "noquery.example", forward_query_strings=False)
    edge.origin.set("/nq", b"same", headers=MAX60)
    await edge.get("/nq?a=1", host="noquery.example")
    hit = await edge.get("/nq?a=2", host="noquery.example")
    assert hit.headers["x-cache"] == "Hit from invalidator"
    assert edge.origin.count("/nq") == 1 and edge.origin.last("/nq").query == ""


async def test_percent_encoded_and_raw_spellings_are_one_object(edge: Edge) -> None:
    """`/%61bc` and `/abc` are one cached object, and a purge of either spelling removes it."""
    edge.origin.set("/abc", b"old", headers=MAX60)
    edge.origin.set("/a b", b"old", headers=MAX60)
    assert (await edge.get("/%61bc")).headers["x-cache"] == "Miss from invalidator"
    assert (await edge.get("/abc")).headers["x-cache"] == "Hit from invalidator"
    await edge.get("/a%20b")
    edge.origin.set("/abc", b"new", headers=MAX60)
    edge.origin.set("/a b", b"new", headers=MAX60)
    edge.purge("/a%62c", "/a b")
    assert (await edge.get("/abc")).text == "new"
    assert (await edge.get("/a%20b")).text == "new"


async def test_vary_variants_purged_together(edge: Edge) -> None:
    """Accept-Encoding variants are cached apart and one purge removes both."""
    edge.origin.set("/v", b"body", headers=[*MAX60, ("Vary", "Accept-Encoding")])
    for encoding in ("gzip", "identity", "gzip", "identity"):
        await edge.get("/v", headers={"accept-encoding": encoding})
    assert edge.origin.count("/v") == 2
    edge.purge("/v")
    for encoding in ("gzip", "identity"):
        response = await edge.get("/v", headers={"accept-encoding": encoding})
        assert response.headers["x-cache"] == "Miss from invalidator"


@pytest.mark.parametrize(
    ("headers", "ttls", "cached_for"),
    [
        ([("Cache-Control", "max-age=10")], {}, 10),
        ([("Cache-Control", "max-age=10, s-maxage=30")], {}, 30),
        ([("Cache-Control", "max-age=1000")], {"max_ttl": 20, "default_ttl": 20}, 20),
        ([("Cache-Control", "max-age=2")], {"min_ttl": 15}, 15),
        ([("Cache-Control", "no-store")], {"min_ttl": 12}, 12),
        ([("Cache-Control", "no-store")], {}, 0),
        ([("Cache-Control", "private, max-age=60")], {}, 0),
        ([("Cache-Control", "no-cache")], {}, 0),
        ([("Expires", "+40")], {}, 40),
        ([], {"default_ttl": 25}, 25),
    ],
)
async def test_freshness_rules_and_ttl_clamps(
    edge: Edge, headers: list[tuple[str, str]], ttls: dict[str, int], cached_for: int
) -> None:
    """Cache-Control, Expires and the distribution's TTLs decide how long a copy is served."""
    edge.serve("E3", "ttl.example", **ttls)
    headers = [(n, formatdate(time.time() + int(v), usegmt=True) if v[0] == "+" else v)
               for n, v in headers]  # fmt: skip
    edge.origin.set("/f", b"x", headers=headers)
    await edge.get("/f", host="ttl.example")
    edge.clock.now += max(cached_for - 3, 0)
    again = await edge.get("/f", host="ttl.example")
    assert again.headers["x-cache"] == (
        "Hit from invalidator" if cached_for else "Miss from invalidator"
    )
    edge.clock.now += 4
    assert (await edge.get("/f", host="ttl.example")).headers["x-cache"] == "Miss from invalidator"


async def test_head_requests(edge: Edge) -> None:
    """HEAD is cached with GET: no body, the object's length; a later GET is a hit."""
    edge.origin.set("/h.bin", b"0123456789", headers=MAX60)
    head = await edge.client.head("/h.bin", headers={"host": HOST})
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "10")
    get = await edge.get("/h.bin")
    assert (get.content, get.headers["x-cache"]) == (b"0123456789", "Hit from invalidator")
    head = await edge.client.head("/h.bin", headers={"host": HOST})
    assert (head.content, head.headers["x-cache"]) == (b"", "Hit from invalidator")
    assert edge.origin.count("/h.bin") == 1


async def test_conditional_requests_answered_from_cache(edge: Edge) -> None:
    """If-None-Match (weak too) and If-Modified-Since get a 304 from cache."""
    modified = formatdate(time.time() - 3600, usegmt=True)
    edge.origin.set("/c", b"data", headers=[*MAX60, ("ETag", '"abc"'), ("Last-Modified", modified)])
    first = await edge.get("/c", headers={"if-none-match": '"abc"'})
    assert (first.status_code, first.headers["x-cache"]) == (304, "Miss from invalidator")
    assert "if-none-match" not in edge.origin.last("/c").headers
    for conditional in (
        {"if-none-match": 'W/"abc"'},
        {"if-modified-since": formatdate(usegmt=True)},
    ):
        response = await edge.get("/c", headers=conditional)
        assert (response.status_code, response.content) == (304, b"")
        assert (
            response.headers["etag"] == '"abc"'
            and response.headers["x-cache"] == "Hit from invalidator"
        )
    changed = await edge.get("/c", headers={"if-none-match": '"zzz"'})
    assert (changed.status_code, changed.content) == (200, b"data")
    assert edge.origin.count("/c") == 1


async def test_concurrent_misses_coalesced(edge: Edge) -> None:
    """20 concurrent misses for one object make one origin request."""
    edge.origin.set("/slow", b"payload", headers=MAX60, delay=0.3)
    responses = await asyncio.gather(*(edge.get("/slow") for _ in range(20)))
    assert {r.text for r in responses} == {"payload"}
    assert edge.origin.count("/slow") == 1
    assert sorted(r.headers["x-cache"] for r in responses).count("Miss from invalidator") == 1


async def test_uncacheable_leader_releases_followers(edge: Edge) -> None:
    """When the coalesced response is not storable, the followers fetch on their own."""
    edge.origin.set("/nostore", b"p", headers=[("Cache-Control", "no-store")], delay=0.2)
    responses = await asyncio.gather(*(edge.get("/nostore") for _ in range(5)))
    assert {r.text for r in responses} == {"p"}
    assert edge.origin.count("/nostore") == 5


async def test_fetch_racing_a_purge_is_not_served_afterwards(edge: Edge) -> None:
    """A purge recorded while the origin fetch is in flight makes that response stale."""
    import threading

    hold = threading.Event()
    edge.origin.set("/race", b"old", headers=MAX60, hold=hold)
    request = asyncio.create_task(edge.get("/race"))
    while edge.origin.count("/race") == 0:
        await asyncio.sleep(0.01)
    edge.purge("/race")
    edge.origin.set("/race", b"new", headers=MAX60)
    hold.set()
    assert (await request).text == "old"  # the racing viewer gets what it asked for
    after = await edge.get("/race")
    assert (after.text, after.headers["x-cache"]) == ("new", "Miss from invalidator")
    assert edge.origin.count("/race") == 2


async def test_large_body_streamed_with_bounded_memory(edge: Edge) -> None:
    """A 50 MB body streams through with bounded memory and is not cached above the limit."""
    size = 50 << 20
    edge.origin.set("/big", headers=MAX60, stream_size=size)
    tracemalloc.start()
    try:
        received = 0
        async with edge.client.stream("GET", "/big", headers={"host": HOST}) as response:
            assert response.headers["content-length"] == str(size)
            async for chunk in response.aiter_raw():
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"
    assert (await edge.get("/big")).headers["x-cache"] == "Miss from invalidator"
    assert edge.origin.count("/big") == 2 and edge.cache.stats().entries == 0


async def test_refused_origin_is_502(edge: Edge) -> None:
    """A refused connection answers 502, never cached."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    edge.serve("E4", "down.example", origin_url=f"http://127.0.0.1:{port}")
    for _ in range(2):
        response = await edge.get("/x", host="down.example")
        assert (response.status_code, response.headers["x-cache"]) == (
            502,
            "Error from invalidator",
        )
    assert edge.cache.stats().entries == 0


async def test_origin_timeout_is_504_not_cached(edge: Edge) -> None:
    """An origin slower than the read timeout answers 504; the next request reaches the origin."""
    edge.origin.set("/t", b"late", headers=MAX60, delay=2.0)
    response = await edge.get("/t")
    assert (response.status_code, response.headers["x-cache"]) == (504, "Error from invalidator")
    edge.origin.set("/t", b"quick", headers=MAX60)
    assert (await edge.get("/t")).text == "quick"


async def test_gate_closed_means_origin_every_time(edge: Edge) -> None:
    """While the gate is closed nothing is served from cache."""
    edge.origin.set("/g", b"x", headers=MAX60)
    await edge.get("/g")
    edge.gate.open = False
    for _ in range(3):
        assert (await edge.get("/g")).headers["x-cache"] == "Miss from invalidator"
    assert edge.origin.count("/g") == 4
    edge.gate.open = True
    assert (await edge.get("/g")).headers["x-cache"] == "Hit from invalidator"


async def test_routing_by_host(edge: Edge) -> None:
    """Hosts match the domain or an alias, any case, port ignored; unknown 404, disabled 403."""
    edge.origin.set("/r", b"r", headers=MAX60)
    assert (await edge.get("/r", host="WWW.Example.com:8080")).text == "r"
    unknown = await edge.get("/r", host="unknown.example")
    assert unknown.status_code == 404
    edge.serve("E5", "off.example", enabled=False)
    disabled = await edge.get("/r", host="off.example")
    assert disabled.status_code == 403
    for answer in (unknown, disabled):  # like every answer of the edge
        assert answer.headers["x-cache"] == "Error from invalidator"
        assert answer.headers["age"] == "0"
        assert answer.headers["via"]
    edge.proxy.remove_distribution("E1")
    assert (await edge.get("/r")).status_code == 404


async def test_other_methods_pass_through(edge: Edge) -> None:
    """POST streams its body to the origin and is never cached."""
    edge.origin.set("/api", b"created", status=201, headers=MAX60)
    for _ in range(2):
        response = await edge.client.post("/api", content=b"payload", headers={"host": HOST})
        assert (response.status_code, response.text) == (201, "created")
    assert edge.origin.count("/api") == 2
    assert edge.origin.last("/api").body == b"payload"


async def test_a_wildcard_alias_serves_every_name_below_it(edge: Edge) -> None:
    """`*.wild.example` serves `a.wild.example` and `x.y.wild.example` (any depth, as
    CloudFront routes a wildcard alternate domain name), not the apex `wild.example`; an exact
    alias of another distribution wins over the wildcard."""
    edge.serve("EWILD", "ewild.example", aliases=("*.wild.example",))
    edge.serve("EEXACT", "eexact.example", aliases=("www.wild.example",))
    edge.origin.set("/w", b"from the origin", headers=MAX60)
    for host in ("a.wild.example", "X.Y.Wild.Example:80"):
        answer = await edge.get("/w", host=host)
        assert (answer.status_code, answer.content) == (200, b"from the origin"), host
    assert (await edge.get("/w", host="wild.example")).status_code == 404
    deep = ".".join(["x"] * 100) + ".wild.example"  # 213 characters, 102 labels: served
    assert (await edge.get("/w", host=deep)).status_code == 200
    too_long = "a" * 300 + ".wild.example"  # not a DNS name: nothing to look up
    assert (await edge.get("/w", host=too_long)).status_code == 404
    await edge.get("/w", host="www.wild.example")
    assert (await edge.get("/w", host="www.wild.example")).headers["x-cache"] == HIT
    assert (await edge.get("/w", host="b.wild.example")).headers["x-cache"] == HIT
    # each distribution has its own copy: the exact alias went to EEXACT, not to EWILD
    edge.purge("/w", dist="EWILD")
    assert (await edge.get("/w", host="www.wild.example")).headers["x-cache"] == HIT
    assert (await edge.get("/w", host="b.wild.example")).headers["x-cache"] == MISS
