"""The edge: an ASGI caching reverse proxy serving distributions by `Host`.

GET and HEAD are answered from the `EdgeCache` while the `ServeGate` allows it (lease held and
caught up), else fetched from the origin; concurrent misses for one key share one origin fetch.
Each fetch is stamped with `gate.position()` taken before the request goes out, so a purge
applied while it is in flight makes the stored copy stale. Bodies are streamed to the client as
they arrive; at most max_object_bytes are buffered for the cache. Other methods pass through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

import httpx

from invalidator.domain.paths import parse_tag_header
from invalidator.domain.serving import ServingConfig
from invalidator.edge.cache import CachedResponse, EdgeCache
from invalidator.edge.freshness import fold_headers, freshness, not_modified

log = logging.getLogger("invalidator.edge")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

VIA = "1.1 invalidator"
HIT, MISS, ERROR = "Hit from invalidator", "Miss from invalidator", "Error from invalidator"
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "proxy-connection", "te", "trailer", "trailers", "transfer-encoding",
                         "upgrade"})  # fmt: skip
_CONDITIONAL = frozenset({"if-none-match", "if-modified-since", "if-match",
                          "if-unmodified-since", "if-range", "range"})  # fmt: skip
_NOT_STORED_HEADERS = frozenset({"content-length", "age", "set-cookie", "x-cache"})
_NOT_MODIFIED_HEADERS = frozenset({"cache-control", "content-location", "date", "etag",
                                   "expires", "last-modified", "vary"})  # fmt: skip
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
    method: str
    path: str  # decoded: the cache key
    query: str  # decoded, "" when not forwarded
    target: str  # raw path and query as forwarded to the origin
    headers: list[tuple[str, str]]  # lowercased names, as received
    folded: dict[str, str]
    client_ip: str | None


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
        self._limits = httpx.Limits(max_connections=max_connections,
                                    max_keepalive_connections=max_connections)  # fmt: skip
        self._client = client
        self._owns_client = client is None
        self._wall_clock = wall_clock
        self._sweep_interval = sweep_interval
        self._sweep_slice = sweep_slice
        self._sweeper: asyncio.Task[None] | None = None
        self._configs: dict[str, ServingConfig] = {}
        self._hosts: dict[str, ServingConfig] = {}
        self._flights: dict[tuple[str, str, str], asyncio.Event] = {}

    # -- distributions ---------------------------------------------------------------------

    def set_distributions(self, configs: Iterable[ServingConfig]) -> None:
        """Serve exactly these distributions (others' cached objects are dropped)."""
        configs = list(configs)
        wanted = {c.distribution_id for c in configs}
        for distribution_id in set(self._configs) - wanted:
            self.remove_distribution(distribution_id)
        for config in configs:
            self.upsert_distribution(config)

    def upsert_distribution(self, config: ServingConfig) -> None:
        """Serve a new distribution or its new configuration (the cache is kept)."""
        self._configs[config.distribution_id] = config
        self._rebuild_hosts()

    def remove_distribution(self, distribution_id: str) -> None:
        """Stop serving a distribution and drop its cached objects."""
        self._configs.pop(distribution_id, None)
        self._rebuild_hosts()
        self.cache.drop_distribution(distribution_id)

    def _rebuild_hosts(self) -> None:
        hosts: dict[str, ServingConfig] = {}
        for config in self._configs.values():
            for name in (config.domain_name, *config.aliases):
                hosts[name.lower().rstrip(".")] = config
        self._hosts = hosts

    # -- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        """Open the origin connection pool and start the background sweep."""
        self._http()
        if self._sweeper is None and self._sweep_interval > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def aclose(self) -> None:
        """Stop the sweep and close the pool (when this proxy created it)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
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

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in scope["headers"]]
        folded = fold_headers(headers)
        host = _host_name(folded.get("host", ""))
        config = self._hosts.get(host)
        if config is None:
            await _plain(send, 404, "No distribution is configured for this host.\n")
            return
        if not config.enabled:
            await _plain(send, 403, "This distribution is disabled.\n")
            return
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_query = scope["query_string"].decode("latin-1") if config.forward_query_strings else ""
        client = scope.get("client")
        request = _Request(
            config=config,
            method=scope["method"].upper(),
            path=scope["path"],
            query=unquote(raw_query) if raw_query else "",
            target=f"{raw_path}?{raw_query}" if raw_query else raw_path,
            headers=headers,
            folded=folded,
            client_ip=client[0] if client else None,
        )
        if request.method in ("GET", "HEAD"):
            await self._serve_cacheable(request, send)
        else:
            await self._fetch(request, send, body=_request_body(receive), cacheable=False)

    async def _serve_cacheable(self, request: _Request, send: Send) -> None:
        key = (request.config.distribution_id, request.path, request.query)
        if not self._gate.may_serve_from_cache():
            await self._fetch(request, send, cacheable=True)
            return
        cached = self.cache.lookup(*key, request.folded)
        if cached is not None:
            await _send_cached(request, cached, send)
            return
        flight = self._flights.get(key)
        if flight is not None:  # a fetch for this key is under way: wait for its copy
            await flight.wait()
            cached = self.cache.lookup(*key, request.folded)
            if cached is not None and self._gate.may_serve_from_cache():
                await _send_cached(request, cached, send)
            else:
                await self._fetch(request, send, cacheable=True)
            return
        flight = self._flights[key] = asyncio.Event()
        try:
            await self._fetch(request, send, cacheable=True, release=flight.set)
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.set()

    async def _fetch(
        self,
        request: _Request,
        send: Send,
        *,
        cacheable: bool,
        body: AsyncIterator[bytes] | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        config = request.config
        client = self._http()
        born_pos = self._gate.position()  # before the request goes out
        outgoing = client.build_request(
            "GET" if cacheable else request.method,
            config.origin_url + request.target,
            headers=_origin_headers(request, cacheable),
            content=body,
        )
        for name in _CLIENT_DEFAULTS:
            if name not in request.folded:
                del outgoing.headers[name]
        with self.cache.fetching(born_pos) as epoch:
            try:
                response = await client.send(outgoing, stream=True)
            except httpx.TimeoutException:
                log.warning("origin timeout", extra={"distribution_id": config.distribution_id})
                await _plain(send, 504, "The origin did not answer in time.\n", ERROR)
                return
            except httpx.HTTPError as exc:
                log.warning("origin unreachable: %s", type(exc).__name__,
                            extra={"distribution_id": config.distribution_id})  # fmt: skip
                await _plain(send, 502, "The origin could not be reached.\n", ERROR)
                return
            try:
                await self._relay(request, response, send, cacheable, (born_pos, epoch), release)
            finally:
                await response.aclose()

    async def _relay(
        self,
        request: _Request,
        response: httpx.Response,
        send: Send,
        cacheable: bool,
        stamp: tuple[int, int],
        release: Callable[[], None] | None,
    ) -> None:
        """Stream the origin's answer to the client, keeping a copy when it may be stored.

        `release` wakes coalesced followers: once the copy is stored, or as soon as it is known
        that none will be.
        """
        release = release or _nothing
        config = request.config
        pairs = _end_to_end(response.headers.multi_items())
        fields = fold_headers(pairs)
        fresh = freshness(request.method, response.status_code, fields, config,
                          now=self._wall_clock())  # fmt: skip
        buffer: bytearray | None = bytearray() if cacheable and fresh.storable else None
        if buffer is not None and _declared_length(fields) > self.cache.max_object_bytes:
            buffer = None
        if buffer is None:
            release()
        status = response.status_code
        if (
            cacheable
            and status == 200
            and not_modified(request.folded, fields.get("etag"), fields.get("last-modified"))
        ):
            status = 304
        send_body = request.method != "HEAD" and status != 304
        out = pairs if status != 304 else _not_modified_headers(pairs)
        out = [*out, *_edge_headers(fields.get("via"), fields.get("age"), MISS)]
        await send({"type": "http.response.start", "status": status, "headers": _encode(out)})
        async for chunk in response.aiter_raw():
            if buffer is not None:
                if len(buffer) + len(chunk) > self.cache.max_object_bytes:
                    buffer = None
                    release()
                else:
                    buffer += chunk
            if send_body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            elif buffer is None:
                break  # nothing to send and nothing to keep: stop downloading
        if buffer is not None:
            stored = [(n, v) for n, v in pairs if n.lower() not in _NOT_STORED_HEADERS]
            tags = frozenset[str]()
            if config.tag_header and config.tag_header.lower() in fields:
                tags = parse_tag_header(fields[config.tag_header.lower()])
            self.cache.store(
                config.distribution_id,
                request.path,
                request.query,
                request.folded,
                status=response.status_code,
                headers=stored,
                body=bytes(buffer),
                freshness=fresh,
                born_pos=stamp[0],
                tags=tags,
                epoch=stamp[1],
                prepared=_HitHeaders.of(stored, len(buffer)),
            )
            release()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _nothing() -> None:
    pass


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0].rstrip(".")


def _end_to_end(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    pairs = list(pairs)
    listed = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in pairs if n.lower() not in _HOP_BY_HOP and n.lower() not in listed]


def _origin_headers(request: _Request, cacheable: bool) -> list[tuple[str, str]]:
    dropped = {"host", "via", "x-forwarded-for"}
    if cacheable:
        dropped |= _CONDITIONAL | {"content-length"}
    headers = [(n, v) for n, v in _end_to_end(request.headers) if n not in dropped]
    custom = {name.lower() for name, _ in request.config.origin_headers}
    headers = [(n, v) for n, v in headers if n not in custom]
    headers.extend(request.config.origin_headers)
    via = request.folded.get("via")
    headers.append(("via", f"{via}, {VIA}" if via else VIA))
    forwarded = request.folded.get("x-forwarded-for")
    if request.client_ip:
        ip = request.client_ip
        headers.append(("x-forwarded-for", f"{forwarded}, {ip}" if forwarded else ip))
    return headers


def _edge_headers(via: str | None, age: str | int | None, x_cache: str) -> list[tuple[str, str]]:
    return [
        ("age", str(age if age is not None else 0)),
        ("via", f"{via}, {VIA}" if via else VIA),
        ("x-cache", x_cache),
    ]


def _not_modified_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n, v) for n, v in pairs if n.lower() in _NOT_MODIFIED_HEADERS]


def _declared_length(fields: dict[str, str]) -> int:
    try:
        return int(fields.get("content-length", "0"))
    except ValueError:
        return 0


def _encode(pairs: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in pairs]


@dataclass(frozen=True, slots=True)
class _HitHeaders:
    """The headers of a stored copy as served on a hit, encoded once when it is stored."""

    full: tuple[tuple[bytes, bytes], ...]  # stored headers but Via/Age, then content-length
    not_modified: tuple[tuple[bytes, bytes], ...]  # the subset a 304 carries
    via: bytes  # the origin's Via (if any) followed by ours

    @staticmethod
    def of(headers: Iterable[tuple[str, str]], body_length: int) -> _HitHeaders:
        """Prepare the stored `headers` of a body of `body_length` bytes."""
        headers = list(headers)
        via = fold_headers(headers).get("via")
        base = [(n, v) for n, v in headers if n.lower() not in ("via", "age")]
        return _HitHeaders(
            full=tuple(_encode([*base, ("content-length", str(body_length))])),
            not_modified=tuple(_encode(_not_modified_headers(base))),
            via=(f"{via}, {VIA}" if via else VIA).encode("latin-1"),
        )


_HIT_BYTES = HIT.encode("latin-1")


async def _send_cached(request: _Request, cached: CachedResponse, send: Send) -> None:
    """Answer from a stored copy: 304 when the request's validators match."""
    prepared = cached.prepared
    if not isinstance(prepared, _HitHeaders):  # stored without prepared headers
        prepared = _HitHeaders.of(cached.headers, len(cached.body))
    edge = ((b"age", str(cached.age).encode()), (b"via", prepared.via), (b"x-cache", _HIT_BYTES))
    if cached.status == 200 and not_modified(request.folded, cached.etag, cached.last_modified):
        headers = [*prepared.not_modified, *edge]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": cached.status,
                "headers": [*prepared.full, *edge]})  # fmt: skip
    body = b"" if request.method == "HEAD" else cached.body
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, text: str, x_cache: str | None = None) -> None:
    body = text.encode()
    headers = [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body))),
               ("cache-control", "no-store"), ("via", VIA)]  # fmt: skip
    if x_cache:
        headers.append(("x-cache", x_cache))
    await send({"type": "http.response.start", "status": status, "headers": _encode(headers)})
    await send({"type": "http.response.body", "body": body})


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return
