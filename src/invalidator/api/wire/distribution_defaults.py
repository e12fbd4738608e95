"""The parts of a DistributionConfig that CloudFront fills in when a request leaves them out.

CloudFront's responses carry a fuller configuration than clients send: the AWS CLI's
`create-distribution --origin-domain-name` sends only CallerReference, Origins,
DefaultCacheBehavior, Enabled and Comment, and reads back aliases, logging, certificate, geo
restriction and so on. Terraform's aws provider and boto3 read those members back, so we fill
them the same way.

Sources, cited next to each default:
- [cli-ex1]: the AWS CLI's own example output of `create-distribution --origin-domain-name ...
  --default-root-object index.html` (awscli/examples/cloudfront/create-distribution.rst, example 1:
  a real CloudFront response to the CLI's minimal template in awscli/customizations/cloudfront.py).
- [cli-ex3]: the same file, examples 3 and 4 (2025 responses, for members added since).
- [cli-list]: awscli/examples/cloudfront/list-distributions.rst (a 2024 response).
- [api-ref]: the CloudFront API reference (docs.aws.amazon.com/cloudfront/latest/APIReference).
- [dev-guide]: the CloudFront Developer Guide, "Values that you specify when you create or
  update a distribution" (Default TTL, Maximum TTL).
- [moto]: moto/cloudfront/models.py, which agrees unless noted.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["fill_distribution_config_defaults"]

# [cli-ex1] [moto]: a distribution with no AllowedMethods reads back GET and HEAD, in this order.
_GET_HEAD = ("HEAD", "GET")
# [cli-ex1]: the CLI sends MinTTL 0 only and reads back DefaultTTL 86400 and MaxTTL 31536000, the
# defaults the Developer Guide lists for legacy cache settings (one day, one year). moto uses 0.
_LEGACY_TTLS = {"MinTTL": 0, "DefaultTTL": 86400, "MaxTTL": 31536000}
# [cli-ex3]: a certificate of one's own without MinimumProtocolVersion reads back TLSv1.2_2021.
_CUSTOM_CERT_MIN_PROTOCOL = "TLSv1.2_2021"


def _empty() -> dict[str, Any]:
    return {"Quantity": 0}


def _methods() -> dict[str, Any]:
    return {"Quantity": len(_GET_HEAD), "Items": list(_GET_HEAD)}


def _fill(target: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    """Set each default the target lacks (a deep copy, so defaults are never shared)."""
    for key, value in defaults.items():
        if target.get(key) is None:
            target[key] = copy.deepcopy(value)


def _items(container: Any) -> list[dict[str, Any]]:
    """The `Items` of a Quantity/Items structure, or an empty list."""
    if isinstance(container, dict) and isinstance(container.get("Items"), list):
        return [item for item in container["Items"] if isinstance(item, dict)]
    return []


def _fill_origin(origin: dict[str, Any]) -> None:
    _fill(
        origin,
        {
            "OriginPath": "",  # [cli-ex1] [moto]
            "CustomHeaders": _empty(),  # [cli-ex1]: the CLI sends none; returned with Quantity 0
            "ConnectionAttempts": 3,  # [cli-ex3] [cli-list] [moto]; [api-ref] "default is 3"
            "ConnectionTimeout": 10,  # [cli-ex3] [cli-list] [moto]; [api-ref] "default is 10"
            "OriginShield": {"Enabled": False},  # [cli-ex3] [cli-list] [moto]
            "OriginAccessControlId": "",  # [cli-ex3]: returned empty when not sent
        },
    )
    custom = origin.get("CustomOriginConfig")
    if isinstance(custom, dict):
        # [api-ref] CustomOriginConfig: "the default (if you don't specify otherwise) is 30
        # seconds" / "is 5 seconds"; the update-distribution example output shows both. [moto]
        _fill(custom, {"OriginReadTimeout": 30, "OriginKeepaliveTimeout": 5})


def _fill_cache_behavior(behavior: dict[str, Any]) -> None:
    _fill(
        behavior,
        {
            "TrustedSigners": {"Enabled": False, "Quantity": 0},  # [cli-ex1] [cli-list] [moto]
            "TrustedKeyGroups": {"Enabled": False, "Quantity": 0},  # [cli-ex3]: not sent, returned
            "SmoothStreaming": False,  # [cli-ex1] [cli-list] [moto]
            "Compress": False,  # [cli-ex1]: not sent, returned false (moto: true; CloudFront wins)
            "LambdaFunctionAssociations": _empty(),  # [cli-ex1] [moto]
            "FunctionAssociations": _empty(),  # [cli-ex3] [cli-list] [moto]
            "FieldLevelEncryptionId": "",  # [cli-ex1] [moto]
            "GrpcConfig": {"Enabled": False},  # [cli-ex3]: not sent, returned
        },
    )
    allowed = behavior.get("AllowedMethods")
    if not isinstance(allowed, dict):
        # [cli-ex1]: the CLI sends no AllowedMethods; CloudFront returns HEAD, GET cached. [moto]
        behavior["AllowedMethods"] = {**_methods(), "CachedMethods": _methods()}
    elif allowed.get("CachedMethods") is None:
        # [api-ref] CachedMethods: GET and HEAD is the smallest choice. [moto] fills the same.
        allowed["CachedMethods"] = _methods()
    forwarded = behavior.get("ForwardedValues")
    if isinstance(forwarded, dict):
        # [cli-ex1]: the CLI's ForwardedValues has neither; CloudFront returns Quantity 0 for both.
        _fill(forwarded, {"Headers": _empty(), "QueryStringCacheKeys": _empty()})
        # Legacy cache settings carry TTLs; with a CachePolicyId CloudFront returns none [cli-ex3].
        _fill(behavior, {"MinTTL": _LEGACY_TTLS["MinTTL"]})
        # [dev-guide] Default TTL: "If you change the value of Minimum TTL to more than 86400
        # seconds, then the default value of Default TTL changes to the value of Minimum TTL";
        # Maximum TTL likewise follows a Default TTL above 31536000.
        _fill(behavior, {"DefaultTTL": max(_LEGACY_TTLS["DefaultTTL"], behavior["MinTTL"])})
        _fill(behavior, {"MaxTTL": max(_LEGACY_TTLS["MaxTTL"], behavior["DefaultTTL"])})


def _fill_viewer_certificate(config: dict[str, Any]) -> None:
    certificate = config.get("ViewerCertificate")
    if not isinstance(certificate, dict):
        certificate = config["ViewerCertificate"] = {}
    own = certificate.get("ACMCertificateArn") or certificate.get("IAMCertificateId")
    if own:
        # [cli-ex3]: an ACM certificate reads back with CloudFrontDefaultCertificate false, the
        # deprecated Certificate/CertificateSource pair, and TLSv1.2_2021. IAM: same pattern.
        source = "acm" if certificate.get("ACMCertificateArn") else "iam"
        _fill(
            certificate,
            {
                "CloudFrontDefaultCertificate": False,
                "MinimumProtocolVersion": _CUSTOM_CERT_MIN_PROTOCOL,
                "Certificate": own,
                "CertificateSource": source,
            },
        )
        return
    # [cli-list]: the default certificate reads back with SSLSupportMethod vip; [cli-ex1] TLSv1
    # and CertificateSource cloudfront; [api-ref] ViewerCertificate: with the default
    # certificate CloudFront sets the security policy to TLSv1. (moto says sni-only.)
    _fill(
        certificate,
        {
            "CloudFrontDefaultCertificate": True,
            "SSLSupportMethod": "vip",
            "MinimumProtocolVersion": "TLSv1",
            "CertificateSource": "cloudfront",
        },
    )


def fill_distribution_config_defaults(config: Mapping[str, object]) -> dict[str, object]:
    """A new DistributionConfig with what CloudFront fills in when a request leaves it out.

    The input is the dict `ShapeModel.parse` returns for a DistributionConfig; it is not
    modified. Members the request set are kept as they are.
    """
    filled: dict[str, Any] = copy.deepcopy(dict(config))
    _fill(
        filled,
        {
            "Aliases": _empty(),  # [cli-ex1] [moto]
            "DefaultRootObject": "",  # [cli-ex3] (the CLI's ex1 sets one) [moto]
            "OriginGroups": _empty(),  # [cli-ex1]: not sent, returned [moto]
            "CacheBehaviors": _empty(),  # [cli-ex1] [moto]
            "CustomErrorResponses": _empty(),  # [cli-ex1] [moto]
            "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
            "WebACLId": "",  # [cli-ex1] [moto]
            # [cli-ex1]: the CLI sends none, CloudFront returns http2; [api-ref] HttpVersion: "The
            # default value for new web distributions is http2".
            "HttpVersion": "http2",
        },
    )
    logging = filled.get("Logging")
    if not isinstance(logging, dict):
        logging = filled["Logging"] = {}
    # [cli-ex1] [moto]: logging off reads back with all four members.
    _fill(logging, {"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""})
    if filled.get("ConnectionMode") != "tenant-only":
        # [cli-ex1] [moto]: PriceClass_All and IPv6 on when not sent. [cli-ex3]: a multi-tenant
        # distribution (ConnectionMode tenant-only) reads back with neither; [api-ref] both
        # fields "only support standard distributions".
        _fill(filled, {"PriceClass": "PriceClass_All", "IsIPV6Enabled": True})
    _fill_viewer_certificate(filled)
    for origin in _items(filled.get("Origins")):
        _fill_origin(origin)
    default_behavior = filled.get("DefaultCacheBehavior")
    if isinstance(default_behavior, dict):
        _fill_cache_behavior(default_behavior)
    for behavior in _items(filled.get("CacheBehaviors")):
        _fill_cache_behavior(behavior)
    return filled
