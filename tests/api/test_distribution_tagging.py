"""Tagging distributions with boto3 against a real server: tags on create, Tag, Untag, List,
and CloudFront's tagging errors (InvalidTagging, NoSuchResource, ARN checks)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.distribution_calls import NO_VALIDATION, assert_complete, error_of, fresh_config
from tests.support.server import ServerProcess

V = "2020-05-31"


def test_create_with_tags_and_tagging(server: ServerProcess) -> None:
    """CreateDistributionWithTags stores tags; Tag/Untag/ListTagsForResource change, read them."""
    cf = server.client()
    created = cf.create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": fresh_config(),
            "Tags": {"Items": [{"Key": "team", "Value": "edge"}, {"Key": "env", "Value": "ci"}]},
        }
    )
    assert_complete(cf, "CreateDistributionWithTags", created)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    dist_id = created["Distribution"]["Id"]
    assert created["Location"] == f"{server.url}/{V}/distribution/{dist_id}"
    arn = created["Distribution"]["ARN"]

    def tags() -> dict[str, str]:
        listed = cf.list_tags_for_resource(Resource=arn)
        assert_complete(cf, "ListTagsForResource", listed)
        return {t["Key"]: t.get("Value", "") for t in listed["Tags"].get("Items", [])}

    assert tags() == {"team": "edge", "env": "ci"}
    cf.tag_resource(Resource=arn, Tags={"Items": [{"Key": "env", "Value": "prod"}, {"Key": "x"}]})
    assert tags() == {"team": "edge", "env": "prod", "x": ""}
    cf.untag_resource(Resource=arn, TagKeys={"Items": ["team", "x", "absent"]})
    assert tags() == {"env": "prod"}
    # The model lists NoSuchResource (not NoSuchDistribution) for the tagging operations.
    missing = arn.replace(dist_id, "ENOSUCHDIST123")
    for call in (
        lambda: cf.list_tags_for_resource(Resource=missing),
        lambda: cf.tag_resource(Resource=missing, Tags={"Items": [{"Key": "a", "Value": "b"}]}),
        lambda: cf.untag_resource(Resource=missing, TagKeys={"Items": ["a"]}),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("NoSuchResource", 404)


def _tags(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"Items": [{"Key": k, "Value": v} for k, v in pairs]}


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("empty key", _tags(("", "v"))),
        ("key of 129", _tags(("k" * 129, "v"))),
        ("value of 257", _tags(("k", "v" * 257))),
        ("aws: prefix", _tags(("aws:cloudformation:stack", "v"))),
        ("AWS: prefix", _tags(("AWS:thing", "v"))),
        ("bad key character", _tags(("team#1", "v"))),
        ("bad value character", _tags(("team", "a;b"))),
        ("control character", _tags(("team", "a\tb"))),
        ("repeated key", _tags(("team", "a"), ("team", "b"))),
        ("51 tags", _tags(*((f"k{n}", "v") for n in range(51)))),
    ],
)
def test_invalid_tags_are_invalid_tagging(server: ServerProcess, name: str, tags: Any) -> None:
    """Bad tags are InvalidTagging on Tag and on create-with-tags; nothing changes."""
    cf = server.client(config=NO_VALIDATION)
    created = cf.create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": fresh_config(),
            "Tags": _tags(("ok", "1")),
        }
    )
    arn = created["Distribution"]["ARN"]
    with pytest.raises(ClientError) as caught:
        cf.tag_resource(Resource=arn, Tags=tags)
    assert error_of(caught) == ("InvalidTagging", 400), name
    config = fresh_config()
    with pytest.raises(ClientError) as caught:
        cf.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": tags}
        )
    assert error_of(caught) == ("InvalidTagging", 400), name
    listed = cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"]
    assert listed == [{"Key": "ok", "Value": "1"}]
    # Nothing was stored under the refused request's CallerReference: with good tags it creates.
    made = cf.create_distribution_with_tags(
        DistributionConfigWithTags={"DistributionConfig": config, "Tags": _tags(("ok", "2"))}
    )
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201


def test_tag_limits_hold_across_requests_and_good_tags_pass(server: ServerProcess) -> None:
    """50 tags in all at most; Unicode, spaces and _.:/=+-@ pass; aws: keys never."""
    cf = server.client()
    arn = cf.create_distribution(DistributionConfig=fresh_config())["Distribution"]["ARN"]
    good = _tags(
        ("Ünïcode Team", "Zürich / ops"), ("a_b.c:d/e=f+g-h@i", ""), ("k" * 128, "v" * 256)
    )
    cf.tag_resource(Resource=arn, Tags=good)
    cf.tag_resource(Resource=arn, Tags=_tags(*((f"k{n}", "v") for n in range(47))))
    assert len(cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"]) == 50
    with pytest.raises(ClientError) as caught:
        cf.tag_resource(Resource=arn, Tags=_tags(("one-more", "v")))
    assert error_of(caught) == ("InvalidTagging", 400)
    cf.tag_resource(Resource=arn, Tags=_tags(("k0", "replaced")))  # replacing adds nothing
    with pytest.raises(ClientError) as caught:
        cf.untag_resource(Resource=arn, TagKeys={"Items": ["aws:createdBy"]})
    assert error_of(caught) == ("InvalidTagging", 400)
    listed = {
        t["Key"]: t["Value"] for t in cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"]
    }
    assert len(listed) == 50 and listed["k0"] == "replaced" and listed["Ünïcode Team"]


@pytest.mark.parametrize(
    ("resource", "code", "status"),
    [
        ("not-an-arn", "InvalidArgument", 400),
        ("arn:aws:s3:::bucket", "InvalidArgument", 400),
        ("arn:aws:cloudfront::123456789012:distribution/{id}", "AccessDenied", 403),
        ("arn:aws-cn:cloudfront::000000000000:distribution/{id}", "NoSuchResource", 404),
        ("arn:aws:cloudfront::000000000000:streaming-distribution/{id}", "NoSuchResource", 404),
        ("arn:aws:cloudfront::000000000000:function/{id}", "NoSuchResource", 404),
        ("arn:aws:cloudfront::000000000000:distribution/{id}/extra", "NoSuchResource", 404),
    ],
)
def test_tagging_resource_arn_must_be_one_of_ours(
    server: ServerProcess, resource: str, code: str, status: int
) -> None:
    """A tagging ARN must be CloudFront's, of our account, naming our distribution."""
    cf = server.client(config=NO_VALIDATION)
    dist_id = cf.create_distribution(DistributionConfig=fresh_config())["Distribution"]["Id"]
    arn = resource.format(id=dist_id)
    for call in (
        lambda: cf.list_tags_for_resource(Resource=arn),
        lambda: cf.tag_resource(Resource=arn, Tags=_tags(("a", "b"))),
        lambda: cf.untag_resource(Resource=arn, TagKeys={"Items": ["a"]}),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == (code, status), arn
    ours = f"arn:aws:cloudfront::000000000000:distribution/{dist_id}"
    assert cf.list_tags_for_resource(Resource=ours)["Tags"].get("Items", []) == []


def test_replay_with_other_tags_is_another_request(server: ServerProcess) -> None:
    """Same CallerReference and config, other tags: DistributionAlreadyExists."""
    cf = server.client()
    config = fresh_config()
    tags = _tags(("team", "edge"), ("env", "ci"))
    first = cf.create_distribution_with_tags(
        DistributionConfigWithTags={"DistributionConfig": config, "Tags": tags}
    )["Distribution"]
    again = cf.create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": config,
            "Tags": _tags(("env", "ci"), ("team", "edge")),
        }
    )
    assert again["Distribution"]["Id"] == first["Id"]
    for call in (
        lambda: cf.create_distribution_with_tags(
            DistributionConfigWithTags={
                "DistributionConfig": config,
                "Tags": _tags(("team", "other"), ("env", "ci")),
            }
        ),
        lambda: cf.create_distribution(DistributionConfig=config),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("DistributionAlreadyExists", 409)
