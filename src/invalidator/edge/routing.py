"""Which distribution and cache behavior a viewer request is for, and what keys it.

`Routes` is the edge's table of served distributions by host name (domain name and aliases);
`route` takes one request to a `Routed` (distribution, behavior, normalized path and query,
the keyed parts) or to the error the edge answers with. Shared by the ASGI path and the
protocol's fast path for hits, so both decide alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from invalidator.domain.serving import CacheBehavior, ServingConfig
from invalidator.edge.keys import (
    ForwardedView,
    normalize,
    normalize_path,
    select_query,
    variant_key,
)
from invalidator.edge.responses import ERROR

_HOST_MEMO = 4096
NOT_READY = "This edge has not reached its control plane yet; retry shortly.\n"
# CloudFront's answer to a method the cache behavior's AllowedMethods leaves out.
METHOD_NOT_ALLOWED = (
    "This distribution is not configured to allow the HTTP request method that was used for "
    "this request.\n"
)


@dataclass(slots=True)
class Routed:
    """A request matched to its distribution and cache behavior."""

    config: ServingConfig
    behavior: CacheBehavior
    method: str
    path: str  # normalized: the key's path
    query: str  # the whole query, normalized
    key_query: str  # the keyed query parameters
    view: ForwardedView
    cacheable: bool
    variant: str


RouteError = tuple[int, str, str | None]  # status, text, X-Cache


class Routes:
    """The distributions an edge serves, by host name."""

    def __init__(self) -> None:
        self.loaded = False  # the distributions were read from the control plane once
        self._configs: dict[str, ServingConfig] = {}
        self._hosts: dict[str, ServingConfig] = {}
        self._wildcards: dict[str, ServingConfig] = {}  # "example.com" for `*.example.com`
        self._by_host_header: dict[str, ServingConfig | None] = {}  # Host values seen (bounded)

    def distribution_ids(self) -> set[str]:
        """The distributions served."""
        return set(self._configs)

    def config(self, distribution_id: str) -> ServingConfig | None:
        """The configuration a distribution is served with, if it is."""
        return self._configs.get(distribution_id)

    def upsert(self, config: ServingConfig) -> None:
        """Serve a distribution (or its new configuration)."""
        self._configs[config.distribution_id] = config
        self._rebuild()

    def remove(self, distribution_id: str) -> None:
        """Stop serving a distribution."""
        self._configs.pop(distribution_id, None)
        self._rebuild()

    def _rebuild(self) -> None:
        hosts: dict[str, ServingConfig] = {}
        wildcards: dict[str, ServingConfig] = {}
        for config in self._configs.values():
            for name in (config.domain_name, *config.aliases):
                key = name.lower().rstrip(".")
                if key.startswith("*."):
                    wildcards[key[2:]] = config
                else:
                    hosts[key] = config
        self._hosts, self._wildcards = hosts, wildcards
        self._by_host_header = {}

    def route(
        self, method: str, raw_path: str, raw_query: bytes, folded: dict[str, str]
    ) -> Routed | RouteError:
        """Distribution, behavior, key and forwarding of a request; or the error to answer
        (503 until the distributions were first read: a 404 would say the host is unknown,
        and to a load balancer the edge would look ready)."""
        if not self.loaded:
            return 503, NOT_READY, ERROR
        config = self._config_for_host(folded.get("host", ""))
        if config is None:
            return 404, "No distribution is configured for this host.\n", None
        if not config.enabled:
            return 403, "This distribution is disabled.\n", None
        if not raw_path.startswith("/"):
            return 400, "The request target must be a path.\n", ERROR
        path = normalize_path(raw_path)
        behavior = config.behavior_for(path)
        if method not in behavior.allowed_methods:
            return 403, METHOD_NOT_ALLOWED, ERROR
        query = normalize(raw_query.decode("latin-1")) if raw_query else ""
        cacheable = method in ("GET", "HEAD") and behavior.caches
        return Routed(
            config=config,
            behavior=behavior,
            method=method,
            path=path,
            query=query,
            key_query=select_query(query, behavior.query_key) if query else "",
            view=ForwardedView(behavior, folded),
            cacheable=cacheable,
            variant=variant_key(behavior, folded) if cacheable else "",
        )

    def _wildcard_for(self, name: str) -> ServingConfig | None:
        """The distribution whose wildcard alias (`*.example.com`) covers `name`, at any depth
        below it (`www.example.com`, `a.b.example.com`), the most specific wildcard first; an
        exact name always wins (it was looked up before), and the apex is not covered."""
        for parent in _labels_above(name):
            found = self._wildcards.get(parent)
            if found is not None:
                return found
        return None

    def _config_for_host(self, host: str) -> ServingConfig | None:
        """The distribution a `Host` header names; remembered per exact header value (the
        same few values arrive on every request), forgotten when the distributions change."""
        try:
            return self._by_host_header[host]
        except KeyError:
            pass
        name = host_name(host)
        if len(name) > _MAX_HOST:
            return None  # not remembered either: a Host of 64 KiB would stay in the memo
        config = self._hosts.get(name)
        if config is None and self._wildcards:
            config = self._wildcard_for(name)
        if len(self._by_host_header) >= _HOST_MEMO:
            self._by_host_header.clear()
        self._by_host_header[host] = config
        return config


_MAX_HOST = 253  # a DNS name's most characters: longer Hosts name nothing served


def _labels_above(name: str) -> Iterator[str]:
    """The parent domains of `name`, nearest first: `a.b.example.com` → `b.example.com`,
    `example.com`, `com` (slices of `name`: linear in its length)."""
    dot = name.find(".")
    while dot >= 0:
        yield name[dot + 1 :]
        dot = name.find(".", dot + 1)


def host_name(host: str) -> str:
    """A `Host` header's name: lowercased, without port or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0].rstrip(".")
