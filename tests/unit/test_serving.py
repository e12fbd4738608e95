"""What an edge serves, derived from a DistributionConfig by `serving_config`."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest

from invalidator.api.wire.distribution_defaults import fill_distribution_config_defaults
from invalidator.api.wire.edge_json import serving_from_json, serving_to_json
from invalidator.domain.errors import InvalidArgument, InvalidOrigin, NoSuchOrigin
from invalidator.domain.serving import DEFAULT_TTL, MAX_TTL, cache_identity, serving_config
from tests.support.distribution_configs import (
    API_AND_ASSETS,
    CONFIGS,
    CUSTOM_ORIGIN,
    MINIMAL,
    S3_SITE,
)


def _custom(
    policy: str, http_port: int = 80, https_port: int = 443, path: str = ""
) -> dict[str, Any]:
    config = copy.deepcopy(MINIMAL)
    origin = config["Origins"]["Items"][0]
    origin["CustomOriginConfig"] = {
        "HTTPPort": http_port,
        "HTTPSPort": https_port,
        "OriginProtocolPolicy": policy,
    }
    if path:
        origin["OriginPath"] = path
    return config


def _serve(config: dict[str, Any]) -> Any:
    return serving_config("E1TEST", "e1test.invalidator.localhost", config)


@pytest.mark.parametrize(
    ("policy", "http_port", "https_port", "path", "url"),
    [
        ("http-only", 80, 443, "", "http://o.example.org"),
        ("http-only", 8080, 443, "", "http://o.example.org:8080"),
        ("https-only", 80, 443, "", "https://o.example.org"),
        ("https-only", 80, 8443, "/v2", "https://o.example.org:8443/v2"),
        ("https-only", 80, 80, "", "https://o.example.org:80"),
        ("http-only", 443, 443, "", "http://o.example.org:443"),
        ("match-viewer", 8000, 8443, "/a/b/", "http://o.example.org:8000/a/b"),
    ],
)
def test_origin_url_from_protocol_policy_ports_and_path(
    policy: str, http_port: int, https_port: int, path: str, url: str
) -> None:
    """Scheme from the protocol policy, its port only when not the default, origin path kept."""
    assert _serve(_custom(policy, http_port, https_port, path)).origin_url == url


def test_s3_origin_is_reached_over_https_with_its_path() -> None:
    """An S3 origin is https on 443 with its OriginPath."""
    serving = _serve(S3_SITE)
    assert serving.origin_url == "https://assets.s3.us-east-1.amazonaws.com/site"
    assert serving.origin_headers == ()


def test_custom_headers_come_from_the_served_origin() -> None:
    """The default behavior's origin sends its custom headers, in order."""
    serving = _serve(API_AND_ASSETS)
    assert serving.origin_url == "http://web.internal.example.com:8080"
    assert serving.origin_headers == (("X-From-Edge", "1"),)


def test_origin_group_serves_its_primary_member() -> None:
    """A default behavior aimed at an origin group fetches from the group's first member."""
    config = copy.deepcopy(CUSTOM_ORIGIN)
    config["OriginGroups"]["Items"][0]["Members"]["Items"].reverse()  # fallback is now primary
    assert _serve(config).origin_url == "http://fallback.example.net"
    assert _serve(CUSTOM_ORIGIN).origin_url == "https://app.example.net:8443/v2"
    assert _serve(CUSTOM_ORIGIN).origin_headers == (
        ("X-Origin-Secret", "s3cr3t"),
        ("X-Env", "prod"),
    )


def test_aliases_lowercased_and_enabled_and_tag_header() -> None:
    """Aliases are matched case-insensitively, so they are kept lowercase; flags pass through."""
    serving = _serve(API_AND_ASSETS)
    assert serving.aliases == ("shop.example.com", "api.example.com", "*.cdn.example.com")
    assert serving.enabled is True
    assert serving.tag_header == "X-Cache-Tags"
    assert (serving.distribution_id, serving.domain_name) == (
        "E1TEST",
        "e1test.invalidator.localhost",
    )
    disabled = _serve(CUSTOM_ORIGIN)
    assert (disabled.enabled, disabled.tag_header, disabled.aliases) == (False, None, ())


def test_ttls_from_legacy_settings_or_defaults() -> None:
    """Legacy TTLs are used as given; a cache-policy behavior gets its managed policy's TTLs."""
    serving = _serve(API_AND_ASSETS)
    assert (serving.min_ttl, serving.default_ttl, serving.max_ttl) == (5, 60, 600)
    policy = _serve(MINIMAL)  # Managed-CachingOptimized: MinTTL 1 s, 24 h, 365 days
    assert (policy.min_ttl, policy.default_ttl, policy.max_ttl) == (1, DEFAULT_TTL, MAX_TTL)
    assert (DEFAULT_TTL, MAX_TTL) == (86400, 31536000)
    filled = fill_distribution_config_defaults(
        {**MINIMAL, "DefaultCacheBehavior": _legacy_behavior(min_ttl=7)}
    )
    legacy = _serve(filled)  # type: ignore[arg-type]
    assert (legacy.min_ttl, legacy.default_ttl, legacy.max_ttl) == (7, 86400, 31536000)


def _legacy_behavior(**ttls: int) -> dict[str, Any]:
    names = {"min_ttl": "MinTTL", "default_ttl": "DefaultTTL", "max_ttl": "MaxTTL"}
    return {
        "TargetOriginId": "o",
        "ViewerProtocolPolicy": "allow-all",
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        **{names[k]: v for k, v in ttls.items()},
    }


@pytest.mark.parametrize(
    "ttls",
    [
        {"min_ttl": 10, "default_ttl": 5, "max_ttl": 20},
        {"min_ttl": 0, "default_ttl": 30, "max_ttl": 20},
        {"min_ttl": -1, "default_ttl": 0, "max_ttl": 0},
    ],
)
def test_ttls_out_of_order_are_invalid(ttls: dict[str, int]) -> None:
    """0 <= MinTTL <= DefaultTTL <= MaxTTL, else InvalidArgument."""
    with pytest.raises(InvalidArgument, match="TTL"):
        _serve({**MINIMAL, "DefaultCacheBehavior": _legacy_behavior(**ttls)})


def test_query_string_forwarding() -> None:
    """ForwardedValues.QueryString decides; Managed-CachingOptimized forwards none."""
    assert (
        _serve({**MINIMAL, "DefaultCacheBehavior": _legacy_behavior()}).forward_query_strings
        is False
    )
    assert _serve(API_AND_ASSETS).forward_query_strings is True
    assert _serve(MINIMAL).forward_query_strings is False


def test_unknown_target_origin_is_no_such_origin() -> None:
    """A default behavior aimed at neither an origin nor an origin group: NoSuchOrigin."""
    config = copy.deepcopy(MINIMAL)
    config["DefaultCacheBehavior"]["TargetOriginId"] = "nope"
    with pytest.raises(NoSuchOrigin):
        _serve(config)


def test_cache_behavior_with_unknown_target_is_no_such_origin() -> None:
    """Every cache behavior must aim at a known origin or origin group (NoSuchOrigin)."""
    config = copy.deepcopy(API_AND_ASSETS)
    config["CacheBehaviors"]["Items"][1]["TargetOriginId"] = "gone"
    with pytest.raises(NoSuchOrigin):
        _serve(config)


@pytest.mark.parametrize(
    "domain", ["", "not a host", "-leading.example.com", "bad_char$.example.com", "a" * 254]
)
def test_unusable_origin_domain_is_invalid_origin(domain: str) -> None:
    """An origin domain an edge cannot connect to is InvalidOrigin."""
    config = copy.deepcopy(MINIMAL)
    config["Origins"]["Items"][0]["DomainName"] = domain
    with pytest.raises(InvalidOrigin):
        _serve(config)


def test_no_origins_is_invalid_origin_and_duplicate_ids_invalid_argument() -> None:
    """At least one origin, with unique Ids."""
    with pytest.raises(InvalidOrigin):
        _serve({**MINIMAL, "Origins": {"Quantity": 0}})
    config = copy.deepcopy(MINIMAL)
    config["Origins"]["Items"].append(copy.deepcopy(config["Origins"]["Items"][0]))
    config["Origins"]["Quantity"] = 2
    with pytest.raises(InvalidArgument, match="unique"):
        _serve(config)


def test_origin_path_must_start_with_slash() -> None:
    """OriginPath `v2` (no leading slash) is InvalidArgument."""
    with pytest.raises(InvalidArgument, match="OriginPath"):
        _serve(_custom("http-only", path="v2"))


def test_cache_behaviors_in_order_with_their_origins_and_ttls() -> None:
    """Each CacheBehaviors item becomes a behavior, in order, with its own origin and TTLs."""
    serving = _serve(API_AND_ASSETS)
    patterns = [b.path_pattern for b in serving.cache_behaviors]
    assert patterns == ["/media/*", "/api/*", "*.css"]
    media, api, css = serving.cache_behaviors
    assert media.origin_url == "https://media-bucket.s3.eu-west-1.amazonaws.com"
    assert (media.min_ttl, media.default_ttl, media.max_ttl) == (0, 604800, 31536000)
    assert media.query_forward.mode == "none" and media.origin_headers == ()
    assert api.origin_url == "http://web.internal.example.com:8080"
    assert api.origin_headers == (("X-From-Edge", "1"),)
    assert (api.max_ttl, api.header_key, api.cookie_key.mode) == (
        0,
        ("accept", "authorization"),
        "all",
    )
    assert css.viewer_headers is False and (css.min_ttl, css.max_ttl) == (1, MAX_TTL)
    assert serving.behavior_for("/media/a.png") is media
    assert serving.behavior_for("/api/v1/x") is api
    assert serving.behavior_for("/site/main.css") is css
    assert serving.behavior_for("/index.html") is serving.default
    assert serving.default.query_key.names == ("page",)


def test_path_patterns_match_like_cloudfront() -> None:
    """`*` any run, `?` one character, case-sensitive, a missing leading slash implied."""
    config = copy.deepcopy(MINIMAL)
    config["CacheBehaviors"] = {
        "Quantity": 3,
        "Items": [
            {**config["DefaultCacheBehavior"], "PathPattern": "images/*.jpg"},
            {**config["DefaultCacheBehavior"], "PathPattern": "/v?/data"},
            {**config["DefaultCacheBehavior"], "PathPattern": "/a.b+c(*"},
        ],
    }
    jpg, versioned, literal = _serve(config).cache_behaviors
    assert jpg.matches("/images/x.jpg") and jpg.matches("/images/a/b.jpg")
    assert not jpg.matches("/images/x.JPG") and not jpg.matches("/Images/x.jpg")
    assert versioned.matches("/v1/data") and not versioned.matches("/v10/data")
    assert literal.matches("/a.b+c(z") and not literal.matches("/aXb+c(z")


def test_origin_group_behavior_fetches_from_its_first_member() -> None:
    """A cache behavior aimed at an origin group is served by the group's first member."""
    config = copy.deepcopy(CUSTOM_ORIGIN)
    config["CacheBehaviors"] = {
        "Quantity": 1,
        "Items": [{**config["DefaultCacheBehavior"], "PathPattern": "/x/*"}],
    }
    (group,) = _serve(config).cache_behaviors
    assert group.origin_url == "https://app.example.net:8443/v2"


def test_legacy_forwarded_values() -> None:
    """Headers whitelist (lowercased, keyed), `*` (nothing cached), cookies, query cache keys."""
    behavior = _serve(S3_SITE).cache_behaviors[0]
    assert behavior.header_key == ("origin",)
    assert behavior.cookie_key.mode == "whitelist" and behavior.cookie_key.selects("session")
    assert not behavior.cookie_key.selects("other")
    assert behavior.query_forward.mode == "all" and behavior.query_key.names == ("h", "w")
    assert behavior.caches and behavior.viewer_headers
    config = copy.deepcopy(MINIMAL)
    config["DefaultCacheBehavior"] = {
        **_legacy_behavior(),
        "ForwardedValues": {
            "QueryString": True,
            "Headers": {"Quantity": 1, "Items": ["*"]},
            "Cookies": {"Forward": "whitelist",
                        "WhitelistedNames": {"Quantity": 1, "Items": ["sess-*"]}},
        },
    }  # fmt: skip
    everything = _serve(config).default
    assert everything.forward_all_headers and not everything.caches
    assert everything.cookie_key.selects("sess-42") and not everything.cookie_key.selects("x")


def test_cache_policies_managed_and_unknown() -> None:
    """Managed policies set TTLs and keys; other ids act as CachingOptimized; AllViewer adds."""
    serving = _serve(S3_SITE)
    disabled = serving.cache_behaviors[1]
    assert (disabled.min_ttl, disabled.default_ttl, disabled.max_ttl) == (0, 0, 0)
    optimized = serving.default
    assert optimized.query_key.mode == "none" and optimized.query_forward.mode == "none"
    assert (optimized.header_key, optimized.cookie_key.mode) == ((), "none")
    assert optimized.compress and not optimized.viewer_headers
    config = copy.deepcopy(MINIMAL)
    config["DefaultCacheBehavior"]["CachePolicyId"] = "11111111-2222-3333-4444-555555555555"
    config["DefaultCacheBehavior"]["OriginRequestPolicyId"] = (
        "216adef6-5c7f-47e4-b989-5492eafa07d3"  # Managed-AllViewer
    )
    custom = _serve(config).default
    assert (custom.min_ttl, custom.max_ttl) == (1, MAX_TTL)
    assert custom.query_key.mode == "none" and custom.query_forward.mode == "all"
    assert custom.header_forward.selects("x-anything") and custom.cookie_forward.selects("c")
    assert custom.header_key == () and custom.cookie_key.mode == "none"


@pytest.mark.parametrize("name", ["api-and-assets", "s3-site", "custom-origin", "minimal"])
def test_serving_config_round_trips_through_json(name: str) -> None:
    """What the edge endpoints send is plain JSON and rebuilds an equal config, every cache
    behavior included (standalone edges serve exactly what the built-in one does)."""
    serving = _serve(CONFIGS[name])
    carried = json.loads(json.dumps(serving_to_json(serving)))
    again = serving_from_json(carried)
    assert again == serving
    assert [b.matches("/media/x") for b in again.cache_behaviors] == [
        b.matches("/media/x") for b in serving.cache_behaviors
    ]


def test_allowed_methods_from_each_behavior_default_get_and_head() -> None:
    """AllowedMethods is what a behavior takes from viewers; without it, GET and HEAD (the
    default CloudFront fills in); a config built without a distribution allows all."""
    config = copy.deepcopy(MINIMAL)
    assert _serve(config).default.allowed_methods == ("GET", "HEAD")
    config["DefaultCacheBehavior"]["AllowedMethods"] = {
        "Quantity": 3, "Items": ["OPTIONS", "HEAD", "GET"],
        "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
    }  # fmt: skip
    served = _serve(config)
    assert served.default.allowed_methods == ("GET", "HEAD", "OPTIONS")
    carried = serving_from_json(json.loads(json.dumps(serving_to_json(served))))
    assert carried.default.allowed_methods == ("GET", "HEAD", "OPTIONS")
    assert "POST" in replace(served, default_behavior=None).default.allowed_methods


def test_cache_identity_changes_with_keys_and_tag_header_only() -> None:
    """An edge purges a distribution's copies when its cache identity changes: the keyed
    query, headers or cookies of a behavior, the behaviors' patterns, the tag header; not
    TTLs, origins or comments (copies stay, as on CloudFront)."""
    base = {**CONFIGS["api-and-assets"], "CacheTagConfig": {"HeaderName": "Edge-Tags"}}
    identity = cache_identity(_serve(base))

    def changed(change: Any) -> Any:
        config = copy.deepcopy(base)
        change(config)
        return cache_identity(_serve(config))

    same = [
        lambda c: c.update(Comment="other"),
        lambda c: c["CacheBehaviors"]["Items"][0].update(DefaultTTL=60, MaxTTL=60),
        lambda c: c["Origins"]["Items"][0].update(DomainName="elsewhere.example.org"),
        lambda c: c.update(CacheTagConfig={"HeaderName": "edge-tags"}),  # case only
    ]
    other = [
        lambda c: c["CacheBehaviors"]["Items"][1]["ForwardedValues"].update(QueryString=False),
        lambda c: c["CacheBehaviors"]["Items"][1]["ForwardedValues"].update(
            Headers={"Quantity": 0, "Items": []}
        ),
        lambda c: c["CacheBehaviors"]["Items"].reverse(),
        lambda c: c.update(CacheTagConfig={"HeaderName": "X-Other-Tags"}),
        lambda c: c.pop("CacheTagConfig"),
    ]
    assert all(changed(change) == identity for change in same)
    assert all(changed(change) != identity for change in other)
