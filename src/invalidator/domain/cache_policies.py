"""CloudFront's managed cache and origin request policies, as data. Pure, no I/O.

A cache behavior that names a `CachePolicyId` instead of legacy `ForwardedValues` gets its cache
key (query strings, headers, cookies) and TTLs from the policy; an `OriginRequestPolicyId` adds
values that are forwarded to the origin but kept out of the key. invalidator implements no
CachePolicy/OriginRequestPolicy API, so only the managed policies (fixed ids, documented
settings) are known; any other cache policy id is served like Managed-CachingOptimized, and any
other origin request policy id adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = "all"
NONE = "none"
WHITELIST = "whitelist"


@dataclass(frozen=True)
class KeyValues:
    """Which query strings, headers and cookies a policy puts in the key (or forwards)."""

    query_strings: str = NONE  # none | whitelist | all
    query_names: tuple[str, ...] = ()
    headers: str = NONE  # none | whitelist | all
    header_names: tuple[str, ...] = ()  # lowercased
    cookies: str = NONE  # none | whitelist | all
    cookie_names: tuple[str, ...] = ()
    compressed: bool = False  # the normalized Accept-Encoding is part of the key


@dataclass(frozen=True)
class ManagedCachePolicy:
    """A managed cache policy: TTLs and the values in the cache key."""

    name: str
    min_ttl: int
    default_ttl: int
    max_ttl: int
    key: KeyValues


CACHING_OPTIMIZED_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"

MANAGED_CACHE_POLICIES: dict[str, ManagedCachePolicy] = {
    CACHING_OPTIMIZED_ID: ManagedCachePolicy(
        "Managed-CachingOptimized", 1, 86400, 31536000, KeyValues(compressed=True)
    ),
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": ManagedCachePolicy(
        "Managed-CachingOptimizedForUncompressedObjects", 1, 86400, 31536000, KeyValues()
    ),
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": ManagedCachePolicy(
        "Managed-CachingDisabled", 0, 0, 0, KeyValues()
    ),
    "08627262-05a9-4f76-9ded-b50ca2e3a84f": ManagedCachePolicy(
        "Managed-Elemental-MediaPackage",
        0,
        86400,
        31536000,
        KeyValues(
            query_strings=WHITELIST,
            query_names=("aws.manifestfilter", "end", "m", "start"),
            headers=WHITELIST,
            header_names=("origin",),
            compressed=True,
        ),
    ),
    "2e54312d-136d-493c-8eb9-b001f22f67d2": ManagedCachePolicy(
        "Managed-Amplify",
        2,
        2,
        600,
        KeyValues(
            query_strings=ALL,
            headers=WHITELIST,
            header_names=("authorization", "cloudfront-viewer-country", "host"),
            cookies=ALL,
            compressed=True,
        ),
    ),
}

MANAGED_ORIGIN_REQUEST_POLICIES: dict[str, KeyValues] = {
    # Managed-AllViewer, Managed-AllViewerExceptHostHeader,
    # Managed-AllViewerAndCloudFrontHeaders-2022-06: every viewer header, cookie and query.
    "216adef6-5c7f-47e4-b989-5492eafa07d3": KeyValues(ALL, (), ALL, (), ALL),
    "b689b0a8-53d0-40ab-baf2-68738e2966ac": KeyValues(ALL, (), ALL, (), ALL),
    "33f36d7e-f396-46d9-90e0-52428a34d9dc": KeyValues(ALL, (), ALL, (), ALL),
    # Managed-CORS-S3Origin, Managed-CORS-CustomOrigin, Managed-UserAgentRefererHeaders
    "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf": KeyValues(
        headers=WHITELIST,
        header_names=("origin", "access-control-request-headers", "access-control-request-method"),
    ),
    "59781a5b-3903-41f3-afcb-af62929ccde1": KeyValues(headers=WHITELIST, header_names=("origin",)),
    "acba4595-bd28-49b8-b9fe-13317c0390fa": KeyValues(
        headers=WHITELIST, header_names=("user-agent", "referer")
    ),
}


def managed_cache_policy(policy_id: str) -> ManagedCachePolicy:
    """The managed policy with this id; Managed-CachingOptimized for any other id."""
    return MANAGED_CACHE_POLICIES.get(policy_id, MANAGED_CACHE_POLICIES[CACHING_OPTIMIZED_ID])


def managed_origin_request_policy(policy_id: str | None) -> KeyValues | None:
    """What a managed origin request policy forwards; None for none or an unknown id."""
    return MANAGED_ORIGIN_REQUEST_POLICIES.get(policy_id or "")
