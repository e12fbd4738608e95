"""CloudFront's rules between the values of a DistributionConfig (`check_config`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from invalidator.api.wire.distribution_defaults import fill_distribution_config_defaults
from invalidator.domain.config_rules import alias_key, check_config
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
from tests.support.distribution_configs import API_AND_ASSETS, CONFIGS, CUSTOM_ORIGIN, MINIMAL

Change = Callable[[dict[str, Any]], None]


def _changed(base: dict[str, Any], change: Change) -> dict[str, Any]:
    config: dict[str, Any] = fill_distribution_config_defaults(copy.deepcopy(base))
    change(config)
    return config


def _origin(config: dict[str, Any], index: int = 0) -> dict[str, Any]:
    origin: dict[str, Any] = config["Origins"]["Items"][index]
    return origin


def _custom(config: dict[str, Any], **values: Any) -> None:
    _origin(config)["CustomOriginConfig"].update(values)


def _vpc(config: dict[str, Any], **values: Any) -> None:
    origin = _origin(config)
    del origin["CustomOriginConfig"]
    origin["VpcOriginConfig"] = values


def _headers(config: dict[str, Any], *pairs: tuple[str, str]) -> None:
    items = [{"HeaderName": n, "HeaderValue": v} for n, v in pairs]
    _origin(config)["CustomHeaders"] = {"Quantity": len(items), "Items": items}


def _aliases(config: dict[str, Any], *names: str) -> None:
    config["Aliases"] = {"Quantity": len(names), "Items": list(names)}


def _behavior(config: dict[str, Any], index: int) -> dict[str, Any]:
    """Behavior `index` of API_AND_ASSETS' CacheBehaviors; -1 is the default behavior."""
    if index < 0:
        behavior: dict[str, Any] = config["DefaultCacheBehavior"]
    else:
        behavior = config["CacheBehaviors"]["Items"][index]
    return behavior


def _methods(config: dict[str, Any], allowed: list[str], cached: list[str]) -> None:
    """The default behavior allows `allowed` and caches `cached`."""
    config["DefaultCacheBehavior"]["AllowedMethods"] = {
        "Quantity": len(allowed), "Items": allowed,
        "CachedMethods": {"Quantity": len(cached), "Items": cached},
    }  # fmt: skip


def _error_page(config: dict[str, Any], **response: Any) -> None:
    """One custom error response (API_AND_ASSETS has one: it is replaced)."""
    config["CustomErrorResponses"] = {"Quantity": 1, "Items": [response]}


def _all_headers(config: dict[str, Any], min_ttl: int) -> None:
    """The first cache behavior of API_AND_ASSETS forwards every header."""
    behavior = _behavior(config, 0)
    behavior["ForwardedValues"]["Headers"] = {"Quantity": 1, "Items": ["*"]}
    behavior.update(MinTTL=min_ttl, DefaultTTL=max(min_ttl, 0), MaxTTL=max(min_ttl, 0))


def _more(config: dict[str, Any], key: str, count: int, field: str, value: str) -> None:
    """Grow config[key] to `count` Items by copies of its first, each with its own `field`."""
    items = config[key]["Items"]
    while len(items) < count:
        extra = copy.deepcopy(items[0])
        extra[field] = value.format(len(items))
        items.append(extra)
    config[key]["Quantity"] = len(items)


def _forwarded(config: dict[str, Any], what: str, count: int) -> None:
    """`count` cookie names, headers or query string keys forwarded by path behavior 0."""
    forwarded = _behavior(config, 0)["ForwardedValues"]
    names = {"Quantity": count, "Items": [f"{what}{n}" for n in range(count)]}
    if what == "cookie":
        forwarded["Cookies"] = {"Forward": "whitelist", "WhitelistedNames": names}
    elif what == "header":
        forwarded["Headers"] = names
    else:
        forwarded.update(QueryString=True, QueryStringCacheKeys=names)


@pytest.mark.parametrize("name", CONFIGS)
def test_realistic_configs_pass(name: str) -> None:
    """Every config of the shared table (what boto3 users write) is accepted, filled or not."""
    check_config(CONFIGS[name])
    check_config(fill_distribution_config_defaults(CONFIGS[name]))


REFUSED: list[tuple[str, dict[str, Any], Change, type[ServiceError], str]] = [
    # general
    ("empty CallerReference", MINIMAL, lambda c: c.update(CallerReference=""),
     InvalidArgument, "CallerReference"),
    ("blank CallerReference", MINIMAL, lambda c: c.update(CallerReference="  "),
     InvalidArgument, "CallerReference"),
    ("Comment of 129", MINIMAL, lambda c: c.update(Comment="c" * 129), InvalidArgument, "Comment"),
    ("root object with a slash", MINIMAL, lambda c: c.update(DefaultRootObject="/index.html"),
     InvalidDefaultRootObject, "default root object"),
    ("root object of 256", MINIMAL, lambda c: c.update(DefaultRootObject="i" * 256),
     InvalidDefaultRootObject, "default root object"),
    ("root object with a space", MINIMAL, lambda c: c.update(DefaultRootObject="a b.html"),
     InvalidDefaultRootObject, "default root object"),
    ("continuous deployment policy", MINIMAL,
     lambda c: c.update(ContinuousDeploymentPolicyId="a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"),
     NoSuchContinuousDeploymentPolicy, "continuous deployment"),
    # aliases
    ("alias with a space", MINIMAL, lambda c: _aliases(c, "www.example1.com "),
     InvalidArgument, "CNAME"),
    ("alias of one label", MINIMAL, lambda c: _aliases(c, "localhost"), InvalidArgument, "CNAME"),
    ("alias with a Kelvin sign", MINIMAL, lambda c: _aliases(c, "\u212a.example.com"),
     InvalidArgument, "CNAME"),  # lowercases to "k": a name SQLite's lower() would not match
    ("alias with a scheme", MINIMAL, lambda c: _aliases(c, "https://a.example.com"),
     InvalidArgument, "CNAME"),
    ("wildcard inside", MINIMAL, lambda c: _aliases(c, "a.*.example.com"),
     InvalidArgument, "CNAME"),
    ("partial wildcard", MINIMAL, lambda c: _aliases(c, "*domain.example.com"),
     InvalidArgument, "CNAME"),
    ("wildcard on a TLD", MINIMAL, lambda c: _aliases(c, "*.com"), InvalidArgument, "CNAME"),
    ("label with a leading hyphen", MINIMAL, lambda c: _aliases(c, "-a.example.com"),
     InvalidArgument, "CNAME"),
    ("label of 64", MINIMAL, lambda c: _aliases(c, "a" * 64 + ".example.com"),
     InvalidArgument, "CNAME"),
    ("two trailing dots", MINIMAL, lambda c: _aliases(c, "a.example.com.."),
     InvalidArgument, "CNAME"),
    ("duplicate alias", MINIMAL, lambda c: _aliases(c, "a.example.com", "b.example.com",
                                                    "A.Example.com."),
     InvalidArgument, "twice"),
    ("101 aliases", MINIMAL, lambda c: _aliases(c, *(f"h{n}.example.com" for n in range(101))),
     TooManyDistributionCNAMEs, "101"),
    # origins
    ("no origin type", MINIMAL, lambda c: _origin(c).pop("CustomOriginConfig"),
     InvalidOrigin, "needs one of"),
    ("two origin types", MINIMAL,
     lambda c: _origin(c).update(S3OriginConfig={"OriginAccessIdentity": ""}),
     InvalidOrigin, "exactly one"),
    ("three origin types", MINIMAL,
     lambda c: _origin(c).update(S3OriginConfig={"OriginAccessIdentity": ""},
                                 VpcOriginConfig={"VpcOriginId": "vo_1"}),
     InvalidOrigin, "exactly one"),
    ("second origin's domain", CUSTOM_ORIGIN,
     lambda c: _origin(c, 1).update(DomainName="bad domain"), InvalidOrigin, "domain"),
    ("no origins", MINIMAL, lambda c: c.update(Origins={"Quantity": 0}), InvalidOrigin, "origin"),
    ("empty origin Id", MINIMAL, lambda c: _origin(c).update(Id=""), InvalidArgument, "Id"),
    ("duplicate origin Id", CUSTOM_ORIGIN, lambda c: _origin(c, 1).update(Id="app"),
     InvalidArgument, "unique"),
    ("HTTPPort 0", MINIMAL, lambda c: _custom(c, HTTPPort=0), InvalidArgument, "HTTPPort"),
    ("HTTPPort 22", MINIMAL, lambda c: _custom(c, HTTPPort=22), InvalidArgument, "HTTPPort"),
    ("HTTPPort 1023", MINIMAL, lambda c: _custom(c, HTTPPort=1023), InvalidArgument, "HTTPPort"),
    ("HTTPSPort 65536", MINIMAL, lambda c: _custom(c, HTTPSPort=65536),
     InvalidArgument, "HTTPSPort"),
    ("HTTPSPort -443", MINIMAL, lambda c: _custom(c, HTTPSPort=-443),
     InvalidArgument, "HTTPSPort"),
    ("read timeout 0", MINIMAL, lambda c: _custom(c, OriginReadTimeout=0),
     InvalidOriginReadTimeout, "read timeout"),
    ("read timeout 121", MINIMAL, lambda c: _custom(c, OriginReadTimeout=121),
     InvalidOriginReadTimeout, "read timeout"),
    ("S3 read timeout 500", API_AND_ASSETS,
     lambda c: _origin(c, 1)["S3OriginConfig"].update(OriginReadTimeout=500),
     InvalidOriginReadTimeout, "read timeout"),
    ("keep-alive 0", MINIMAL, lambda c: _custom(c, OriginKeepaliveTimeout=0),
     InvalidOriginKeepaliveTimeout, "keep alive"),
    ("keep-alive 121", MINIMAL, lambda c: _custom(c, OriginKeepaliveTimeout=121),
     InvalidOriginKeepaliveTimeout, "keep alive"),
    ("VPC keep-alive 0", MINIMAL, lambda c: _vpc(c, VpcOriginId="vo_1", OriginKeepaliveTimeout=0),
     InvalidOriginKeepaliveTimeout, "keep alive"),
    ("completion below read timeout", MINIMAL,
     lambda c: _origin(c).update(ResponseCompletionTimeout=10),
     InvalidArgument, "ResponseCompletionTimeout"),
    ("4 connection attempts", MINIMAL, lambda c: _origin(c).update(ConnectionAttempts=4),
     InvalidArgument, "ConnectionAttempts"),
    ("connection timeout 11", MINIMAL, lambda c: _origin(c).update(ConnectionTimeout=11),
     InvalidArgument, "ConnectionTimeout"),
    ("origin path without slash", MINIMAL, lambda c: _origin(c).update(OriginPath="v2"),
     InvalidArgument, "OriginPath"),
    # custom headers
    ("header name with a space", MINIMAL, lambda c: _headers(c, ("X Secret", "1")),
     InvalidArgument, "not a valid name"),
    ("header name with a colon", MINIMAL, lambda c: _headers(c, ("X-Secret:", "1")),
     InvalidArgument, "not a valid name"),
    ("empty header name", MINIMAL, lambda c: _headers(c, ("", "1")),
     InvalidArgument, "not a valid name"),
    ("header name of 257", MINIMAL, lambda c: _headers(c, ("X" * 257, "1")),
     InvalidArgument, "not a valid name"),
    ("value with CR LF", MINIMAL, lambda c: _headers(c, ("X-Secret", "a\r\nX-Injected: 1")),
     InvalidArgument, "control"),
    ("value with LF", MINIMAL, lambda c: _headers(c, ("X-Secret", "a\nb")),
     InvalidArgument, "control"),
    ("value with NUL", MINIMAL, lambda c: _headers(c, ("X-Secret", "a\x00b")),
     InvalidArgument, "control"),
    ("value with DEL", MINIMAL, lambda c: _headers(c, ("X-Secret", "a\x7fb")),
     InvalidArgument, "control"),
    ("value of 1784", MINIMAL, lambda c: _headers(c, ("X-Secret", "v" * 1784)),
     InvalidArgument, "too long"),
    ("Host header", MINIMAL, lambda c: _headers(c, ("Host", "evil.example")),
     InvalidArgument, "not allowed"),
    ("content-length header", MINIMAL, lambda c: _headers(c, ("content-length", "0")),
     InvalidArgument, "not allowed"),
    ("Transfer-Encoding header", MINIMAL, lambda c: _headers(c, ("Transfer-Encoding", "chunked")),
     InvalidArgument, "not allowed"),
    ("Connection header", MINIMAL, lambda c: _headers(c, ("Connection", "close")),
     InvalidArgument, "not allowed"),
    ("X-Amz- header", MINIMAL, lambda c: _headers(c, ("X-Amz-Date", "1")),
     InvalidArgument, "not allowed"),
    ("x-edge- header", MINIMAL, lambda c: _headers(c, ("x-edge-location", "1")),
     InvalidArgument, "not allowed"),
    ("X-Real-Ip header", MINIMAL, lambda c: _headers(c, ("X-Real-IP", "1.2.3.4")),
     InvalidArgument, "not allowed"),
    ("header twice", MINIMAL, lambda c: _headers(c, ("X-A", "1"), ("x-a", "2")),
     InvalidArgument, "twice"),
    ("11 headers", MINIMAL, lambda c: _headers(c, *((f"X-H{n}", "v") for n in range(11))),
     TooManyOriginCustomHeaders, "11"),
    # origin groups
    ("group member unknown", CUSTOM_ORIGIN,
     lambda c: c["OriginGroups"]["Items"][0]["Members"]["Items"][1].update(OriginId="gone"),
     NoSuchOrigin, "gone"),
    ("group of one", CUSTOM_ORIGIN,
     lambda c: c["OriginGroups"]["Items"][0].update(
         Members={"Quantity": 1, "Items": [{"OriginId": "app"}]}),
     InvalidArgument, "two different members"),
    ("group of the same origin twice", CUSTOM_ORIGIN,
     lambda c: c["OriginGroups"]["Items"][0]["Members"]["Items"][1].update(OriginId="app"),
     InvalidArgument, "two different members"),
    ("group Id of an origin", CUSTOM_ORIGIN,
     lambda c: c["OriginGroups"]["Items"][0].update(Id="app"), InvalidArgument, "unique"),
    # cache behaviors
    ("default targets nothing", MINIMAL,
     lambda c: c["DefaultCacheBehavior"].update(TargetOriginId="x"), NoSuchOrigin, "Origin Id"),
    ("behavior targets nothing", API_AND_ASSETS,
     lambda c: _behavior(c, 2).update(TargetOriginId="x"), NoSuchOrigin, "Origin Id"),
    ("neither policy nor ForwardedValues", API_AND_ASSETS,
     lambda c: _behavior(c, 2).pop("CachePolicyId"), InvalidArgument,
     "The parameter ForwardedValues is required."),
    ("empty policy and no ForwardedValues", MINIMAL,
     lambda c: c["DefaultCacheBehavior"].update(CachePolicyId=""), InvalidArgument,
     "The parameter ForwardedValues is required."),
    ("both policy and ForwardedValues", API_AND_ASSETS,
     lambda c: _behavior(c, 0).update(CachePolicyId="658327ea-f89d-4fab-a63d-7e88639e58f6"),
     InvalidArgument, "cannot be used when a cache policy"),
    ("TTL order in the default", API_AND_ASSETS,
     lambda c: _behavior(c, -1).update(MinTTL=61), InvalidTTLOrder, "MinTTL less than or equal"),
    ("TTL order in a path behavior", API_AND_ASSETS,
     lambda c: _behavior(c, 0).update(DefaultTTL=31536001), InvalidTTLOrder, "DefaultTTL"),
    ("TTL order in the last behavior", API_AND_ASSETS,
     lambda c: _behavior(c, 1).update(MinTTL=1), InvalidTTLOrder, "MaxTTL"),
    ("MaxTTL past 100 years", API_AND_ASSETS,
     lambda c: _behavior(c, 0).update(MaxTTL=3_153_600_001), InvalidArgument, "MaxTTL"),
    ("negative MinTTL", API_AND_ASSETS, lambda c: _behavior(c, 1).update(MinTTL=-1),
     InvalidArgument, "MinTTL"),
    # quotas
    ("101 origins", MINIMAL, lambda c: _more(c, "Origins", 101, "Id", "o{}"),
     TooManyOrigins, "101 origins"),
    ("11 origin groups", CUSTOM_ORIGIN, lambda c: _more(c, "OriginGroups", 11, "Id", "g{}"),
     TooManyOriginGroupsPerDistribution, "11 origin groups"),
    ("76 cache behaviors", API_AND_ASSETS,
     lambda c: _more(c, "CacheBehaviors", 76, "PathPattern", "/p{}/*"),
     TooManyCacheBehaviors, "76 cache behaviors"),
    ("11 cookie names", API_AND_ASSETS, lambda c: _forwarded(c, "cookie", 11),
     TooManyCookieNamesInWhiteList, "11 cookie names"),
    ("11 forwarded headers", API_AND_ASSETS, lambda c: _forwarded(c, "header", 11),
     TooManyHeadersInForwardedValues, "11 headers"),
    ("11 query string keys", API_AND_ASSETS, lambda c: _forwarded(c, "query", 11),
     TooManyQueryStringParameters, "11 query string keys"),
    # methods
    ("GET alone", MINIMAL, lambda c: _methods(c, ["GET"], ["GET"]),
     InvalidArgument, "AllowedMethods"),
    ("POST without the others", MINIMAL, lambda c: _methods(c, ["GET", "HEAD", "POST"],
     ["GET", "HEAD"]), InvalidArgument, "AllowedMethods"),
    ("PUT cached", MINIMAL, lambda c: _methods(c, ["GET", "HEAD", "OPTIONS", "PUT", "POST",
     "PATCH", "DELETE"], ["GET", "HEAD", "PUT"]), InvalidArgument, "CachedMethods"),
    ("OPTIONS cached, not allowed", MINIMAL,
     lambda c: _methods(c, ["GET", "HEAD"], ["GET", "HEAD", "OPTIONS"]),
     InvalidArgument, "CachedMethods"),
    ("MinTTL with every header forwarded", API_AND_ASSETS, lambda c: _all_headers(c, 5),
     InvalidArgument, "MinTTL must be 0"),
    # origin shield
    ("Origin Shield without a Region", MINIMAL,
     lambda c: _origin(c).update(OriginShield={"Enabled": True}),
     InvalidArgument, "OriginShieldRegion"),
    # custom error responses
    ("error page for 200", API_AND_ASSETS, lambda c: _error_page(c, ErrorCode=200),
     InvalidErrorCode, "ErrorCode 200"),
    ("error page for 410", API_AND_ASSETS, lambda c: _error_page(c, ErrorCode=410),
     InvalidErrorCode, "ErrorCode 410"),
    ("answering 999", API_AND_ASSETS,
     lambda c: _error_page(c, ErrorCode=404, ResponseCode="999", ResponsePagePath="/e.html"),
     InvalidResponseCode, "'999'"),
    ("answering text", API_AND_ASSETS,
     lambda c: _error_page(c, ErrorCode=404, ResponseCode="abc", ResponsePagePath="/e.html"),
     InvalidResponseCode, "'abc'"),
    ("page not from /", API_AND_ASSETS,
     lambda c: _error_page(c, ErrorCode=404, ResponseCode="200", ResponsePagePath="e.html"),
     InvalidRelativePath, "'e.html'"),
    ("response code without a page", API_AND_ASSETS,
     lambda c: _error_page(c, ErrorCode=503, ResponseCode="200"),
     InvalidArgument, "together"),
    ("page without a response code", API_AND_ASSETS,
     lambda c: _error_page(c, ErrorCode=503, ResponsePagePath="/e.html"),
     InvalidArgument, "together"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("base", "change", "error", "words"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_with_cloudfronts_code(
    base: dict[str, Any], change: Change, error: type[ServiceError], words: str
) -> None:
    """A config CloudFront refuses raises its error code, with a message saying why."""
    config = _changed(base, change)
    with pytest.raises(error) as caught:
        check_config(config)
    assert type(caught.value) is error
    assert words in caught.value.message


ACCEPTED: list[tuple[str, dict[str, Any], Change]] = [
    ("ports 80, 443, 1024, 65535", MINIMAL, lambda c: _custom(c, HTTPPort=1024, HTTPSPort=65535)),
    ("HTTPS on 80", MINIMAL, lambda c: _custom(c, HTTPPort=443, HTTPSPort=80)),
    ("timeouts at their bounds", MINIMAL,
     lambda c: _custom(c, OriginReadTimeout=120, OriginKeepaliveTimeout=1)),
    ("completion equal to read", MINIMAL,
     lambda c: _origin(c).update(ResponseCompletionTimeout=30)),
    ("Comment of 128", MINIMAL, lambda c: c.update(Comment="c" * 128)),
    ("100 aliases", MINIMAL, lambda c: _aliases(c, *(f"h{n}.example.com" for n in range(100)))),
    ("wildcard, mixed case, trailing dot", MINIMAL,
     lambda c: _aliases(c, "*.Example.com", "WWW.example.com.", "xn--bcher-kva.example")),
    ("wildcard and its apex", MINIMAL, lambda c: _aliases(c, "*.example.com", "example.com")),
    ("10 good headers, tab in a value", MINIMAL,
     lambda c: _headers(c, ("X-Tab", "a\tb"), *((f"X-H{n}", "v" * 1783) for n in range(9)))),
    ("Authorization and Origin headers", MINIMAL,
     lambda c: _headers(c, ("Authorization", "Bearer x"), ("Origin", "https://a.example"))),
    ("equal TTLs", API_AND_ASSETS, lambda c: _behavior(c, 0).update(MinTTL=604800, MaxTTL=604800)),
    ("TTLs of 100 years", API_AND_ASSETS,
     lambda c: _behavior(c, 0).update(DefaultTTL=3_153_600_000, MaxTTL=3_153_600_000)),
    ("empty policy with ForwardedValues", API_AND_ASSETS,
     lambda c: _behavior(c, 0).update(CachePolicyId="")),
    ("empty continuous deployment policy", MINIMAL,
     lambda c: c.update(ContinuousDeploymentPolicyId="")),
    ("VPC origin", MINIMAL, lambda c: _vpc(c, VpcOriginId="vo_1", OriginReadTimeout=60)),
    ("root object path", MINIMAL, lambda c: c.update(DefaultRootObject="docs/index.html")),
    ("100 origins", MINIMAL, lambda c: _more(c, "Origins", 100, "Id", "o{}")),
    ("10 origin groups", CUSTOM_ORIGIN, lambda c: _more(c, "OriginGroups", 10, "Id", "g{}")),
    ("75 cache behaviors", API_AND_ASSETS,
     lambda c: _more(c, "CacheBehaviors", 75, "PathPattern", "/p{}/*")),
    ("10 cookie names, headers, query string keys", API_AND_ASSETS,
     lambda c: [_forwarded(c, what, 10) for what in ("cookie", "header", "query")]),
    ("each of CloudFront's method sets", MINIMAL,
     lambda c: _methods(c, ["HEAD", "GET", "OPTIONS"], ["GET", "HEAD", "OPTIONS"])),
    ("every method, GET and HEAD cached", MINIMAL,
     lambda c: _methods(c, ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"],
                        ["HEAD", "GET"])),
    ("every header forwarded, MinTTL 0", API_AND_ASSETS, lambda c: _all_headers(c, 0)),
    ("Origin Shield with its Region, or off", MINIMAL,
     lambda c: [_origin(c).update(OriginShield={"Enabled": True,
                                                "OriginShieldRegion": "us-east-2"}),
                _more(c, "Origins", 2, "Id", "o{}"),
                _origin(c, 1).update(OriginShield={"Enabled": False})]),
    ("caching an error for a minute, no page", API_AND_ASSETS,
     lambda c: _error_page(c, ErrorCode=504, ErrorCachingMinTTL=60)),
    ("a 404 answered 200 with the app's page", API_AND_ASSETS,
     lambda c: _error_page(c, ErrorCode=404, ResponseCode="200", ResponsePagePath="/index.html")),
    ("11 names that do not apply (cookies not whitelisted, no query string)", API_AND_ASSETS,
     lambda c: [_forwarded(c, "cookie", 11), _forwarded(c, "query", 11),
                _behavior(c, 0)["ForwardedValues"]["Cookies"].update(Forward="all"),
                _behavior(c, 0)["ForwardedValues"].update(QueryString=False)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("base", "change"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED]
)
def test_accepted_at_the_edges_of_the_rules(base: dict[str, Any], change: Change) -> None:
    """Values at the documented bounds, and the forms CloudFront allows, pass."""
    check_config(_changed(base, change))


def test_alias_key_ignores_case_and_one_trailing_dot() -> None:
    """`X.Example.com.` and `x.example.com` are the same CNAME; a wildcard is its own."""
    assert alias_key("X.Example.com.") == alias_key("x.example.com") == "x.example.com"
    assert alias_key("*.example.com") != alias_key("x.example.com")


@pytest.mark.parametrize("name", ["bad header:", "x y", "", "a" * 257, "Cache-Tag\r\n"])
def test_a_tag_header_must_be_a_header_name(name: str) -> None:
    """CacheTagConfig.HeaderName is an HTTP field name, or no origin response could carry it
    (an empty one means no tag header)."""
    config = _changed(MINIMAL, lambda c: c.update(CacheTagConfig={"HeaderName": name}))
    if not name:
        check_config(config)
        return
    with pytest.raises(InvalidArgument, match=r"CacheTagConfig\.HeaderName"):
        check_config(config)
    check_config(_changed(MINIMAL, lambda c: c.update(CacheTagConfig={"HeaderName": "X-Tags"})))
