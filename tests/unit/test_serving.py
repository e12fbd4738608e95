"""What an edge serves, derived from a DistributionConfig by `serving_config`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from invalidator.api.wire.distribution_defaults import fill_distribution_config_defaults
from invalidator.domain.errors import InvalidArgument, InvalidOrigin, NoSuchOrigin
from invalidator.domain.serving import DEFAULT_TTL, MAX_TTL, serving_config
from tests.support.distribution_configs import API_AND_ASSETS, CUSTOM_ORIGIN, MINIMAL, S3_SITE


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
    """Legacy TTLs are used as given; a cache-policy behavior gets CloudFront's defaults."""
    serving = _serve(API_AND_ASSETS)
    assert (serving.min_ttl, serving.default_ttl, serving.max_ttl) == (5, 60, 600)
    policy = _serve(MINIMAL)
    assert (policy.min_ttl, policy.default_ttl, policy.max_ttl) == (0, DEFAULT_TTL, MAX_TTL)
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
    """ForwardedValues.QueryString decides; a cache-policy behavior forwards them."""
    assert (
        _serve({**MINIMAL, "DefaultCacheBehavior": _legacy_behavior()}).forward_query_strings
        is False
    )
    assert _serve(API_AND_ASSETS).forward_query_strings is True
    assert _serve(MINIMAL).forward_query_strings is True


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
