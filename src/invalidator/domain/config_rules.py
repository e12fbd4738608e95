"""CloudFront's rules between the values of a DistributionConfig, checked before it is stored.

The shape codec (api/wire/shapes.py) has already checked structure, scalar types, enums and
Quantity/Items; these are the rules CloudFront applies on top, with its error codes, so a
config it would refuse is refused here too and never reaches the store or an edge:

    CallerReference (empty), Comment (> 128)      InvalidArgument
    Aliases: not a host name, duplicate           InvalidArgument
             more than 100                        TooManyDistributionCNAMEs
    DefaultRootObject                             InvalidDefaultRootObject
    Origins: more than 100                        TooManyOrigins
    OriginGroups: more than 10                    TooManyOriginGroupsPerDistribution
    CacheBehaviors: more than 75                  TooManyCacheBehaviors
    Origins: none, domain, not exactly one of
             S3/Custom/VpcOriginConfig            InvalidOrigin
             Id, ports, custom headers, path,
             connection attempts and timeout      InvalidArgument
             more than 10 custom headers          TooManyOriginCustomHeaders
             read / keep-alive timeout            InvalidOriginReadTimeout / ...KeepaliveTimeout
    OriginGroups: Id, not two members             InvalidArgument
             member not an origin                 NoSuchOrigin
    every cache behavior: target unknown          NoSuchOrigin
             CachePolicyId vs ForwardedValues     InvalidArgument
             TTL out of bounds                    InvalidArgument
             MinTTL <= DefaultTTL <= MaxTTL       InvalidTTLOrder
             ForwardedValues: more than 10 cookie
             names / headers / query string keys  TooManyCookieNamesInWhiteList /
                                                  TooManyHeadersInForwardedValues /
                                                  TooManyQueryStringParameters
             AllowedMethods / CachedMethods not
             one of CloudFront's sets; MinTTL > 0
             with every header forwarded          InvalidArgument
    Origins: Origin Shield without its Region     InvalidArgument
    CustomErrorResponses: ErrorCode               InvalidErrorCode
             ResponseCode                         InvalidResponseCode
             ResponsePagePath not from `/`        InvalidRelativePath
             one of the two without the other     InvalidArgument
    ContinuousDeploymentPolicyId set              NoSuchContinuousDeploymentPolicy

Sources: the member documentation of botocore's CloudFront model (the API reference), the
Developer Guide ("Values that you specify when you create or update a distribution",
"Quotas", "Add custom headers to origin requests", "Using custom URLs by adding alternate
domain names", "Generate custom error responses": the status codes CloudFront's console offers)
and CloudFront's error messages as users report them. The counts are
CloudFront's default quotas (adjustable there on request, fixed here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sized
from typing import Any

from invalidator.domain.errors import (
    InvalidArgument,
    InvalidDefaultRootObject,
    InvalidErrorCode,
    InvalidOrigin,
    InvalidOriginKeepaliveTimeout,
    InvalidOriginReadTimeout,
    InvalidRelativePath,
    InvalidResponseCode,
    InvalidTTLOrder,
    NoSuchContinuousDeploymentPolicy,
    NoSuchOrigin,
    ServiceError,
    TooManyCacheBehaviors,
    TooManyCookieNamesInWhiteList,
    TooManyDistributionCNAMEs,
    TooManyHeadersInForwardedValues,
    TooManyOriginCustomHeaders,
    TooManyOriginGroupsPerDistribution,
    TooManyOrigins,
    TooManyQueryStringParameters,
)

MAX_COMMENT = 128  # DistributionConfig.Comment: "cannot be longer than 128 characters"
MAX_ALIASES = 100  # Quotas: alternate domain names per distribution
MAX_CUSTOM_HEADERS = 10  # Quotas: custom headers per origin
MAX_ORIGINS = 100  # Quotas: origins per distribution
MAX_ORIGIN_GROUPS = 10  # Quotas: origin groups per distribution
MAX_CACHE_BEHAVIORS = 75  # Quotas: cache behaviors per distribution
MAX_FORWARDED_NAMES = 10  # Quotas (legacy cache settings): cookies, headers, query strings
_DISTRIBUTION_QUOTAS: tuple[tuple[str, int, str, type[ServiceError]], ...] = (
    ("Origins", MAX_ORIGINS, "origins", TooManyOrigins),
    ("OriginGroups", MAX_ORIGIN_GROUPS, "origin groups", TooManyOriginGroupsPerDistribution),
    ("CacheBehaviors", MAX_CACHE_BEHAVIORS, "cache behaviors", TooManyCacheBehaviors),
)
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 1783
MAX_TTL_SECONDS = 3_153_600_000  # 100 years, the API reference's bound for every TTL
MAX_DEFAULT_ROOT_OBJECT = 255
TIMEOUT_RANGE = (1, 120)  # Origin/Vpc/S3 read and keep-alive timeouts (model documentation)
CONNECTION_ATTEMPTS_RANGE = (1, 3)
CONNECTION_TIMEOUT_RANGE = (1, 10)
DEFAULT_READ_TIMEOUT = 30

# "Custom headers that CloudFront can't add to origin requests" (Developer Guide).
DENIED_ORIGIN_HEADERS = frozenset(
    {
        "cache-control", "connection", "content-length", "cookie", "host", "if-match",
        "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
        "max-forwards", "pragma", "proxy-authorization", "proxy-connection", "range",
        "request-range", "te", "trailer", "transfer-encoding", "upgrade", "via", "x-real-ip",
    }
)  # fmt: skip
DENIED_ORIGIN_HEADER_PREFIXES = ("x-amz-", "x-edge-")

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name (token)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but HTAB
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_ALIAS = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})+")  # a leading `*.` wildcard only
_ORIGIN_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\]")
_ROOT_OBJECT = re.compile(r"[A-Za-z0-9_\-.*$/~\"'@:+&]*")
_TTLS = ("MinTTL", "DefaultTTL", "MaxTTL")
# AllowedMethods: "There are three choices"; CachedMethods: "two choices" (API reference).
_ALLOWED_METHODS = (
    frozenset({"GET", "HEAD"}),
    frozenset({"GET", "HEAD", "OPTIONS"}),
    frozenset({"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}),
)
_CACHED_METHODS = _ALLOWED_METHODS[:2]
# The origin statuses a custom error response may replace, and the statuses it may answer
# with (Developer Guide, "Generate custom error responses"; the console's choices).
ERROR_CODES = frozenset({400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504})
RESPONSE_CODES = frozenset({"200"} | {str(code) for code in ERROR_CODES})
_ORIGIN_KINDS = ("S3OriginConfig", "CustomOriginConfig", "VpcOriginConfig")


def check_config(config: Mapping[str, Any]) -> None:
    """Raise the error CloudFront returns for the first rule `config` breaks."""
    _check_general(config)
    _check_aliases(config)
    for member, limit, what, error in _DISTRIBUTION_QUOTAS:
        _check_count(_items(config.get(member)), limit, what, error, "distribution")
    origin_ids = _check_origins(config)
    group_ids = _check_origin_groups(config, origin_ids)
    for behavior in _behaviors(config):
        _check_behavior(behavior, origin_ids | group_ids)
    for response in _items(config.get("CustomErrorResponses")):
        _check_error_response(response)
    if config.get("ContinuousDeploymentPolicyId"):
        # No continuous deployment policies exist here (the API to create them is not served).
        raise NoSuchContinuousDeploymentPolicy()


def alias_key(alias: str) -> str:
    """The form in which two aliases are the same CNAME: case and one trailing dot ignored."""
    return alias.lower().removesuffix(".")


# --- general ---------------------------------------------------------------------------------


def _check_general(config: Mapping[str, Any]) -> None:
    if not str(config.get("CallerReference") or "").strip():
        raise InvalidArgument("The parameter CallerReference must not be empty.")
    comment = str(config.get("Comment") or "")
    if len(comment) > MAX_COMMENT:
        raise InvalidArgument(
            f"The parameter Comment is too long: {len(comment)} characters, the most is "
            f"{MAX_COMMENT}."
        )
    root = str(config.get("DefaultRootObject") or "")
    if (
        root.startswith("/")
        or len(root) > MAX_DEFAULT_ROOT_OBJECT
        or not _ROOT_OBJECT.fullmatch(root)
    ):
        raise InvalidDefaultRootObject()
    tag_config = config.get("CacheTagConfig") or {}
    tag_header = str(tag_config.get("HeaderName") or "") if isinstance(tag_config, Mapping) else ""
    if tag_header and (len(tag_header) > MAX_HEADER_NAME or not _TOKEN.fullmatch(tag_header)):
        raise InvalidArgument(  # no origin response could carry it: tags would never match
            f"The parameter CacheTagConfig.HeaderName {tag_header[:100]!r} is not a valid "
            "header name."
        )


def _check_aliases(config: Mapping[str, Any]) -> None:
    aliases = [str(a) for a in _items(config.get("Aliases"))]
    _check_count(aliases, MAX_ALIASES, "CNAMEs", TooManyDistributionCNAMEs, "distribution")
    seen: set[str] = set()
    for alias in aliases:
        key = alias_key(alias)
        if not alias.isascii() or len(key) > 253 or not _ALIAS.fullmatch(key):
            raise InvalidArgument(
                f"The parameter CNAME contains one or more parameters that are not valid: "
                f"{alias[:100]!r}."
            )
        if key in seen:
            raise InvalidArgument(f"The parameter CNAME contains {alias[:100]!r} twice.")
        seen.add(key)


# --- origins ---------------------------------------------------------------------------------


def _check_origins(config: Mapping[str, Any]) -> set[str]:
    origins = _items(config.get("Origins"))
    if not origins:
        raise InvalidOrigin("The distribution must have at least one origin.")
    ids: set[str] = set()
    for origin in origins:
        origin_id = str(origin.get("Id") or "")
        if not origin_id:
            raise InvalidArgument("The parameter Origin Id must not be empty.")
        if origin_id in ids:
            raise InvalidArgument(
                f"Origin Ids must be unique within a distribution: {origin_id!r}."
            )
        ids.add(origin_id)
        _check_origin(origin)
    return ids


def _check_origin(origin: Mapping[str, Any]) -> None:
    host = str(origin.get("DomainName") or "").strip()
    if not host or len(host) > 253 or not _ORIGIN_HOST.fullmatch(host):
        raise InvalidOrigin(f"The origin domain name {host[:100]!r} is not valid.")
    kinds = [k for k in _ORIGIN_KINDS if origin.get(k) is not None]
    if not kinds:
        raise InvalidOrigin(
            f"The origin {origin.get('Id')!r} needs one of S3OriginConfig, CustomOriginConfig "
            f"or VpcOriginConfig."
        )
    if len(kinds) > 1:
        raise InvalidOrigin(
            f"The origin {origin.get('Id')!r} has {' and '.join(kinds)}; specify exactly one."
        )
    path = str(origin.get("OriginPath") or "")
    if path and not path.startswith("/"):
        raise InvalidArgument("The parameter OriginPath must begin with '/'.")
    _check_in("ConnectionAttempts", origin.get("ConnectionAttempts"), CONNECTION_ATTEMPTS_RANGE)
    _check_in("ConnectionTimeout", origin.get("ConnectionTimeout"), CONNECTION_TIMEOUT_RANGE)
    kind: Mapping[str, Any] = origin[kinds[0]]
    if kinds[0] == "CustomOriginConfig":
        for name in ("HTTPPort", "HTTPSPort"):
            port = kind.get(name)
            if not isinstance(port, int) or not (port in (80, 443) or 1024 <= port <= 65535):
                raise InvalidArgument(
                    f"The parameter {name} must be 80, 443 or 1024 to 65535, not {port}."
                )
    read = kind.get("OriginReadTimeout")
    if read is not None and not TIMEOUT_RANGE[0] <= read <= TIMEOUT_RANGE[1]:
        raise InvalidOriginReadTimeout(
            f"The read timeout specified for the origin is not valid: {read} (1 to 120)."
        )
    keepalive = kind.get("OriginKeepaliveTimeout")
    if keepalive is not None and not TIMEOUT_RANGE[0] <= keepalive <= TIMEOUT_RANGE[1]:
        raise InvalidOriginKeepaliveTimeout(
            f"The keep alive timeout specified for the origin is not valid: {keepalive} (1 to 120)."
        )
    completion = origin.get("ResponseCompletionTimeout")
    if completion is not None and completion < (read or DEFAULT_READ_TIMEOUT):
        raise InvalidArgument(
            "The parameter ResponseCompletionTimeout must be greater than or equal to "
            "OriginReadTimeout."
        )
    shield = origin.get("OriginShield")
    if (
        isinstance(shield, Mapping)
        and shield.get("Enabled")
        and not shield.get("OriginShieldRegion")
    ):
        raise InvalidArgument(
            "The parameter OriginShieldRegion is required when Origin Shield is enabled."
        )
    _check_custom_headers(_items(origin.get("CustomHeaders")))


def _check_custom_headers(headers: list[Mapping[str, Any]]) -> None:
    _check_count(
        headers, MAX_CUSTOM_HEADERS, "origin custom headers", TooManyOriginCustomHeaders, "origin"
    )
    names: set[str] = set()
    for header in headers:
        name = str(header.get("HeaderName") or "")
        value = str(header.get("HeaderValue") or "")
        lowered = name.lower()
        if len(name) > MAX_HEADER_NAME or not _TOKEN.fullmatch(name):
            raise InvalidArgument(f"The parameter HeaderName {name[:100]!r} is not a valid name.")
        if lowered in DENIED_ORIGIN_HEADERS or lowered.startswith(DENIED_ORIGIN_HEADER_PREFIXES):
            raise InvalidArgument(
                f"The parameter HeaderName {name!r} is not allowed: CloudFront can't add it "
                f"to origin requests."
            )
        if lowered in names:
            raise InvalidArgument(f"The parameter HeaderName {name!r} appears twice.")
        names.add(lowered)
        if len(value) > MAX_HEADER_VALUE or _CONTROL.search(value):
            raise InvalidArgument(
                f"The parameter HeaderValue of {name!r} is too long or contains control characters."
            )


def _check_origin_groups(config: Mapping[str, Any], origin_ids: set[str]) -> set[str]:
    ids: set[str] = set()
    for group in _items(config.get("OriginGroups")):
        group_id = str(group.get("Id") or "")
        if not group_id or group_id in ids or group_id in origin_ids:
            raise InvalidArgument(
                f"The origin group Id {group_id!r} must be non-empty and unique among the "
                f"origins and origin groups."
            )
        ids.add(group_id)
        members = [str(m.get("OriginId") or "") for m in _items(group.get("Members"))]
        if len(members) != 2 or members[0] == members[1]:
            raise InvalidArgument(
                f"The origin group {group_id!r} must have exactly two different members."
            )
        for member in members:
            if member not in origin_ids:
                raise NoSuchOrigin(
                    f"No origin exists with the specified Origin Id {member!r} (a member of "
                    f"the origin group {group_id!r})."
                )
    return ids


# --- cache behaviors -------------------------------------------------------------------------


def _behaviors(config: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    default = config.get("DefaultCacheBehavior")
    if isinstance(default, Mapping):
        yield default
    yield from _items(config.get("CacheBehaviors"))


def _check_behavior(behavior: Mapping[str, Any], targets: set[str]) -> None:
    if str(behavior.get("TargetOriginId") or "") not in targets:
        raise NoSuchOrigin()
    has_policy = bool(behavior.get("CachePolicyId"))
    has_forwarded = behavior.get("ForwardedValues") is not None
    if not has_policy and not has_forwarded:
        raise InvalidArgument("The parameter ForwardedValues is required.")
    if has_policy and has_forwarded:
        raise InvalidArgument(
            "The parameter ForwardedValues cannot be used when a cache policy is associated "
            "to the cache behavior."
        )
    present = [(name, behavior[name]) for name in _TTLS if behavior.get(name) is not None]
    for name, value in present:
        if not 0 <= value <= MAX_TTL_SECONDS:
            raise InvalidArgument(
                f"The parameter {name} must be between 0 and {MAX_TTL_SECONDS}, not {value}."
            )
    values = [value for _, value in present]
    if values != sorted(values):
        raise InvalidTTLOrder()
    forwarded = behavior.get("ForwardedValues")
    if isinstance(forwarded, Mapping):
        for names, what, error in _forwarded_names(forwarded):
            _check_count(_items(names), MAX_FORWARDED_NAMES, what, error, "cache behavior")
        if "*" in _items(forwarded.get("Headers")) and (behavior.get("MinTTL") or 0) > 0:
            raise InvalidArgument(  # "You must specify 0 for MinTTL if you ... forward all"
                "The parameter MinTTL must be 0 when all headers are forwarded (Headers: *)."
            )
    _check_methods(behavior.get("AllowedMethods"))


def _check_methods(allowed: Any) -> None:
    """AllowedMethods and CachedMethods: one of CloudFront's sets each, the cached ones among
    the allowed ones."""
    if not isinstance(allowed, Mapping):
        return  # filled with GET and HEAD (api/wire/distribution_defaults.py)
    methods = frozenset(map(str, _items(allowed)))
    if methods not in _ALLOWED_METHODS:
        raise InvalidArgument(
            f"The parameter AllowedMethods {sorted(methods)} is not valid: allow GET and HEAD; "
            "GET, HEAD and OPTIONS; or GET, HEAD, OPTIONS, PUT, POST, PATCH and DELETE."
        )
    cached = allowed.get("CachedMethods")
    if isinstance(cached, Mapping):
        names = frozenset(map(str, _items(cached)))
        if names not in _CACHED_METHODS or not names <= methods:
            raise InvalidArgument(
                f"The parameter CachedMethods {sorted(names)} is not valid: cache GET and "
                "HEAD, or GET, HEAD and OPTIONS (when OPTIONS is allowed)."
            )


# --- custom error responses ------------------------------------------------------------------


def _check_error_response(response: Mapping[str, Any]) -> None:
    code = response.get("ErrorCode")
    if code not in ERROR_CODES:
        raise InvalidErrorCode(
            f"The parameter ErrorCode {code} is not valid: custom error responses are for "
            f"{', '.join(map(str, sorted(ERROR_CODES)))}."
        )
    answer = str(response.get("ResponseCode") or "")
    page = str(response.get("ResponsePagePath") or "")
    if answer and answer not in RESPONSE_CODES:
        raise InvalidResponseCode(
            f"The parameter ResponseCode {answer[:20]!r} is not valid: use 200 or one of "
            f"{', '.join(map(str, sorted(ERROR_CODES)))}."
        )
    if page and not page.startswith("/"):
        raise InvalidRelativePath(
            f"The parameter ResponsePagePath {page[:100]!r} must begin with a slash (/)."
        )
    if bool(answer) != bool(page):
        raise InvalidArgument(
            "The parameters ResponseCode and ResponsePagePath of a custom error response "
            "must be specified together."
        )


def _forwarded_names(forwarded: Mapping[str, Any]) -> Iterator[tuple[Any, str, type[ServiceError]]]:
    """The name lists of legacy ForwardedValues that count against a quota: cookie names only
    when cookies are whitelisted, query string keys only when query strings are forwarded."""
    cookies = forwarded.get("Cookies")
    if isinstance(cookies, Mapping) and cookies.get("Forward") == "whitelist":
        yield cookies.get("WhitelistedNames"), "cookie names", TooManyCookieNamesInWhiteList
    yield forwarded.get("Headers"), "headers", TooManyHeadersInForwardedValues
    if forwarded.get("QueryString"):
        yield (
            forwarded.get("QueryStringCacheKeys"),
            "query string keys",
            TooManyQueryStringParameters,
        )


# --- helpers ---------------------------------------------------------------------------------


def _items(container: Any) -> list[Any]:
    """The `Items` of a Quantity/Items structure (mappings or scalars), or an empty list."""
    if isinstance(container, Mapping) and isinstance(container.get("Items"), list):
        return list(container["Items"])
    return []


def _check_count(items: Sized, limit: int, what: str, error: type[ServiceError], per: str) -> None:
    """A CloudFront quota: at most `limit` of `items` per `per`."""
    if len(items) > limit:
        raise error(
            f"Your request contains {len(items)} {what}; at most {limit} are allowed per {per}."
        )


def _check_in(name: str, value: Any, bounds: tuple[int, int]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise InvalidArgument(
            f"The parameter {name} must be between {bounds[0]} and {bounds[1]}, not {value}."
        )
