"""What an edge needs to serve a distribution, derived from its DistributionConfig.

The config is the single source: origin URL (domain, protocol policy, ports, origin path,
custom headers), aliases, TTLs, query-string forwarding, enabled and the cache tag header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from invalidator.domain.errors import InvalidArgument, InvalidOrigin, NoSuchOrigin
from invalidator.domain.models import Distribution

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:]+\]$")
DEFAULT_TTL = 86400
MAX_TTL = 31536000


@dataclass(frozen=True)
class ServingConfig:
    """The edge's view of one distribution."""

    distribution_id: str
    domain_name: str
    aliases: tuple[str, ...]
    origin_url: str  # scheme://host:port/origin-path (no trailing slash)
    origin_headers: tuple[tuple[str, str], ...]
    min_ttl: int
    default_ttl: int
    max_ttl: int
    forward_query_strings: bool
    enabled: bool
    tag_header: str | None


def _items(container: Any) -> list[Any]:
    if isinstance(container, Mapping):
        items = container.get("Items")
        return list(items) if isinstance(items, list) else []
    return []


def origin_url_of(origin: Mapping[str, Any]) -> str:
    """The URL an edge fetches from for this origin; InvalidOrigin when it has no usable host."""
    host = str(origin.get("DomainName", "")).strip()
    if not host or len(host) > 253 or not _HOST.match(host):
        raise InvalidOrigin(f"The origin domain name {host[:100]!r} is not valid.")
    path = str(origin.get("OriginPath") or "").rstrip("/")
    if path and not path.startswith("/"):
        raise InvalidArgument("The parameter OriginPath must begin with '/'.")
    custom = origin.get("CustomOriginConfig")
    if isinstance(custom, Mapping):
        policy = custom.get("OriginProtocolPolicy", "http-only")
        if policy == "https-only":
            port = int(custom.get("HTTPSPort", 443))
            scheme = "https"
        else:
            port = int(custom.get("HTTPPort", 80))
            scheme = "http"
    else:  # S3 and VPC origins are reached over HTTPS
        scheme, port = "https", 443
    default_port = 443 if scheme == "https" else 80
    netloc = host if port == default_port else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


def serving_config(
    distribution_id: str, domain_name: str, config: Mapping[str, Any]
) -> ServingConfig:
    """Derive (and so validate) the edge's view; raises for an origin the edge cannot use."""
    behavior = config.get("DefaultCacheBehavior") or {}
    target = behavior.get("TargetOriginId")
    origins = {o.get("Id"): o for o in _items(config.get("Origins"))}
    if not origins:
        raise InvalidOrigin("The distribution must have at least one origin.")
    if len(origins) != len(_items(config.get("Origins"))):
        raise InvalidArgument("Origin Ids must be unique within a distribution.")
    groups = {g.get("Id"): g for g in _items(config.get("OriginGroups"))}
    for other in _items(config.get("CacheBehaviors")):
        if other.get("TargetOriginId") not in origins and other.get("TargetOriginId") not in groups:
            raise NoSuchOrigin()
    origin = origins.get(target)
    if origin is None:
        if target not in groups:
            raise NoSuchOrigin()
        # An origin group is served by its primary (first) member while it is healthy.
        members = [m.get("OriginId") for m in _items(groups[target].get("Members"))]
        origin = next((origins[m] for m in members if m in origins), None)
        if origin is None:
            raise NoSuchOrigin()
    forwarded = behavior.get("ForwardedValues") or {}
    tag_config = config.get("CacheTagConfig") or {}
    min_ttl = int(behavior.get("MinTTL", 0))
    default_ttl = int(behavior.get("DefaultTTL", DEFAULT_TTL))
    max_ttl = int(behavior.get("MaxTTL", MAX_TTL))
    if not 0 <= min_ttl <= default_ttl <= max_ttl:
        raise InvalidArgument("TTLs must satisfy 0 <= MinTTL <= DefaultTTL <= MaxTTL.")
    headers = tuple(
        (str(h.get("HeaderName")), str(h.get("HeaderValue")))
        for h in _items(origin.get("CustomHeaders"))
    )
    return ServingConfig(
        distribution_id=distribution_id,
        domain_name=domain_name,
        aliases=tuple(str(a).lower() for a in _items(config.get("Aliases"))),
        origin_url=origin_url_of(origin),
        origin_headers=headers,
        min_ttl=min_ttl,
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        forward_query_strings=bool(forwarded.get("QueryString", True)),
        enabled=bool(config.get("Enabled", True)),
        tag_header=str(tag_config["HeaderName"]) if tag_config.get("HeaderName") else None,
    )


def serving_config_of(distribution: Distribution) -> ServingConfig:
    """The edge's view of a stored distribution."""
    return serving_config(distribution.id, distribution.domain_name, distribution.config)
