"""Realistic configs posted with boto3 to a real server come back identical everywhere.

Identical means: what was sent, with what CloudFront fills in (the literals of
`distribution_configs.FILLED`, written from CloudFront's sample responses, not computed by the
code under test), from CreateDistribution, GetDistribution,
GetDistributionConfig, the ListDistributions summary, and again after an update that sends back
what was read (as Terraform does). Literal spot checks keep the comparison from being vacuous,
and botocore must find every required member of every response.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from importlib import metadata
from typing import Any

import pytest

from tests.support.botocore_capture import missing_required, output_shape, without_empty_items
from tests.support.distribution_configs import ACM_ARN, CONFIGS, FILLED, unique, with_filled
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess

TAGS = [{"Key": "team", "Value": "edge"}, {"Key": "cost-center", "Value": "42"}]

# Literal values that must come back, by config: sent ones and filled-in defaults.
LITERALS: dict[str, list[tuple[tuple[str | int, ...], object]]] = {
    "s3-site": [
        (
            ("Origins", "Items", 0, "S3OriginConfig", "OriginAccessIdentity"),
            "origin-access-identity/cloudfront/E2QWRUHEXAMPLE",
        ),
        (("Origins", "Items", 0, "OriginPath"), "/site"),
        (("ViewerCertificate", "ACMCertificateArn"), ACM_ARN),
        (("ViewerCertificate", "CertificateSource"), "acm"),
        (("ViewerCertificate", "CloudFrontDefaultCertificate"), False),
        (("CacheTagConfig", "HeaderName"), "Edge-Cache-Tag"),
        (("Logging", "Bucket"), "logs.s3.amazonaws.com"),
        (("CacheBehaviors", "Quantity"), 2),
        (
            ("CacheBehaviors", "Items", 0, "ForwardedValues", "QueryStringCacheKeys", "Items"),
            ["w", "h"],
        ),
        (("CacheBehaviors", "Items", 1, "TrustedKeyGroups", "Items"), ["K2JCJMDEHXQW5F"]),
        (("Restrictions", "GeoRestriction", "Items"), ["DE", "FR"]),
        (("Comment",), 'static site <&> "quoted"'),
        (("OriginGroups",), {"Quantity": 0}),
        (("DefaultCacheBehavior", "Compress"), True),
    ],
    "custom-origin": [
        (
            ("Origins", "Items", 0, "CustomOriginConfig", "OriginSslProtocols", "Items"),
            ["TLSv1.1", "TLSv1.2"],
        ),
        (("Origins", "Items", 0, "CustomOriginConfig", "OriginProtocolPolicy"), "https-only"),
        (("Origins", "Items", 0, "CustomOriginConfig", "HTTPSPort"), 8443),
        (("Origins", "Items", 0, "CustomOriginConfig", "OriginReadTimeout"), 60),
        (("Origins", "Items", 0, "CustomOriginConfig", "OriginKeepaliveTimeout"), 30),
        (
            ("Origins", "Items", 0, "CustomHeaders", "Items", 0),
            {"HeaderName": "X-Origin-Secret", "HeaderValue": "s3cr3t"},
        ),
        (("Origins", "Items", 0, "ConnectionTimeout"), 5),
        (("Origins", "Items", 1, "CustomOriginConfig", "OriginReadTimeout"), 30),  # filled
        (("Origins", "Items", 1, "ConnectionAttempts"), 3),  # filled
        (("OriginGroups", "Items", 0, "FailoverCriteria", "StatusCodes", "Items"), [502, 503]),
        (("DefaultCacheBehavior", "MinTTL"), 1),
        (("DefaultCacheBehavior", "DefaultTTL"), 86400),  # filled
        (("Enabled",), False),
        (("Aliases",), {"Quantity": 0}),  # filled
        (("ViewerCertificate", "CloudFrontDefaultCertificate"), True),  # filled
    ],
    "api-and-assets": [
        (("CacheBehaviors", "Quantity"), 3),
        (("CacheBehaviors", "Items", 1, "AllowedMethods", "Quantity"), 7),
        (
            ("CacheBehaviors", "Items", 1, "ForwardedValues", "Headers", "Items"),
            ["Authorization", "Accept"],
        ),
        (("CacheBehaviors", "Items", 2, "PathPattern"), "*.css"),
        (("DefaultCacheBehavior", "DefaultTTL"), 60),
        (("Origins", "Items", 0, "CustomOriginConfig", "HTTPPort"), 8080),
        (("Origins", "Items", 1, "OriginAccessControlId"), "E2ABCDEFGHIJKL"),
        (("ViewerCertificate", "IAMCertificateId"), "ASCAEXAMPLEIAMCERT01"),
        (("ViewerCertificate", "CertificateSource"), "iam"),
        (("HttpVersion",), "http1.1"),
        (("PriceClass",), "PriceClass_200"),
        (("CacheTagConfig", "HeaderName"), "X-Cache-Tags"),
        (("Aliases", "Quantity"), 3),
    ],
    "minimal": [
        (("OriginGroups",), {"Quantity": 0}),
        (("CacheBehaviors",), {"Quantity": 0}),
        (("HttpVersion",), "http2"),
        (("PriceClass",), "PriceClass_All"),
        (("IsIPV6Enabled",), True),
        (("Restrictions", "GeoRestriction"), {"RestrictionType": "none", "Quantity": 0}),
        (("DefaultCacheBehavior", "AllowedMethods", "Items"), ["HEAD", "GET"]),
        (("Logging", "Enabled"), False),
        (("Comment",), ""),
    ],
}
WITH_TAGS = {"s3-site", "api-and-assets"}


def _at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _check_complete(cf: Any, operation: str, response: dict[str, Any]) -> None:
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    assert missing_required(output_shape(cf, operation), body) == [], operation


def _summary(cf: Any, dist_id: str) -> dict[str, Any]:
    pages = cf.get_paginator("list_distributions").paginate()
    for page in pages:
        _check_complete(cf, "ListDistributions", page)
        for summary in page["DistributionList"].get("Items", []):
            if summary["Id"] == dist_id:
                return dict(summary)
    raise AssertionError(f"{dist_id} not listed")


def test_literals_cover_every_config() -> None:
    """Every config of the table has its spot checks and its filled-in members."""
    assert set(LITERALS) == set(CONFIGS) == set(FILLED)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_round_trips(server: ServerProcess, name: str) -> None:
    """Create, get, get config, list summary and a read-back update all return the config."""
    cf = server.client()
    token = uuid.uuid4().hex[:8]
    sent = unique(CONFIGS[name], token)
    expected = without_empty_items(with_filled(sent, FILLED[name]))

    if name in WITH_TAGS:
        created = cf.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": sent, "Tags": {"Items": TAGS}}
        )
        _check_complete(cf, "CreateDistributionWithTags", created)
    else:
        created = cf.create_distribution(DistributionConfig=sent)
        _check_complete(cf, "CreateDistribution", created)
    dist = created["Distribution"]
    dist_id = dist["Id"]
    assert dist["DistributionConfig"] == expected

    for path, literal in LITERALS[name]:
        assert _at(dist["DistributionConfig"], path) == literal, path
    if "Aliases" in sent:  # aliases come back as sent (case kept), made unique per run
        assert dist["DistributionConfig"]["Aliases"]["Items"] == sent["Aliases"]["Items"]
        assert all(token in alias for alias in sent["Aliases"]["Items"])

    cf.get_waiter("distribution_deployed").wait(
        Id=dist_id, WaiterConfig={"Delay": 1, "MaxAttempts": 20}
    )
    got = cf.get_distribution(Id=dist_id)
    _check_complete(cf, "GetDistribution", got)
    assert got["Distribution"] == {**dist, "Status": "Deployed"}
    assert got["ETag"] == created["ETag"]

    got_config = cf.get_distribution_config(Id=dist_id)
    _check_complete(cf, "GetDistributionConfig", got_config)
    assert got_config["DistributionConfig"] == expected

    summary = _summary(cf, dist_id)
    summary_members = output_shape(cf, "ListDistributions").members["DistributionList"]
    summary_shape = summary_members.members["Items"].member
    compared = [m for m in summary_shape.members if m in expected]
    assert {"Origins", "DefaultCacheBehavior", "Aliases", "Comment", "Enabled"} <= set(compared)
    for member in compared:
        assert summary[member] == expected[member], member
    assert (summary["DomainName"], summary["ARN"], summary["Status"]) == (
        dist["DomainName"],
        dist["ARN"],
        "Deployed",
    )
    assert summary["ETag"] == created["ETag"]
    assert summary["Staging"] is False

    if name in WITH_TAGS:
        tags = cf.list_tags_for_resource(Resource=dist["ARN"])["Tags"]["Items"]
        assert sorted(tags, key=lambda t: t["Key"]) == sorted(TAGS, key=lambda t: t["Key"])

    # Send back exactly what was read (Terraform's plan/apply): nothing changes but the ETag.
    updated = cf.update_distribution(
        Id=dist_id, IfMatch=got_config["ETag"], DistributionConfig=got_config["DistributionConfig"]
    )
    _check_complete(cf, "UpdateDistribution", updated)
    assert updated["Distribution"]["DistributionConfig"] == expected
    assert updated["ETag"] != created["ETag"]
    assert cf.get_distribution_config(Id=dist_id)["DistributionConfig"] == expected


_BOTO3_ROUND_TRIP = """
import json, sys
import boto3, botocore
cf = boto3.client(
    "cloudfront", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
)
made = cf.create_distribution(DistributionConfig=json.load(sys.stdin))
got = cf.get_distribution_config(Id=made["Distribution"]["Id"])
print(json.dumps({"botocore": botocore.__version__,
                  "created": made["Distribution"]["DistributionConfig"],
                  "got": got["DistributionConfig"]}))
"""


def test_newest_botocore_members_round_trip(server: ServerProcess) -> None:
    """boto3 on the installed botocore sends OriginHttpVersion; it round-trips."""
    # In a fresh process: once this one has imported awscli, `botocore` is the CLI's older copy.
    config = unique(CONFIGS["minimal"], uuid.uuid4().hex[:8])
    config["Origins"]["Items"][0]["CustomOriginConfig"]["OriginHttpVersion"] = "http2"
    done = subprocess.run(
        [sys.executable, "-c", _BOTO3_ROUND_TRIP, server.url, ACCESS_KEY_ID, SECRET_ACCESS_KEY],
        input=json.dumps(config), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["botocore"] == metadata.version("botocore")
    for read in (result["created"], result["got"]):
        custom = read["Origins"]["Items"][0]["CustomOriginConfig"]
        assert custom["OriginHttpVersion"] == "http2"
