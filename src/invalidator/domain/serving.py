"""What an edge needs to serve a distribution, derived from its DistributionConfig.

The config is the single source: origin URL (domain, protocol policy, ports, origin path,
custom headers), aliases, TTLs, enabled, the cache tag header, and per cache behavior (the
default one and each `CacheBehaviors` path pattern) its target origin, TTLs and what it forwards
to the origin and keys the cache on (query strings, headers, cookies): legacy `ForwardedValues`
as CloudFront applies them, or a `CachePolicyId` (see `cache_policies`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from invalidator.domain.cache_policies import (
    ALL,
    NONE,
    WHITELIST,
    KeyValues,
    managed_cache_policy,
    managed_origin_request_policy,
)
from invalidator.domain.errors import InvalidArgument, InvalidOrigin, NoSuchOrigin
from invalidator.domain.models import Distribution

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:]+\]$")
DEFAULT_TTL = 86400
DEFAULT_ERROR_CACHING_TTL = 10  # seconds CloudFront keeps an error response by default
# Every method CloudFront serves (AllowedMethods' largest choice), and its default choice.
ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
READ_METHODS = ("GET", "HEAD")
MAX_TTL = 31536000


@dataclass(frozen=True)
class Selection:
    """A choice of names (query parameters, headers or cookies): none, all, or a whitelist.

    Header names are kept lowercased; cookie names may hold CloudFront's `*` and `?` wildcards.
    Plain data (`dataclasses.asdict` gives JSON), so it travels to standalone edges.
    """

    mode: str = NONE  # none | whitelist | all
    names: tuple[str, ...] = ()  # sorted, without repeats

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(sorted(set(self.names))))

    @cached_property
    def _exact(self) -> frozenset[str]:
        return frozenset(self.names)

    @cached_property
    def _wildcards(self) -> re.Pattern[str] | None:
        wild = [n for n in self.names if "*" in n or "?" in n]
        return re.compile("|".join(map(_glob, wild))) if wild else None

    def lists(self, name: str) -> bool:
        """Whether `name` is one of the names, literally (no wildcard)."""
        return name in self._exact

    def selects(self, name: str) -> bool:
        """Whether `name` is chosen (wildcards apply)."""
        if self.mode == ALL:
            return True
        if self.mode == NONE:
            return False
        wildcards = self._wildcards
        return name in self._exact or bool(wildcards and wildcards.fullmatch(name))

    def union(self, other: Selection | None) -> Selection:
        """Everything either selection chooses."""
        if other is None or other.mode == NONE or self.mode == ALL:
            return self
        if other.mode == ALL or self.mode == NONE:
            return other
        return Selection(WHITELIST, (*self.names, *other.names))


SELECT_ALL = Selection(ALL)
SELECT_NONE = Selection(NONE)


@dataclass(frozen=True)
class CacheBehavior:
    """One cache behavior: where its requests go, how long responses stay, what is keyed.

    `query_forward`/`query_key`: the query parameters sent to the origin / in the cache key.
    `header_key` (lowercased, sorted) and `cookie_key` are forwarded *and* in the key;
    `header_forward`/`cookie_forward` are forwarded without being keyed (an origin request
    policy). `viewer_headers`: legacy ForwardedValues also forward the other viewer headers
    CloudFront forwards by default; a cache policy forwards only what it names.
    `forward_all_headers` (legacy `Headers: *`): everything is forwarded and nothing cached.
    `allowed_methods`: what the edge takes from viewers (AllowedMethods); others get a 403.
    """

    path_pattern: str  # "*" for the default behavior
    origin_url: str
    origin_headers: tuple[tuple[str, str], ...]
    min_ttl: int
    default_ttl: int
    max_ttl: int
    query_forward: Selection = SELECT_ALL
    query_key: Selection = SELECT_ALL
    header_key: tuple[str, ...] = ()
    header_forward: Selection = SELECT_NONE
    forward_all_headers: bool = False
    cookie_key: Selection = SELECT_NONE
    cookie_forward: Selection = SELECT_NONE
    viewer_headers: bool = True
    compress: bool = True
    allowed_methods: tuple[str, ...] = ALL_METHODS

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if self.path_pattern == "*":
            return None
        pattern = self.path_pattern
        pattern = pattern if pattern.startswith(("/", "*")) else f"/{pattern}"
        return re.compile(_glob(pattern), re.DOTALL)

    def matches(self, path: str) -> bool:
        """Whether this behavior's PathPattern (case-sensitive, `*` and `?`) matches `path`."""
        pattern = self._pattern
        return pattern is None or pattern.fullmatch(path) is not None

    @property
    def caches(self) -> bool:
        """False when every viewer header is forwarded: CloudFront then caches nothing."""
        return not self.forward_all_headers

    @property
    def keys_on_request(self) -> bool:
        """Whether header or cookie values of the request are part of the cache key."""
        return bool(self.header_key) or self.cookie_key.mode != NONE


@dataclass(frozen=True)
class ServingConfig:
    """The edge's view of one distribution.

    The flat fields describe the default cache behavior (as tests and older callers build it);
    `serving_config` also sets `default_behavior` and the path-pattern `cache_behaviors`, in
    the order CloudFront evaluates them.
    """

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
    cache_behaviors: tuple[CacheBehavior, ...] = ()
    default_behavior: CacheBehavior | None = None
    error_ttls: tuple[tuple[int, int], ...] = ()  # (status, ErrorCachingMinTTL) set by config

    def error_caching_ttl(self, status: int) -> int:
        """How long an error response of `status` is cached at least (CloudFront's Error
        Caching Minimum TTL: a custom error response's, else 10 s)."""
        for code, ttl in self.error_ttls:
            if code == status:
                return ttl
        return DEFAULT_ERROR_CACHING_TTL

    @cached_property
    def default(self) -> CacheBehavior:
        """The default cache behavior (derived from the flat fields when not given)."""
        if self.default_behavior is not None:
            return self.default_behavior
        query = SELECT_ALL if self.forward_query_strings else SELECT_NONE
        return CacheBehavior(
            path_pattern="*", origin_url=self.origin_url, origin_headers=self.origin_headers,
            min_ttl=self.min_ttl, default_ttl=self.default_ttl, max_ttl=self.max_ttl,
            query_forward=query, query_key=query,
        )  # fmt: skip

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ServingConfig:
        """Rebuild a config from `dataclasses.asdict(config)` (as JSON carries it)."""
        default = data.get("default_behavior")
        return ServingConfig(
            distribution_id=str(data["distribution_id"]),
            domain_name=str(data["domain_name"]),
            aliases=tuple(str(a) for a in data["aliases"]),
            origin_url=str(data["origin_url"]),
            origin_headers=tuple((str(k), str(v)) for k, v in data["origin_headers"]),
            min_ttl=int(data["min_ttl"]),
            default_ttl=int(data["default_ttl"]),
            max_ttl=int(data["max_ttl"]),
            forward_query_strings=bool(data["forward_query_strings"]),
            enabled=bool(data["enabled"]),
            tag_header=None if data.get("tag_header") is None else str(data["tag_header"]),
            cache_behaviors=tuple(_behavior_from(b) for b in data.get("cache_behaviors") or ()),
            default_behavior=None if default is None else _behavior_from(default),
            error_ttls=tuple((int(c), int(t)) for c, t in data.get("error_ttls") or ()),
        )

    def behavior_for(self, path: str) -> CacheBehavior:
        """The first cache behavior whose PathPattern matches `path`, else the default."""
        for behavior in self.cache_behaviors:
            if behavior.matches(path):
                return behavior
        return self.default


def cache_identity(config: ServingConfig) -> tuple[object, ...]:
    """What decides how a distribution's stored copies are keyed and tagged: the tag header,
    and each cache behavior's path pattern and keyed query, headers, cookies and encoding.
    Copies stored under one identity are not matched correctly by the invalidations of
    another (a copy keyed on the whole query, served once the query is no longer keyed, is not
    taken away by invalidating the URL a viewer now uses; tags parsed from the old header are
    not the new header's), so an edge drops them when it changes."""
    behaviors = (*config.cache_behaviors, config.default)
    return (
        config.tag_header.lower() if config.tag_header else None,
        tuple(
            (b.path_pattern, b.query_key, b.header_key, b.cookie_key, b.forward_all_headers,
             b.compress)
            for b in behaviors
        ),
    )  # fmt: skip


def _selection_from(data: Mapping[str, Any]) -> Selection:
    return Selection(str(data["mode"]), tuple(str(n) for n in data["names"]))


def _behavior_from(data: Mapping[str, Any]) -> CacheBehavior:
    return CacheBehavior(
        path_pattern=str(data["path_pattern"]),
        origin_url=str(data["origin_url"]),
        origin_headers=tuple((str(k), str(v)) for k, v in data["origin_headers"]),
        min_ttl=int(data["min_ttl"]),
        default_ttl=int(data["default_ttl"]),
        max_ttl=int(data["max_ttl"]),
        query_forward=_selection_from(data["query_forward"]),
        query_key=_selection_from(data["query_key"]),
        header_key=tuple(str(h) for h in data["header_key"]),
        header_forward=_selection_from(data["header_forward"]),
        forward_all_headers=bool(data["forward_all_headers"]),
        cookie_key=_selection_from(data["cookie_key"]),
        cookie_forward=_selection_from(data["cookie_forward"]),
        viewer_headers=bool(data["viewer_headers"]),
        compress=bool(data["compress"]),
        allowed_methods=tuple(str(m) for m in data.get("allowed_methods", ALL_METHODS)),
    )


def _glob(pattern: str) -> str:
    """A regular expression for a CloudFront wildcard pattern (`*` any run, `?` one char)."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


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
    default = _behavior("*", behavior, origin, (min_ttl, default_ttl, max_ttl))
    paths = tuple(
        _behavior(str(other.get("PathPattern", "")), other, _target_origin(other, origins, groups))
        for other in _items(config.get("CacheBehaviors"))
    )
    return ServingConfig(
        distribution_id=distribution_id,
        domain_name=domain_name,
        aliases=tuple(str(a).lower() for a in _items(config.get("Aliases"))),
        origin_url=origin_url_of(origin),
        origin_headers=headers,
        min_ttl=default.min_ttl,
        default_ttl=default.default_ttl,
        max_ttl=default.max_ttl,
        forward_query_strings=default.query_forward.mode != NONE,
        enabled=bool(config.get("Enabled", True)),
        tag_header=str(tag_config["HeaderName"]) if tag_config.get("HeaderName") else None,
        cache_behaviors=paths,
        default_behavior=default,
        error_ttls=tuple(
            (int(r["ErrorCode"]), int(r["ErrorCachingMinTTL"]))
            for r in _items(config.get("CustomErrorResponses"))
            if r.get("ErrorCode") is not None and r.get("ErrorCachingMinTTL") is not None
        ),
    )


def _target_origin(
    behavior: Mapping[str, Any], origins: Mapping[Any, Any], groups: Mapping[Any, Any]
) -> Mapping[str, Any]:
    """The origin a behavior fetches from: its origin, or its origin group's first member."""
    target = behavior.get("TargetOriginId")
    if target in origins:
        return dict(origins[target])
    members = [m.get("OriginId") for m in _items((groups.get(target) or {}).get("Members"))]
    origin = next((origins[m] for m in members if m in origins), None)
    if origin is None:
        raise NoSuchOrigin()
    return dict(origin)


def _behavior(
    pattern: str,
    raw: Mapping[str, Any],
    origin: Mapping[str, Any],
    legacy_ttls: tuple[int, int, int] | None = None,
) -> CacheBehavior:
    """One behavior: a managed cache policy (and origin request policy), or ForwardedValues."""
    url = origin_url_of(origin)
    allowed = tuple(sorted({str(m).upper() for m in _items(raw.get("AllowedMethods"))}))
    allowed = allowed or READ_METHODS  # CloudFront's default, as the API fills it in
    custom = tuple(
        (str(h.get("HeaderName")), str(h.get("HeaderValue")))
        for h in _items(origin.get("CustomHeaders"))
    )
    if raw.get("CachePolicyId"):
        policy = managed_cache_policy(str(raw["CachePolicyId"]))
        extra = managed_origin_request_policy(raw.get("OriginRequestPolicyId")) or KeyValues()
        key = policy.key
        query_key = Selection(key.query_strings, key.query_names)
        cookie_key = Selection(key.cookies, key.cookie_names)
        return CacheBehavior(
            path_pattern=pattern, origin_url=url, origin_headers=custom,
            min_ttl=policy.min_ttl, default_ttl=policy.default_ttl, max_ttl=policy.max_ttl,
            query_forward=query_key.union(Selection(extra.query_strings, extra.query_names)),
            query_key=query_key,
            header_key=tuple(sorted(key.header_names)),
            header_forward=Selection(extra.headers, extra.header_names),
            cookie_key=cookie_key,
            cookie_forward=Selection(extra.cookies, extra.cookie_names),
            viewer_headers=False,
            compress=key.compressed,
            allowed_methods=allowed,
        )  # fmt: skip
    min_ttl, default_ttl, max_ttl = legacy_ttls or (
        int(raw.get("MinTTL", 0)), int(raw.get("DefaultTTL", DEFAULT_TTL)),
        int(raw.get("MaxTTL", MAX_TTL)),
    )  # fmt: skip
    if not 0 <= min_ttl <= default_ttl <= max_ttl:
        raise InvalidArgument("TTLs must satisfy 0 <= MinTTL <= DefaultTTL <= MaxTTL.")
    forwarded = raw.get("ForwardedValues") or {}
    query = SELECT_ALL if bool(forwarded.get("QueryString", True)) else SELECT_NONE
    query_names = tuple(str(n) for n in _items(forwarded.get("QueryStringCacheKeys")))
    headers = {str(h).lower() for h in _items(forwarded.get("Headers"))}
    cookies = forwarded.get("Cookies") or {}
    mode = str(cookies.get("Forward", NONE))
    cookie_names = tuple(str(n) for n in _items(cookies.get("WhitelistedNames")))
    return CacheBehavior(
        path_pattern=pattern, origin_url=url, origin_headers=custom,
        min_ttl=min_ttl, default_ttl=default_ttl, max_ttl=max_ttl,
        query_forward=query,
        query_key=Selection(WHITELIST, query_names) if query.mode == ALL and query_names else query,
        header_key=() if "*" in headers else tuple(sorted(headers)),
        forward_all_headers="*" in headers,
        cookie_key=Selection(mode if mode in (ALL, WHITELIST) else NONE, cookie_names),
        allowed_methods=allowed,
    )  # fmt: skip


def serving_config_of(distribution: Distribution) -> ServingConfig:
    """The edge's view of a stored distribution."""
    return serving_config(distribution.id, distribution.domain_name, distribution.config)
