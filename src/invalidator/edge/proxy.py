"""The edge: an ASGI caching reverse proxy serving distributions by `Host`.

Each request is matched to its distribution, then to a cache behavior (the first PathPattern
that matches, else the default), which names the origin, the TTLs and what is forwarded and
keyed (`edge.keys`). GET and HEAD are answered from the `EdgeCache` while the `ServeGate`
allows it (lease held and caught up), else fetched from the origin. Concurrent misses for one
key share one origin fetch: its body is downloaded by a task of its own (`edge.fill`), so a
slow viewer delays no one, and every viewer of the flight streams from that download. Each
fetch is stamped with `gate.position()` taken before the request goes out, so a purge applied
while it is in flight makes the stored copy stale. An expired copy with a validator is
revalidated with a conditional request; a 304 refreshes it unless it was purged meanwhile.
Bodies too large for the cache (or not storable) stream straight through, and their download
stops when the viewer leaves. Other methods pass through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from invalidator.domain.cache_policies import ALL, NONE
from invalidator.domain.paths import parse_tag_header
from invalidator.domain.serving import CacheBehavior, ServingConfig, cache_identity
from invalidator.edge.cache import CachedResponse, EdgeCache
from invalidator.edge.fill import Fill, FillFailed
from invalidator.edge.freshness import Freshness, fold_headers, freshness
from invalidator.edge.keys import (
    ForwardedView,
    cookie_selection,
    origin_headers,
    select_query,
    with_edge_headers,
)
from invalidator.edge.responses import (
    ERROR,
    HIT,
    MISS,
    REFRESH_HIT,
    VIA,
    Head,
    plain_request,
    respond,
    send_cached,
    send_plain,
    via_value,
)
from invalidator.edge.routing import Routed, Routes
from invalidator.edge.streams import (
    FillBody,
    Flight,
    OriginBody,
    Viewer,
    declared_length,
    origin_head,
    response_pairs,
    vary_names,
)

log = logging.getLogger("invalidator.edge")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
FlightKey = tuple[str, str, str, str]

_MISSING = "\x00"
_CLIENT_DEFAULTS = ("accept", "accept-encoding", "user-agent")


class ServeGate(Protocol):
    """Whether the edge may serve from cache, and the log position fetches are stamped with."""

    def position(self) -> int:
        """The applied log position: every purge at or below it is recorded in the cache."""
        ...

    def may_serve_from_cache(self) -> bool:
        """True while the edge holds its lease and has caught up."""
        ...


@dataclass(slots=True)
class _Request:
    config: ServingConfig
    behavior: CacheBehavior
    method: str
    path: str  # normalized: the key's path
    query: str  # the keyed query parameters, normalized ("" when none)
    target: str  # normalized path and forwarded query, as sent to the origin
    variant: str  # the key's part from request headers and cookies
    headers: list[tuple[str, str]]  # lowercased names, as received
    folded: dict[str, str]
    client_ip: str | None
    view: ForwardedView
    # The log position and cache epoch when the request was routed with `config`: every fetch
    # for it is stamped with them, also one made later (a follower fetching anew), so a purge
    # or reset after the routing (a config change) covers what it stores with the old config.
    born_pos: int = 0
    epoch: int = 0

    @property
    def key(self) -> FlightKey:
        return (self.config.distribution_id, self.path, self.query, self.variant)

    @property
    def partial_query(self) -> bool:
        """The key holds only some of the query: the copy serves every query of the path."""
        return self.behavior.query_key.mode != ALL


class EdgeProxy:
    """ASGI app: the caching reverse proxy of one edge."""

    def __init__(
        self,
        cache: EdgeCache,
        gate: ServeGate,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 512,
        sweep_interval: float = 1.0,
        sweep_slice: int = 10_000,
        client: httpx.AsyncClient | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self._gate = gate
        self._timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout,
                                      write=read_timeout, pool=connect_timeout)  # fmt: skip
        self._follow_timeout = connect_timeout + read_timeout + 1.0
        self._limits = httpx.Limits(max_connections=max_connections,
                                    max_keepalive_connections=max_connections)  # fmt: skip
        self._client = client
        self._owns_client = client is None
        self._wall_clock = wall_clock
        self._sweep_interval = sweep_interval
        self._sweep_slice = sweep_slice
        self._sweeper: asyncio.Task[None] | None = None
        self._routes = Routes()
        self._flights: dict[FlightKey, Flight] = {}
        self._fills: set[asyncio.Task[None]] = set()

    # -- distributions ---------------------------------------------------------------------

    def set_distributions(self, configs: Iterable[ServingConfig]) -> None:
        """Serve exactly these distributions (others' cached objects are dropped); from the
        first call on, requests are answered (before it, 503)."""
        configs = list(configs)
        wanted = {c.distribution_id for c in configs}
        for distribution_id in self._routes.distribution_ids() - wanted:
            self.remove_distribution(distribution_id)
        for config in configs:
            self.upsert_distribution(config)
        self._routes.loaded = True

    def upsert_distribution(self, config: ServingConfig) -> bool:
        """Serve a new distribution or its new configuration (the cache is kept). True when
        the distribution was served with another `cache_identity`: its stored copies are keyed
        or tagged otherwise than new ones would be, and must be purged (the agent does, at the
        change's log position, so fetches under way are voided too)."""
        previous = self._routes.config(config.distribution_id)
        self._routes.upsert(config)
        return previous is not None and cache_identity(previous) != cache_identity(config)

    def remove_distribution(self, distribution_id: str) -> None:
        """Stop serving a distribution and drop its cached objects."""
        self._routes.remove(distribution_id)
        self.cache.drop_distribution(distribution_id)

    # -- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        """Open the origin connection pool and start the background sweep."""
        self._http()
        if self._sweeper is None and self._sweep_interval > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def aclose(self) -> None:
        """Stop the sweep and downloads, and close the pool (when this proxy created it)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for task in list(self._fills):
            task.cancel()
        await asyncio.gather(*self._fills, return_exceptions=True)
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                self.cache.sweep(self._sweep_slice)
            except Exception:
                log.exception("edge cache sweep failed")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, limits=self._limits, trust_env=False
            )
        return self._client

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._serve(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _hit(self, routed: Routed) -> CachedResponse | None:
        """The stored copy to answer with, while the gate allows serving from cache."""
        if not (routed.cacheable and self._gate.may_serve_from_cache()):
            return None
        return self.cache.lookup(
            routed.config.distribution_id, routed.path, routed.key_query, routed.view,
            routed.variant,
        )  # fmt: skip

    def plain_hit(
        self, method: str, raw_path: str, raw_query: bytes, headers: list[tuple[str, str]]
    ) -> CachedResponse | None:
        """The stored copy that answers this GET/HEAD as it is (no precondition or range
        asked), or None when the request needs the full path (`edge.fast_http`)."""
        folded = fold_headers(headers)
        if not plain_request(folded):
            return None
        routed = self._routes.route(method, raw_path, raw_query, folded)
        return self._hit(routed) if isinstance(routed, Routed) else None

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in scope["headers"]]
        folded = fold_headers(headers)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        method = scope["method"].upper()
        routed = self._routes.route(method, raw_path, scope["query_string"], folded)
        if not isinstance(routed, Routed):
            status, text, x_cache = routed
            await send_plain(send, status, text, x_cache)
            return
        cached = self._hit(routed)  # the hot path
        if cached is not None:
            await send_cached(method, folded, cached, send)
            return
        query, path = routed.query, routed.path
        forwarded = select_query(query, routed.behavior.query_forward) if query else ""
        client = scope.get("client")
        born_pos = self._gate.position()
        request = _Request(
            config=routed.config,
            behavior=routed.behavior,
            method=method,
            path=path,
            query=routed.key_query,
            target=f"{path}?{forwarded}" if forwarded else path,
            variant=routed.variant,
            headers=headers,
            folded=folded,
            client_ip=client[0] if client else None,
            view=routed.view,
            born_pos=born_pos,
            epoch=self.cache.epoch,
        )
        viewer = Viewer(receive)
        try:
            if routed.cacheable:
                with self.cache.fetching(born_pos):  # compaction keeps the rules it may need
                    await self._serve_miss(request, viewer, send)
            else:
                has_body = "content-length" in folded or "transfer-encoding" in folded
                body = _request_body(receive, viewer) if has_body else None
                await self._pass_through(request, viewer, send, body)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if viewer.gone and task is not None and task.uncancel() == 0:
                return  # the viewer left: nothing more to send
            raise
        finally:
            viewer.close()

    # -- GET and HEAD ----------------------------------------------------------------------

    async def _serve_miss(self, request: _Request, viewer: Viewer, send: Send) -> None:
        if not self._gate.may_serve_from_cache():
            await self._lead(request, viewer, send, None)
            return
        key = request.key
        flight = self._flights.get(key)
        if flight is not None:
            send = viewer.tracking(send)
            if not await self._follow(request, flight, viewer, send):
                await self._lead(request, viewer, send, None)
            return
        flight = self._flights[key] = Flight()
        try:
            await self._lead(request, viewer, send, flight)
        finally:
            flight.settled.set()
            if flight.fill is None and self._flights.get(key) is flight:
                del self._flights[key]

    async def _follow(self, request: _Request, flight: Flight, viewer: Viewer, send: Send) -> bool:
        """Answer from another request's fetch; False when this one must fetch on its own.

        A follower streams from the download when its length is known and nothing it asks
        differs (Vary) nor was purged since the fetch started; otherwise it waits (at most the
        origin timeouts) for the copy to be stored.
        """
        try:
            await asyncio.wait_for(flight.settled.wait(), self._follow_timeout)
        except TimeoutError:
            return False
        fill, head = flight.fill, flight.head
        if fill is not None and head is not None and self._may_join(request, flight):
            if fill.declared is not None and not fill.failed:
                try:
                    await respond(request.method, request.folded, head, FillBody(fill), send,
                                  HIT, gone=viewer.is_gone)  # fmt: skip
                except FillFailed:
                    raise ConnectionAbortedError("the origin body failed") from None
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fill.done.wait(), self._follow_timeout)
        if not self._gate.may_serve_from_cache():
            return False
        cached = self.cache.lookup(request.config.distribution_id, request.path, request.query,
                                   request.view, request.variant)  # fmt: skip
        if cached is None:
            return False
        await send_cached(request.method, request.folded, cached, send)
        return True

    def _may_join(self, request: _Request, flight: Flight) -> bool:
        if not self._gate.may_serve_from_cache():
            return False
        values = tuple(request.view.get(n, _MISSING).strip() for n in flight.vary)
        if values != flight.vary_values:
            return False
        return not self.cache.purged_since(request.config.distribution_id, request.path,
                                           request.query, flight.tags, flight.born_pos,
                                           request.partial_query)  # fmt: skip

    async def _lead(
        self, request: _Request, viewer: Viewer, send: Send, flight: Flight | None
    ) -> None:
        """Fetch from the origin (revalidating a stale copy when there is one) and answer."""
        dist = request.config.distribution_id
        born_pos, epoch = request.born_pos, request.epoch  # taken when it was routed
        stack = contextlib.ExitStack()
        stack.enter_context(self.cache.fetching(born_pos))  # held by the fill if one starts
        response: httpx.Response | None = None
        send = viewer.tracking(send)
        try:
            stale = None
            if flight is not None:  # the gate is open: a stale copy may be revalidated
                stale = self.cache.stale(dist, request.path, request.query, request.view,
                                         request.variant)  # fmt: skip
            response = await self._origin(request, send, cacheable=True, validators=stale)
            if response is None:
                return
            if stale is not None and response.status_code == 304:
                refreshed = self._refresh(request, stale, response, born_pos, epoch)
                await response.aclose()
                response = None
                if refreshed is not None:
                    _settle(flight)
                    await send_cached(request.method, request.folded, refreshed, send,
                                      REFRESH_HIT)  # fmt: skip
                    return
                response = await self._origin(request, send, cacheable=True, validators=None)
                if response is None:
                    return
            started = self._start_fill(request, response, born_pos, epoch, flight, stack)
            _settle(flight)
            if started is None:
                await self._relay(request, response, viewer, send)
                return
            fill, head = started
            response, stack = None, contextlib.ExitStack()  # both now belong to the download
            try:
                await respond(request.method, request.folded, head,
                              FillBody(fill, relay=True), send, MISS,
                              gone=viewer.is_gone)  # fmt: skip
            except FillFailed:
                raise ConnectionAbortedError("the origin body failed") from None
            finally:
                fill.leave()
        finally:
            if response is not None:
                await response.aclose()
            stack.close()

    def _start_fill(
        self,
        request: _Request,
        response: httpx.Response,
        born_pos: int,
        epoch: int,
        flight: Flight | None,
        stack: contextlib.ExitStack,
    ) -> tuple[Fill, Head] | None:
        """Start downloading a storable response for the cache (taking over `stack` and the
        response); None when it is not kept."""
        config, behavior = request.config, request.behavior
        pairs = response_pairs(response)
        fields = fold_headers(pairs)
        fresh = freshness(request.method, response.status_code, fields, behavior,
                          now=self._wall_clock(),
                          authorized=request.view.get("authorization") is not None,
                          error_ttl=config.error_caching_ttl(response.status_code))  # fmt: skip
        if not fresh.storable or response.status_code in (206, 304):
            return None
        declared = declared_length(fields)
        fill = Fill(self.cache.max_object_bytes, declared, self.cache.reserve)
        if not fill.begin():
            return None
        tags = frozenset[str]()
        if config.tag_header and config.tag_header.lower() in fields:
            tags = parse_tag_header(fields[config.tag_header.lower()])
        vary = vary_names(fields)
        head = origin_head(
            response.status_code, pairs, declared, keep_cookies=_keeps_cookies(request)
        )
        key = request.key
        if flight is not None:
            flight.fill, flight.head, flight.tags, flight.born_pos = fill, head, tags, born_pos
            flight.vary = vary
            flight.vary_values = tuple(request.view.get(n, _MISSING).strip() for n in vary)
        guard = stack.pop_all()

        def store(body: bytes) -> None:
            self.cache.release(fill.release_reservation())
            self.cache.store(
                config.distribution_id, request.path, request.query, request.view,
                status=response.status_code, headers=pairs, body=body, freshness=fresh,
                born_pos=born_pos, tags=tags, epoch=epoch, variant=request.variant,
                partial_query=request.partial_query,
            )  # fmt: skip

        async def finished(done: Fill) -> None:
            self.cache.release(done.release_reservation())
            if flight is not None and self._flights.get(key) is flight:
                del self._flights[key]
            guard.close()
            await response.aclose()

        fill.start(response.aiter_raw(), store, finished, relay=True)
        assert fill.task is not None
        self._fills.add(fill.task)
        fill.task.add_done_callback(self._fills.discard)
        return fill, head

    def _refresh(
        self,
        request: _Request,
        stale: CachedResponse,
        response: httpx.Response,
        born_pos: int,
        epoch: int,
    ) -> CachedResponse | None:
        """Apply a 304 to the stale copy (RFC 9111 §4.3.4: its headers replace the stored ones)."""
        config = request.config
        update = [(n, v) for n, v in response_pairs(response)
                  if n not in ("content-length", "content-type", "content-encoding")]  # fmt: skip
        names = {n for n, _ in update}
        merged = [(n, v) for n, v in stale.header_pairs() if n not in names] + update
        if stale.via is not None and "via" not in names:
            merged.append(("via", stale.via.decode("latin-1")))
        fields = fold_headers(merged)
        fresh: Freshness = freshness(
            request.method,
            stale.status,
            fields,
            request.behavior,
            now=self._wall_clock(),
            authorized=request.view.get("authorization") is not None,
            error_ttl=config.error_caching_ttl(stale.status),
        )
        tags = None
        if config.tag_header and config.tag_header.lower() in names:
            tags = parse_tag_header(fields[config.tag_header.lower()])
        return self.cache.refresh(
            config.distribution_id, request.path, request.query, stale, headers=merged,
            freshness=fresh, born_pos=born_pos, tags=tags, epoch=epoch,
        )  # fmt: skip

    async def _relay(
        self, request: _Request, response: httpx.Response, viewer: Viewer, send: Send
    ) -> None:
        """Stream a response that is not kept straight through (its download stops if the
        viewer leaves)."""
        pairs = response_pairs(response)
        length = declared_length(fold_headers(pairs))
        head = origin_head(
            response.status_code, pairs, length, keep_cookies=_keeps_cookies(request)
        )
        if request.method in ("GET", "HEAD"):
            await respond(request.method, request.folded, head, OriginBody(response), send,
                          MISS, gone=viewer.is_gone)  # fmt: skip
            return
        headers = [*head.headers]
        if length is not None and response.status_code not in (204, 304):
            headers.append((b"content-length", str(length).encode()))
        headers += [(b"age", str(head.age).encode()), (b"via", via_value(head.via)),
                    (b"x-cache", MISS.encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": headers})  # fmt: skip
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- other methods ---------------------------------------------------------------------

    async def _pass_through(
        self, request: _Request, viewer: Viewer, send: Send, body: AsyncIterator[bytes] | None
    ) -> None:
        response = await self._origin(request, send, cacheable=False, validators=None, body=body)
        if response is None:
            return
        try:
            await self._relay(request, response, viewer, viewer.tracking(send))
        finally:
            await response.aclose()

    # -- the origin ------------------------------------------------------------------------

    async def _origin(
        self,
        request: _Request,
        send: Send,
        *,
        cacheable: bool,
        validators: CachedResponse | None,
        body: AsyncIterator[bytes] | None = None,
    ) -> httpx.Response | None:
        """Send the origin request (a GET for the cache when `cacheable`, else the viewer's
        method and body); None when an error answer was sent instead."""
        behavior = request.behavior
        headers = origin_headers(behavior, request.headers, request.folded, cacheable=cacheable)
        headers = with_edge_headers(behavior, headers, request.folded, request.client_ip, VIA)
        if validators is not None:
            if validators.etag:
                headers.append(("if-none-match", validators.etag))
            if validators.last_modified:
                headers.append(("if-modified-since", validators.last_modified))
        client = self._http()
        try:
            outgoing = client.build_request(
                "GET" if cacheable else request.method,
                behavior.origin_url + request.target,
                headers=headers,
                content=body,
            )
        except (httpx.InvalidURL, ValueError):
            await send_plain(send, 400, "The request target is not a valid URL path.\n", ERROR)
            return None
        sent = {name for name, _ in headers}
        for name in _CLIENT_DEFAULTS:
            if name not in sent:
                del outgoing.headers[name]
        dist = request.config.distribution_id
        try:
            return await client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            log.warning("origin timeout", extra={"distribution_id": dist})
            await send_plain(send, 504, "The origin did not answer in time.\n", ERROR)
        except httpx.HTTPError as exc:
            log.warning("origin unreachable: %s", type(exc).__name__,
                        extra={"distribution_id": dist})  # fmt: skip
            await send_plain(send, 502, "The origin could not be reached.\n", ERROR)
        return None


def _keeps_cookies(request: _Request) -> bool:
    return cookie_selection(request.behavior).mode != NONE


def _settle(flight: Flight | None) -> None:
    if flight is not None:
        flight.settled.set()


async def _request_body(receive: Receive, viewer: Viewer) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            viewer.gone = True
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return


__all__ = ["HIT", "MISS", "EdgeProxy", "ServeGate"]
