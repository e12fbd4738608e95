"""The Distribution API's errors with boto3 against a real server: CallerReference reuse,
CNAMEs, If-Match, unknown ids, configs CloudFront refuses (on create and update), Staging."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.botocore_capture import offline_client, sent_body
from tests.support.distribution_calls import NO_VALIDATION, error_of, fresh_config
from tests.support.distribution_configs import MINIMAL
from tests.support.envelope import assert_error
from tests.support.server import ServerProcess
from tests.support.signing import SignedClient

V = "2020-05-31"


def test_caller_reference_reuse(server: ServerProcess) -> None:
    """Same CallerReference: same config replays the distribution, another config is a 409."""
    cf = server.client()
    config = fresh_config()
    first = cf.create_distribution(DistributionConfig=config)["Distribution"]
    again = cf.create_distribution(DistributionConfig=copy.deepcopy(config))
    assert again["Distribution"]["Id"] == first["Id"]
    assert again["ETag"] == cf.get_distribution(Id=first["Id"])["ETag"]
    with pytest.raises(ClientError) as caught:
        cf.create_distribution(DistributionConfig={**config, "Comment": "another"})
    assert error_of(caught) == ("DistributionAlreadyExists", 409)


def test_cname_already_exists(server: ServerProcess) -> None:
    """An alias held elsewhere (any case, trailing dot or not) is CNAMEAlreadyExists."""
    cf = server.client()
    alias = f"{uuid.uuid4().hex[:10]}.example.com"
    cf.create_distribution(
        DistributionConfig=fresh_config(Aliases={"Quantity": 1, "Items": [alias]})
    )
    for same in (alias.upper(), f"{alias}.", f"{alias.upper()}."):
        with pytest.raises(ClientError) as caught:
            cf.create_distribution(
                DistributionConfig=fresh_config(Aliases={"Quantity": 1, "Items": [same]})
            )
        assert error_of(caught) == ("CNAMEAlreadyExists", 409), same
    dotted = f"dot.{alias}."
    cf.create_distribution(
        DistributionConfig=fresh_config(Aliases={"Quantity": 1, "Items": [dotted]})
    )
    with pytest.raises(ClientError) as caught:
        cf.create_distribution(
            DistributionConfig=fresh_config(Aliases={"Quantity": 1, "Items": [dotted[:-1]]})
        )
    assert error_of(caught) == ("CNAMEAlreadyExists", 409)
    other = cf.create_distribution(DistributionConfig=fresh_config())
    config = other["Distribution"]["DistributionConfig"]
    with pytest.raises(ClientError) as caught:
        cf.update_distribution(
            Id=other["Distribution"]["Id"],
            IfMatch=other["ETag"],
            DistributionConfig={**config, "Aliases": {"Quantity": 1, "Items": [alias]}},
        )
    assert error_of(caught) == ("CNAMEAlreadyExists", 409)


def test_if_match_rules(server: ServerProcess, api: SignedClient) -> None:
    """Missing If-Match: InvalidIfMatchVersion; stale: PreconditionFailed; enabled: NotDisabled."""
    cf = server.client()
    created = cf.create_distribution(DistributionConfig=fresh_config())
    dist_id, etag = created["Distribution"]["Id"], created["ETag"]
    config = created["Distribution"]["DistributionConfig"]
    body = sent_body(
        offline_client(), "update_distribution", Id=dist_id, IfMatch="x", DistributionConfig=config
    )
    path = f"/{V}/distribution/{dist_id}"
    assert_error(
        api.send("PUT", path + "/config", body),
        400,
        "InvalidIfMatchVersion",
        re.compile(".+"),
        operation="UpdateDistribution",
    )
    assert_error(
        api.send("DELETE", path),
        400,
        "InvalidIfMatchVersion",
        re.compile(".+"),
        operation="DeleteDistribution",
    )
    updated = cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=config)
    for call in (
        lambda: cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=config),
        lambda: cf.delete_distribution(Id=dist_id, IfMatch=etag),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as caught:
        cf.delete_distribution(Id=dist_id, IfMatch=updated["ETag"])
    assert error_of(caught) == ("DistributionNotDisabled", 409)
    assert cf.get_distribution(Id=dist_id)["ETag"] == updated["ETag"]  # nothing changed


def test_no_such_distribution_everywhere(server: ServerProcess) -> None:
    """Every operation on an unknown id is NoSuchDistribution (404)."""
    cf = server.client()
    missing = "ENOSUCHDIST123"
    calls: list[Callable[[], Any]] = [
        lambda: cf.get_distribution(Id=missing),
        lambda: cf.get_distribution_config(Id=missing),
        lambda: cf.update_distribution(Id=missing, IfMatch="E1", DistributionConfig=fresh_config()),
        lambda: cf.delete_distribution(Id=missing, IfMatch="E1"),
        lambda: cf.create_invalidation(
            DistributionId=missing,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/a"]}, "CallerReference": "r"},
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("NoSuchDistribution", 404)


def _origin(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(config)
    origin = config["Origins"]["Items"][0]
    origin.update(changes)
    for key in [k for k, v in origin.items() if v is None]:
        del origin[key]
    return config


def _custom(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(config)
    config["Origins"]["Items"][0]["CustomOriginConfig"].update(changes)
    return config


def _header(config: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    items = [{"HeaderName": name, "HeaderValue": value}]
    return _origin(config, CustomHeaders={"Quantity": 1, "Items": items})


def _aliases(config: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**config, "Aliases": {"Quantity": len(names), "Items": list(names)}}


GET_ONLY = {"Quantity": 1, "Items": ["GET"], "CachedMethods": {"Quantity": 1, "Items": ["GET"]}}


def _error_response(config: dict[str, Any], **response: Any) -> dict[str, Any]:
    """`config` with one custom error response."""
    return {**config, "CustomErrorResponses": {"Quantity": 1, "Items": [response]}}


def _with_behavior(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`config` plus one legacy-settings cache behavior for `/p/*`, changed by `changes`."""
    behavior = {
        "PathPattern": "/p/*",
        "TargetOriginId": "o",
        "ViewerProtocolPolicy": "allow-all",
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        "MinTTL": 0,
        **changes,
    }
    return {**config, "CacheBehaviors": {"Quantity": 1, "Items": [behavior]}}


def _many_origins(config: dict[str, Any], count: int) -> dict[str, Any]:
    first = config["Origins"]["Items"][0]
    items = [first, *({**first, "Id": f"o{n}"} for n in range(1, count))]
    return {**config, "Origins": {"Quantity": count, "Items": items}}


def _many_groups(config: dict[str, Any], count: int) -> dict[str, Any]:
    """`count` origin groups, each failing over from origin `o` to a second origin."""
    config = _many_origins(config, 2)
    members = {"Quantity": 2, "Items": [{"OriginId": "o"}, {"OriginId": "o1"}]}
    failover = {"StatusCodes": {"Quantity": 1, "Items": [502]}}
    items = [
        {"Id": f"g{n}", "FailoverCriteria": failover, "Members": members} for n in range(count)
    ]
    return {**config, "OriginGroups": {"Quantity": count, "Items": items}}


def _forwarding(**values: Any) -> dict[str, Any]:
    """A legacy-settings behavior's ForwardedValues with `values` on top of forwarding nothing."""
    return {"QueryString": False, "Cookies": {"Forward": "none"}, **values}


def _names(prefix: str, count: int) -> dict[str, Any]:
    return {"Quantity": count, "Items": [f"{prefix}{n}" for n in range(count)]}


def _many_behaviors(config: dict[str, Any], count: int) -> dict[str, Any]:
    (behavior,) = _with_behavior(config)["CacheBehaviors"]["Items"]
    items = [{**behavior, "PathPattern": f"/p{n}/*"} for n in range(count)]
    return {**config, "CacheBehaviors": {"Quantity": count, "Items": items}}


@pytest.mark.parametrize(
    ("name", "make", "code", "status"),
    [
        (
            "bad origin domain",
            lambda: _origin(fresh_config(), DomainName="not a host"),
            "InvalidOrigin",
            400,
        ),
        ("bad enum", lambda: fresh_config(PriceClass="PriceClass_Cheap"), "InvalidArgument", 400),
        (
            "bad nested enum",
            lambda: {
                **fresh_config(),
                "DefaultCacheBehavior": {
                    **MINIMAL["DefaultCacheBehavior"],
                    "ViewerProtocolPolicy": "sometimes",
                },
            },
            "InvalidArgument",
            400,
        ),
        (
            "missing required member",
            lambda: {k: v for k, v in fresh_config().items() if k != "Comment"},
            "MalformedXML",
            400,
        ),
        (
            "quantity disagrees",
            lambda: fresh_config(Aliases={"Quantity": 2, "Items": ["q.example.com"]}),
            "InconsistentQuantities",
            400,
        ),
        (
            "unknown target origin",
            lambda: {
                **fresh_config(),
                "DefaultCacheBehavior": {**MINIMAL["DefaultCacheBehavior"], "TargetOriginId": "x"},
            },
            "NoSuchOrigin",
            404,
        ),
        (
            "no origin type",
            lambda: _origin(fresh_config(), CustomOriginConfig=None),
            "InvalidOrigin",
            400,
        ),
        (
            "two origin types",
            lambda: _origin(fresh_config(), S3OriginConfig={"OriginAccessIdentity": ""}),
            "InvalidOrigin",
            400,
        ),
        ("port 22", lambda: _custom(fresh_config(), HTTPPort=22), "InvalidArgument", 400),
        ("port 70000", lambda: _custom(fresh_config(), HTTPSPort=70000), "InvalidArgument", 400),
        (
            "read timeout",
            lambda: _custom(fresh_config(), OriginReadTimeout=0),
            "InvalidOriginReadTimeout",
            400,
        ),
        (
            "keep-alive timeout",
            lambda: _custom(fresh_config(), OriginKeepaliveTimeout=500),
            "InvalidOriginKeepaliveTimeout",
            400,
        ),
        ("header name", lambda: _header(fresh_config(), "X Bad", "1"), "InvalidArgument", 400),
        (
            "header CR LF",
            lambda: _header(fresh_config(), "X-Ok", "1\r\nX-No: 2"),
            "InvalidArgument",
            400,
        ),
        (
            "Host header",
            lambda: _header(fresh_config(), "Host", "h.example"),
            "InvalidArgument",
            400,
        ),
        (
            "X-Amz- header",
            lambda: _header(fresh_config(), "x-amz-acl", "1"),
            "InvalidArgument",
            400,
        ),
        (
            "TTL order in a cache behavior",
            lambda: _with_behavior(fresh_config(), MinTTL=100, DefaultTTL=10, MaxTTL=1000),
            "InvalidTTLOrder",
            400,
        ),
        (
            "custom error response for 200",
            lambda: _error_response(fresh_config(), ErrorCode=200),
            "InvalidErrorCode",
            400,
        ),
        (
            "custom error response answering 999",
            lambda: _error_response(
                fresh_config(), ErrorCode=404, ResponseCode="999", ResponsePagePath="/404.html"
            ),
            "InvalidResponseCode",
            400,
        ),
        (
            "custom error page without a slash",
            lambda: _error_response(
                fresh_config(), ErrorCode=404, ResponseCode="404", ResponsePagePath="404.html"
            ),
            "InvalidRelativePath",
            400,
        ),
        (
            "AllowedMethods GET only",
            lambda: _with_behavior(fresh_config(), AllowedMethods=GET_ONLY),
            "InvalidArgument",
            400,
        ),
        (
            "MaxTTL past 100 years",
            lambda: _with_behavior(fresh_config(), MaxTTL=3153600001),
            "InvalidArgument",
            400,
        ),
        (
            "behavior with neither policy nor ForwardedValues",
            lambda: {
                **fresh_config(),
                "DefaultCacheBehavior": {
                    "TargetOriginId": "o",
                    "ViewerProtocolPolicy": "allow-all",
                },
            },
            "InvalidArgument",
            400,
        ),
        (
            "behavior targeting an unknown origin",
            lambda: _with_behavior(fresh_config(), TargetOriginId="nowhere"),
            "NoSuchOrigin",
            404,
        ),
        (
            "alias not a host name",
            lambda: _aliases(fresh_config(), "not a host"),
            "InvalidArgument",
            400,
        ),
        (
            "alias twice",
            lambda: _aliases(fresh_config(), "Twice.example.com", "twice.example.com."),
            "InvalidArgument",
            400,
        ),
        (
            "101 aliases",
            lambda: _aliases(fresh_config(), *(f"a{n}.example.com" for n in range(101))),
            "TooManyDistributionCNAMEs",
            400,
        ),
        ("Comment of 129", lambda: fresh_config(Comment="c" * 129), "InvalidArgument", 400),
        ("empty CallerReference", lambda: fresh_config(CallerReference=""), "InvalidArgument", 400),
        (
            "101 origins",
            lambda: _many_origins(fresh_config(), 101),
            "TooManyOrigins",
            400,
        ),
        (
            "76 cache behaviors",
            lambda: _many_behaviors(fresh_config(), 76),
            "TooManyCacheBehaviors",
            400,
        ),
        (
            "11 forwarded headers",
            lambda: _with_behavior(
                fresh_config(), ForwardedValues=_forwarding(Headers=_names("X-H", 11))
            ),
            "TooManyHeadersInForwardedValues",
            400,
        ),
        (
            "11 origin groups",
            lambda: _many_groups(fresh_config(), 11),
            "TooManyOriginGroupsPerDistribution",
            400,
        ),
        (
            "11 whitelisted cookies",
            lambda: _with_behavior(
                fresh_config(),
                ForwardedValues=_forwarding(
                    Cookies={"Forward": "whitelist", "WhitelistedNames": _names("c", 11)}
                ),
            ),
            "TooManyCookieNamesInWhiteList",
            400,
        ),
        (
            "11 query string cache keys",
            lambda: _with_behavior(
                fresh_config(),
                ForwardedValues=_forwarding(QueryString=True, QueryStringCacheKeys=_names("q", 11)),
            ),
            "TooManyQueryStringParameters",
            400,
        ),
        (
            "continuous deployment policy",
            lambda: fresh_config(
                ContinuousDeploymentPolicyId="a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
            ),
            "NoSuchContinuousDeploymentPolicy",
            404,
        ),
    ],
)
def test_bad_configs_on_create(
    server: ServerProcess, name: str, make: Callable[[], dict[str, Any]], code: str, status: int
) -> None:
    """A config CloudFront refuses is refused with its code and status (boto3, no validation)."""
    cf = server.client(config=NO_VALIDATION)
    with pytest.raises(ClientError) as caught:
        cf.create_distribution(DistributionConfig=make())
    assert error_of(caught) == (code, status), name


def test_not_xml_and_wrong_root_are_malformed(server: ServerProcess, api: SignedClient) -> None:
    """A body that is not XML, another document, or one in a namespace other than CloudFront's
    is MalformedXML."""
    for body in (b"this is not xml", b"<DistributionConfig><Comment>", b"<Tags/>"):
        assert_error(
            api.send("POST", f"/{V}/distribution", body),
            400,
            "MalformedXML",
            re.compile(".+"),
            operation="CreateDistribution",
        )
    foreign = b'<DistributionConfig xmlns="http://evil.example/"><Comment/></DistributionConfig>'
    assert_error(
        api.send("POST", f"/{V}/distribution", foreign),
        400,
        "MalformedXML",
        re.compile(r"The namespace 'http://evil\.example/' of 'DistributionConfig' is not a .+"),
        operation="CreateDistribution",
    )
    mixed = (
        f'<DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/{V}/">'
        '<e:Comment xmlns:e="http://evil.example/"/></DistributionConfig>'
    ).encode()
    assert_error(
        api.send("POST", f"/{V}/distribution", mixed),
        400,
        "MalformedXML",
        re.compile(r"The element 'Comment' is in the namespace 'http://evil\.example/', .+"),
        operation="CreateDistribution",
    )


def test_bad_updates(server: ServerProcess) -> None:
    """Changing CallerReference or Staging, or a bad config, is refused; nothing changes."""
    cf = server.client(config=NO_VALIDATION)
    created = cf.create_distribution(DistributionConfig=fresh_config())
    dist_id, etag = created["Distribution"]["Id"], created["ETag"]
    config = created["Distribution"]["DistributionConfig"]
    refused = [
        ({**config, "CallerReference": "another"}, "IllegalUpdate", 400),
        (_origin(config, DomainName="bad domain!"), "InvalidOrigin", 400),
        (
            {
                **config,
                "DefaultCacheBehavior": {**config["DefaultCacheBehavior"], "TargetOriginId": "x"},
            },
            "NoSuchOrigin",
            404,
        ),
        ({**config, "HttpVersion": "http9"}, "InvalidArgument", 400),
        ({**config, "Staging": True}, "IllegalUpdate", 400),
        (_with_behavior(config, MinTTL=5, DefaultTTL=1), "InvalidTTLOrder", 400),
        (_header(config, "Transfer-Encoding", "chunked"), "InvalidArgument", 400),
        (_custom(config, HTTPPort=8), "InvalidArgument", 400),
        (_error_response(config, ErrorCode=302), "InvalidErrorCode", 400),
    ]
    for bad, code, status in refused:
        with pytest.raises(ClientError) as caught:
            cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=bad)
        assert error_of(caught) == (code, status)
    assert cf.get_distribution(Id=dist_id)["ETag"] == etag


def test_staging_distribution_stays_staging(server: ServerProcess) -> None:
    """A staging distribution stays staging (IllegalUpdate), takes other changes."""
    cf = server.client()
    created = cf.create_distribution(DistributionConfig=fresh_config(Staging=True))
    dist_id, etag = created["Distribution"]["Id"], created["ETag"]
    config = created["Distribution"]["DistributionConfig"]
    assert config["Staging"] is True
    with pytest.raises(ClientError) as caught:
        cf.update_distribution(
            Id=dist_id, IfMatch=etag, DistributionConfig={**config, "Staging": False}
        )
    assert error_of(caught) == ("IllegalUpdate", 400)
    changed = cf.update_distribution(
        Id=dist_id, IfMatch=etag, DistributionConfig={**config, "Comment": "still staging"}
    )
    assert changed["Distribution"]["DistributionConfig"]["Staging"] is True
    summary = next(
        s
        for p in cf.get_paginator("list_distributions").paginate()
        for s in p["DistributionList"].get("Items", [])
        if s["Id"] == dist_id
    )
    assert summary["Staging"] is True
