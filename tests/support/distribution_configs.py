"""Realistic DistributionConfigs as boto3 callers write them (shared by codec and API tests).

They use members across the model: S3 origin with OAI, custom origins with headers and TLS
settings, an origin group, several cache behaviors (legacy TTLs and cache policies), aliases,
logging, an ACM certificate, geo restriction, the cache tag header.

`FILLED` says, as literals, what CloudFront adds to each of them when it answers (the members
a request left out), independently of the code that fills them in; `with_filled` lays them
over a config. Sources: the AWS CLI's example responses (awscli/examples/cloudfront/
create-distribution.rst, get-distribution.rst, list-distributions.rst) and the API reference's
defaults (ConnectionAttempts 3, ConnectionTimeout 10, OriginReadTimeout 30,
OriginKeepaliveTimeout 5, HttpVersion http2, DefaultTTL one day, MaxTTL one year).
"""

from __future__ import annotations

import copy
from typing import Any

ACM_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

# --- realistic configurations --------------------------------------------------------------

S3_SITE: dict[str, Any] = {
    "CallerReference": "s3-site-2024-06-01",
    "Aliases": {"Quantity": 2, "Items": ["www.example.com", "example.com"]},
    "DefaultRootObject": "index.html",
    "Origins": {
        "Quantity": 1,
        "Items": [
            {
                "Id": "s3-assets",
                "DomainName": "assets.s3.us-east-1.amazonaws.com",
                "OriginPath": "/site",
                "S3OriginConfig": {
                    "OriginAccessIdentity": "origin-access-identity/cloudfront/E2QWRUHEXAMPLE"
                },
            }
        ],
    },
    "DefaultCacheBehavior": {
        "TargetOriginId": "s3-assets",
        "ViewerProtocolPolicy": "redirect-to-https",
        "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        "Compress": True,
    },
    "CacheBehaviors": {
        "Quantity": 2,
        "Items": [
            {
                "PathPattern": "/img/*",
                "TargetOriginId": "s3-assets",
                "ViewerProtocolPolicy": "https-only",
                "ForwardedValues": {
                    "QueryString": True,
                    "Cookies": {
                        "Forward": "whitelist",
                        "WhitelistedNames": {"Quantity": 1, "Items": ["session"]},
                    },
                    "Headers": {"Quantity": 1, "Items": ["Origin"]},
                    "QueryStringCacheKeys": {"Quantity": 2, "Items": ["w", "h"]},
                },
                "MinTTL": 0,
                "DefaultTTL": 3600,
                "MaxTTL": 86400,
                "AllowedMethods": {
                    "Quantity": 3,
                    "Items": ["GET", "HEAD", "OPTIONS"],
                    "CachedMethods": {"Quantity": 3, "Items": ["GET", "HEAD", "OPTIONS"]},
                },
            },
            {
                "PathPattern": "/api/*",
                "TargetOriginId": "s3-assets",
                "ViewerProtocolPolicy": "allow-all",
                "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
                "TrustedKeyGroups": {"Enabled": True, "Quantity": 1, "Items": ["K2JCJMDEHXQW5F"]},
                "FunctionAssociations": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "FunctionARN": "arn:aws:cloudfront::123456789012:function/rewrite",
                            "EventType": "viewer-request",
                        }
                    ],
                },
            },
        ],
    },
    "CustomErrorResponses": {
        "Quantity": 1,
        "Items": [
            {
                "ErrorCode": 404,
                "ResponsePagePath": "/404.html",
                "ResponseCode": "404",
                "ErrorCachingMinTTL": 300,
            }
        ],
    },
    "Comment": 'static site <&> "quoted"',
    "Logging": {
        "Enabled": True,
        "IncludeCookies": False,
        "Bucket": "logs.s3.amazonaws.com",
        "Prefix": "cf/",
    },
    "PriceClass": "PriceClass_100",
    "Enabled": True,
    "ViewerCertificate": {
        "ACMCertificateArn": ACM_ARN,
        "SSLSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    },
    "Restrictions": {
        "GeoRestriction": {"RestrictionType": "whitelist", "Quantity": 2, "Items": ["DE", "FR"]}
    },
    "HttpVersion": "http2and3",
    "IsIPV6Enabled": False,
    "CacheTagConfig": {"HeaderName": "Edge-Cache-Tag"},
}

CUSTOM_ORIGIN: dict[str, Any] = {
    "CallerReference": "custom-origin-1",
    "Origins": {
        "Quantity": 2,
        "Items": [
            {
                "Id": "app",
                "DomainName": "app.example.net",
                "OriginPath": "/v2",
                "CustomHeaders": {
                    "Quantity": 2,
                    "Items": [
                        {"HeaderName": "X-Origin-Secret", "HeaderValue": "s3cr3t"},
                        {"HeaderName": "X-Env", "HeaderValue": "prod"},
                    ],
                },
                "CustomOriginConfig": {
                    "HTTPPort": 8080,
                    "HTTPSPort": 8443,
                    "OriginProtocolPolicy": "https-only",
                    "OriginSslProtocols": {"Quantity": 2, "Items": ["TLSv1.1", "TLSv1.2"]},
                    "OriginReadTimeout": 60,
                    "OriginKeepaliveTimeout": 30,
                },
                "ConnectionAttempts": 2,
                "ConnectionTimeout": 5,
                "OriginShield": {"Enabled": True, "OriginShieldRegion": "eu-west-1"},
            },
            {
                "Id": "fallback",
                "DomainName": "fallback.example.net",
                "CustomOriginConfig": {
                    "HTTPPort": 80,
                    "HTTPSPort": 443,
                    "OriginProtocolPolicy": "match-viewer",
                },
            },
        ],
    },
    "OriginGroups": {
        "Quantity": 1,
        "Items": [
            {
                "Id": "app-with-fallback",
                "FailoverCriteria": {"StatusCodes": {"Quantity": 2, "Items": [502, 503]}},
                "Members": {
                    "Quantity": 2,
                    "Items": [{"OriginId": "app"}, {"OriginId": "fallback"}],
                },
            }
        ],
    },
    "DefaultCacheBehavior": {
        "TargetOriginId": "app-with-fallback",
        "ViewerProtocolPolicy": "https-only",
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "all"}},
        "MinTTL": 1,
        "LambdaFunctionAssociations": {
            "Quantity": 1,
            "Items": [
                {
                    "LambdaFunctionARN": "arn:aws:lambda:us-east-1:123456789012:function:edge:3",
                    "EventType": "origin-response",
                    "IncludeBody": False,
                }
            ],
        },
    },
    "Comment": "custom origin",
    "Enabled": False,
    "WebACLId": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/acl/0f1e2d3c",
}

MINIMAL: dict[str, Any] = {
    "CallerReference": "minimal",
    "Origins": {
        "Quantity": 1,
        "Items": [
            {
                "Id": "o",
                "DomainName": "o.example.org",
                "CustomOriginConfig": {
                    "HTTPPort": 80,
                    "HTTPSPort": 443,
                    "OriginProtocolPolicy": "http-only",
                },
            }
        ],
    },
    "DefaultCacheBehavior": {
        "TargetOriginId": "o",
        "ViewerProtocolPolicy": "allow-all",
        "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
    },
    "Comment": "",
    "Enabled": True,
}

API_AND_ASSETS: dict[str, Any] = {
    "CallerReference": "api-and-assets",
    "Aliases": {
        "Quantity": 3,
        "Items": ["Shop.Example.com", "api.example.com", "*.cdn.example.com"],
    },
    "Origins": {
        "Quantity": 2,
        "Items": [
            {
                "Id": "web",
                "DomainName": "web.internal.example.com",
                "CustomHeaders": {
                    "Quantity": 1,
                    "Items": [{"HeaderName": "X-From-Edge", "HeaderValue": "1"}],
                },
                "CustomOriginConfig": {
                    "HTTPPort": 8080,
                    "HTTPSPort": 443,
                    "OriginProtocolPolicy": "http-only",
                    "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
                    "OriginReadTimeout": 45,
                    "OriginKeepaliveTimeout": 10,
                },
            },
            {
                "Id": "media",
                "DomainName": "media-bucket.s3.eu-west-1.amazonaws.com",
                "S3OriginConfig": {"OriginAccessIdentity": ""},
                "OriginAccessControlId": "E2ABCDEFGHIJKL",
            },
        ],
    },
    "DefaultCacheBehavior": {
        "TargetOriginId": "web",
        "ViewerProtocolPolicy": "redirect-to-https",
        "ForwardedValues": {
            "QueryString": True,
            "Cookies": {"Forward": "none"},
            "QueryStringCacheKeys": {"Quantity": 1, "Items": ["page"]},
        },
        "MinTTL": 5,
        "DefaultTTL": 60,
        "MaxTTL": 600,
        "Compress": True,
    },
    "CacheBehaviors": {
        "Quantity": 3,
        "Items": [
            {
                "PathPattern": "/media/*",
                "TargetOriginId": "media",
                "ViewerProtocolPolicy": "https-only",
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "MinTTL": 0,
                "DefaultTTL": 604800,
                "MaxTTL": 31536000,
            },
            {
                "PathPattern": "/api/*",
                "TargetOriginId": "web",
                "ViewerProtocolPolicy": "https-only",
                "AllowedMethods": {
                    "Quantity": 7,
                    "Items": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                    "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
                },
                "ForwardedValues": {
                    "QueryString": True,
                    "Cookies": {"Forward": "all"},
                    "Headers": {"Quantity": 2, "Items": ["Authorization", "Accept"]},
                },
                "MinTTL": 0,
                "DefaultTTL": 0,
                "MaxTTL": 0,
            },
            {
                "PathPattern": "*.css",
                "TargetOriginId": "web",
                "ViewerProtocolPolicy": "allow-all",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                "OriginRequestPolicyId": "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
                "ResponseHeadersPolicyId": "67f7725c-6f97-4210-82d7-5512b31e9d03",
            },
        ],
    },
    "Comment": "shop: api and assets — ünïcode ✓",
    "Logging": {"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""},
    "PriceClass": "PriceClass_200",
    "Enabled": True,
    "ViewerCertificate": {
        "IAMCertificateId": "ASCAEXAMPLEIAMCERT01",
        "SSLSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2019",
    },
    "HttpVersion": "http1.1",
    "CacheTagConfig": {"HeaderName": "X-Cache-Tags"},
}

CONFIGS = {
    "s3-site": S3_SITE,
    "custom-origin": CUSTOM_ORIGIN,
    "api-and-assets": API_AND_ASSETS,
    "minimal": MINIMAL,
}


def unique(config: dict[str, Any], token: str) -> dict[str, Any]:
    """A deep copy whose CallerReference and aliases carry `token` (for a shared server)."""
    fresh = copy.deepcopy(config)
    fresh["CallerReference"] = f"{fresh['CallerReference']}-{token}"
    aliases = fresh.get("Aliases")
    if aliases and aliases.get("Items"):
        aliases["Items"] = [
            f"*.{token}.{alias[2:]}" if alias.startswith("*.") else f"{token}.{alias}"
            for alias in aliases["Items"]
        ]
    return fresh


# --- what CloudFront fills in -----------------------------------------------------------------

_NONE = {"Quantity": 0}
_HEAD_GET = {"Quantity": 2, "Items": ["HEAD", "GET"]}
# An origin that sent none of these reads back with all of them.
_ORIGIN = {
    "OriginPath": "",
    "CustomHeaders": _NONE,
    "ConnectionAttempts": 3,
    "ConnectionTimeout": 10,
    "OriginShield": {"Enabled": False},
    "OriginAccessControlId": "",
}
_CUSTOM_TIMEOUTS = {"OriginReadTimeout": 30, "OriginKeepaliveTimeout": 5}
# A cache behavior that sent none of these (its AllowedMethods: GET and HEAD, cached).
_BEHAVIOR = {
    "TrustedSigners": {"Enabled": False, "Quantity": 0},
    "TrustedKeyGroups": {"Enabled": False, "Quantity": 0},
    "SmoothStreaming": False,
    "Compress": False,
    "LambdaFunctionAssociations": _NONE,
    "FunctionAssociations": _NONE,
    "FieldLevelEncryptionId": "",
    "GrpcConfig": {"Enabled": False},
    "AllowedMethods": {**_HEAD_GET, "CachedMethods": _HEAD_GET},
}
_FORWARDED = {"Headers": _NONE, "QueryStringCacheKeys": _NONE}  # legacy ForwardedValues
_LEGACY_TTLS = {"DefaultTTL": 86400, "MaxTTL": 31536000}  # with MinTTL sent, no policy
_LOGGING_OFF = {"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""}
_NO_GEO = {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}}
_DEFAULT_CERTIFICATE = {
    "CloudFrontDefaultCertificate": True,
    "SSLSupportMethod": "vip",
    "MinimumProtocolVersion": "TLSv1",
    "CertificateSource": "cloudfront",
}


def _but(base: dict[str, Any], *sent: str) -> dict[str, Any]:
    """`base` without the members a config sent itself."""
    return {k: v for k, v in base.items() if k not in sent}


FILLED: dict[str, dict[str, Any]] = {
    "s3-site": {
        "OriginGroups": _NONE,
        "WebACLId": "",
        "Origins": {"Items": [_but(_ORIGIN, "OriginPath")]},
        "DefaultCacheBehavior": _but(_BEHAVIOR, "Compress"),  # cache policy: no TTLs
        "CacheBehaviors": {
            "Items": [
                _but(_BEHAVIOR, "AllowedMethods"),  # ForwardedValues complete, TTLs sent
                _but(_BEHAVIOR, "TrustedKeyGroups", "FunctionAssociations"),
            ]
        },
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": False,
            "Certificate": ACM_ARN,
            "CertificateSource": "acm",
        },
    },
    "custom-origin": {
        "Aliases": _NONE,
        "DefaultRootObject": "",
        "CacheBehaviors": _NONE,
        "CustomErrorResponses": _NONE,
        "Restrictions": _NO_GEO,
        "HttpVersion": "http2",
        "Logging": _LOGGING_OFF,
        "PriceClass": "PriceClass_All",
        "IsIPV6Enabled": True,
        "ViewerCertificate": _DEFAULT_CERTIFICATE,
        "Origins": {
            "Items": [
                {"OriginAccessControlId": ""},
                {**_ORIGIN, "CustomOriginConfig": _CUSTOM_TIMEOUTS},
            ]
        },
        "DefaultCacheBehavior": {
            **_but(_BEHAVIOR, "LambdaFunctionAssociations"),
            "ForwardedValues": _FORWARDED,
            **_LEGACY_TTLS,
        },
    },
    "api-and-assets": {
        "DefaultRootObject": "",
        "OriginGroups": _NONE,
        "CustomErrorResponses": _NONE,
        "Restrictions": _NO_GEO,
        "WebACLId": "",
        "IsIPV6Enabled": True,
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": False,
            "Certificate": "ASCAEXAMPLEIAMCERT01",
            "CertificateSource": "iam",
        },
        "Origins": {
            "Items": [
                _but(_ORIGIN, "CustomHeaders"),
                _but(_ORIGIN, "OriginAccessControlId"),
            ]
        },
        "DefaultCacheBehavior": {
            **_but(_BEHAVIOR, "Compress"),
            "ForwardedValues": {"Headers": _NONE},
        },
        "CacheBehaviors": {
            "Items": [
                {**_BEHAVIOR, "ForwardedValues": _FORWARDED},
                {
                    **_but(_BEHAVIOR, "AllowedMethods"),
                    "ForwardedValues": _but(_FORWARDED, "Headers"),
                },
                _BEHAVIOR,
            ]
        },
    },
    "minimal": {
        "Aliases": _NONE,
        "DefaultRootObject": "",
        "OriginGroups": _NONE,
        "CacheBehaviors": _NONE,
        "CustomErrorResponses": _NONE,
        "Restrictions": _NO_GEO,
        "WebACLId": "",
        "HttpVersion": "http2",
        "Logging": _LOGGING_OFF,
        "PriceClass": "PriceClass_All",
        "IsIPV6Enabled": True,
        "ViewerCertificate": _DEFAULT_CERTIFICATE,
        "Origins": {"Items": [{**_ORIGIN, "CustomOriginConfig": _CUSTOM_TIMEOUTS}]},
        "DefaultCacheBehavior": _BEHAVIOR,
    },
}


def with_filled(sent: Any, filled: Any, path: str = "config") -> Any:
    """`sent` with `filled` laid over it: members it lacks are added, nested ones merged, list
    items merged by position. A filled member that was sent is an error in the literal (the
    answer keeps what was sent), so the expectation cannot quietly override the request."""
    if isinstance(filled, list):
        assert isinstance(sent, list) and len(sent) == len(filled), path
        return [
            with_filled(s, f, f"{path}[{i}]")
            for i, (s, f) in enumerate(zip(sent, filled, strict=True))
        ]
    assert isinstance(sent, dict) and isinstance(filled, dict), path
    merged = copy.deepcopy(sent)
    for key, value in filled.items():
        if key not in sent:
            merged[key] = copy.deepcopy(value)
        else:
            assert isinstance(value, dict | list), f"{path}.{key} was sent; it is not filled"
            merged[key] = with_filled(sent[key], value, f"{path}.{key}")
    return merged
