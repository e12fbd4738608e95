"""boto3 against a real server drives a distribution's whole life, and every error of issue 3."""

from __future__ import annotations

import asyncio
import copy
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from invalidator.cli.local import api_client
from invalidator.cli.origin_config import config_for_origin
from invalidator.settings import Settings, load_settings
from invalidator.store.sqlite import SqliteStore
from tests.support.botocore_capture import missing_required, offline_client, sent_body
from tests.support.distribution_configs import MINIMAL, unique
from tests.support.envelope import assert_error
from tests.support.origin import Origin
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess
from tests.support.signing import SignedClient

StartServer = Callable[..., ServerProcess]
NO_VALIDATION = Config(parameter_validation=False, retries={"total_max_attempts": 1})
SUFFIX = Settings().domain_suffix
V = "2020-05-31"


def _config(**changes: Any) -> dict[str, Any]:
    """A minimal valid config with a fresh CallerReference (the session server is shared)."""
    config = unique(MINIMAL, uuid.uuid4().hex[:10])
    config.update(changes)
    return config


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _store_in_progress(data_dir: Path, distribution_id: str) -> int:
    async def count() -> int:
        store = SqliteStore(data_dir / "invalidator.db")
        try:
            return await store.count_in_progress(distribution_id)
        finally:
            await store.close()

    return asyncio.run(count())


def _complete(cf: Any, operation: str, response: dict[str, Any]) -> None:
    output = cf.meta.service_model.operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    assert missing_required(output, body) == [], operation


# --- the life cycle --------------------------------------------------------------------------


def _invalidate_and_wait(cf: Any, dist_id: str, path: str) -> dict[str, Any]:
    made = cf.create_invalidation(
        DistributionId=dist_id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": [path]}, "CallerReference": path},
    )
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    cf.get_waiter("invalidation_completed").wait(
        DistributionId=dist_id,
        Id=made["Invalidation"]["Id"],
        WaiterConfig={"Delay": 1, "MaxAttempts": 20},
    )
    got: dict[str, Any] = cf.get_invalidation(DistributionId=dist_id, Id=made["Invalidation"]["Id"])
    return got["Invalidation"]


def test_create_read_update_disable_delete(server: ServerProcess) -> None:
    """The whole life with boto3: create (201, Location, ETag, computed fields), get, get config,
    update (a stale and a missing If-Match refused first), invalidate, delete refused while
    enabled, disable, invalidate, delete; then NoSuchDistribution everywhere, invalidating too."""
    cf = server.client()
    loose = server.client(config=NO_VALIDATION)  # may leave out IfMatch
    config = _config(Comment="life cycle")
    created = cf.create_distribution(DistributionConfig=config)
    _complete(cf, "CreateDistribution", created)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    dist = created["Distribution"]
    dist_id = dist["Id"]
    assert re.fullmatch(r"E[A-Z0-9]{13}", dist_id)
    assert created["Location"] == f"{server.url}/{V}/distribution/{dist_id}"
    assert created["ETag"]
    assert dist["ARN"] == f"arn:aws:cloudfront::000000000000:distribution/{dist_id}"
    assert dist["DomainName"] == f"{dist_id.lower()}.{SUFFIX}"
    assert dist["Status"] in ("InProgress", "Deployed")  # the built-in edge picks it up
    assert dist["InProgressInvalidationBatches"] == 0
    assert dist["DistributionConfig"]["Comment"] == "life cycle"
    assert dist["DistributionConfig"]["CallerReference"] == config["CallerReference"]

    cf.get_waiter("distribution_deployed").wait(
        Id=dist_id, WaiterConfig={"Delay": 1, "MaxAttempts": 20}
    )
    got = cf.get_distribution(Id=dist_id)
    _complete(cf, "GetDistribution", got)
    assert got["ETag"] == created["ETag"]
    assert got["Distribution"] == {**dist, "Status": "Deployed"}
    got_config = cf.get_distribution_config(Id=dist_id)
    _complete(cf, "GetDistributionConfig", got_config)
    assert got_config["ETag"] == created["ETag"]
    assert got_config["DistributionConfig"] == dist["DistributionConfig"]

    changed = {**got_config["DistributionConfig"], "Comment": "changed"}
    with pytest.raises(ClientError) as caught:
        cf.update_distribution(Id=dist_id, IfMatch="ESTALEETAG0000", DistributionConfig=changed)
    assert _error(caught) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as caught:
        loose.update_distribution(Id=dist_id, DistributionConfig=changed)
    assert _error(caught) == ("InvalidIfMatchVersion", 400)
    assert cf.get_distribution(Id=dist_id)["ETag"] == created["ETag"]  # neither changed it

    updated = cf.update_distribution(
        Id=dist_id, IfMatch=got_config["ETag"], DistributionConfig=changed
    )
    _complete(cf, "UpdateDistribution", updated)
    assert updated["ETag"] != created["ETag"]
    assert updated["Distribution"]["DistributionConfig"]["Comment"] == "changed"
    assert updated["Distribution"]["LastModifiedTime"] > dist["LastModifiedTime"]
    assert updated["Distribution"]["Id"] == dist_id
    assert _invalidate_and_wait(cf, dist_id, "/after-update")["Status"] == "Completed"

    with pytest.raises(ClientError) as caught:
        cf.delete_distribution(Id=dist_id, IfMatch=updated["ETag"])
    assert _error(caught) == ("DistributionNotDisabled", 409)

    disabled = cf.update_distribution(
        Id=dist_id, IfMatch=updated["ETag"], DistributionConfig={**changed, "Enabled": False}
    )
    assert disabled["ETag"] not in (created["ETag"], updated["ETag"])
    assert disabled["Distribution"]["DistributionConfig"]["Enabled"] is False
    assert (
        disabled["Distribution"]["LastModifiedTime"] > updated["Distribution"]["LastModifiedTime"]
    )
    assert cf.get_distribution(Id=dist_id)["ETag"] == disabled["ETag"]
    assert _invalidate_and_wait(cf, dist_id, "/while-disabled")["Status"] == "Completed"
    listed = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"]["Items"]
    assert len(listed) == 2

    deleted = cf.delete_distribution(Id=dist_id, IfMatch=disabled["ETag"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    gone: list[Callable[[], Any]] = [
        lambda: cf.get_distribution(Id=dist_id),
        lambda: cf.get_distribution_config(Id=dist_id),
        lambda: cf.update_distribution(
            Id=dist_id, IfMatch=disabled["ETag"], DistributionConfig=changed
        ),
        lambda: cf.delete_distribution(Id=dist_id, IfMatch=disabled["ETag"]),
        lambda: cf.list_invalidations(DistributionId=dist_id),
        lambda: cf.create_invalidation(
            DistributionId=dist_id,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/x"]}, "CallerReference": "z"},
        ),
    ]
    for call in gone:
        with pytest.raises(ClientError) as caught:
            call()
        assert _error(caught) == ("NoSuchDistribution", 404)


def test_invalidate_on_api_created_distribution(server: ServerProcess) -> None:
    """An API-made distribution takes invalidations; its batch count agrees with the store."""
    cf = server.client()
    dist_id = cf.create_distribution(DistributionConfig=_config())["Distribution"]["Id"]
    made = cf.create_invalidation(
        DistributionId=dist_id,
        InvalidationBatch={
            "Paths": {"Quantity": 2, "Items": ["/a", "/b/*"]},
            "CallerReference": "1",
        },
    )
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    inv_id = made["Invalidation"]["Id"]
    cf.get_waiter("invalidation_completed").wait(
        DistributionId=dist_id, Id=inv_id, WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    count = cf.get_distribution(Id=dist_id)["Distribution"]["InProgressInvalidationBatches"]
    assert isinstance(count, int) and count >= 0
    assert count == _store_in_progress(server.data_dir, dist_id) == 0
    listed = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"]
    assert [s["Id"] for s in listed["Items"]] == [inv_id]


def test_in_progress_batches_are_really_counted(tmp_path: Path, start_server: StartServer) -> None:
    """Batches left InProgress (written with no server running) are counted, then drop to 0."""
    data = tmp_path / "data"
    settings = load_settings(
        {"data_dir": str(data)},
        environ={
            "INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        },
    )

    async def offline() -> tuple[str, int]:
        # The in-process API on the store runs no propagation: its batches stay InProgress.
        async with api_client(settings) as client:
            made = await client.create_distribution(_config())
            for n in range(3):
                await client.create_invalidation(made["Id"], [f"/{n}"], f"ref-{n}")
            got, _ = await client.get_distribution(made["Id"])
        return str(made["Id"]), int(got["InProgressInvalidationBatches"])

    dist_id, counted = asyncio.run(offline())
    assert counted == 3 == _store_in_progress(data, dist_id)

    # Resumes the InProgress batches; with no edges it completes them, and configs are
    # Deployed at once.
    srv = start_server(data_dir=data, args=["--edge-port", "-1"])
    cf = srv.client()
    fresh = cf.create_distribution(DistributionConfig=_config())["Distribution"]
    assert fresh["Status"] == "Deployed"
    listed = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"]["Items"]
    for summary in listed:
        cf.get_waiter("invalidation_completed").wait(
            DistributionId=dist_id, Id=summary["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
        )
    assert cf.get_distribution(Id=dist_id)["Distribution"]["InProgressInvalidationBatches"] == 0
    assert _store_in_progress(data, dist_id) == 0


def test_create_with_tags_and_tagging(server: ServerProcess) -> None:
    """CreateDistributionWithTags stores tags; Tag/Untag/ListTagsForResource change, read them."""
    cf = server.client()
    created = cf.create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": _config(),
            "Tags": {"Items": [{"Key": "team", "Value": "edge"}, {"Key": "env", "Value": "ci"}]},
        }
    )
    _complete(cf, "CreateDistributionWithTags", created)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    dist_id = created["Distribution"]["Id"]
    assert created["Location"] == f"{server.url}/{V}/distribution/{dist_id}"
    arn = created["Distribution"]["ARN"]

    def tags() -> dict[str, str]:
        listed = cf.list_tags_for_resource(Resource=arn)
        _complete(cf, "ListTagsForResource", listed)
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
        assert _error(caught) == ("NoSuchResource", 404)


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
    """Tags CloudFront refuses are InvalidTagging on TagResource and CreateDistributionWithTags;
    nothing is changed or created."""
    cf = server.client(config=NO_VALIDATION)
    created = cf.create_distribution_with_tags(
        DistributionConfigWithTags={"DistributionConfig": _config(), "Tags": _tags(("ok", "1"))}
    )
    arn = created["Distribution"]["ARN"]
    with pytest.raises(ClientError) as caught:
        cf.tag_resource(Resource=arn, Tags=tags)
    assert _error(caught) == ("InvalidTagging", 400), name
    config = _config()
    with pytest.raises(ClientError) as caught:
        cf.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": tags}
        )
    assert _error(caught) == ("InvalidTagging", 400), name
    listed = cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"]
    assert listed == [{"Key": "ok", "Value": "1"}]
    # Nothing was stored under the refused request's CallerReference: with good tags it creates.
    made = cf.create_distribution_with_tags(
        DistributionConfigWithTags={"DistributionConfig": config, "Tags": _tags(("ok", "2"))}
    )
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201


def test_tag_limits_hold_across_requests_and_good_tags_pass(server: ServerProcess) -> None:
    """50 tags in all is the limit (adding a 51st is InvalidTagging); Unicode letters, spaces
    and `_ . : / = + - @` are fine; an `aws:` key cannot be removed either."""
    cf = server.client()
    arn = cf.create_distribution(DistributionConfig=_config())["Distribution"]["ARN"]
    good = _tags(
        ("Ünïcode Team", "Zürich / ops"), ("a_b.c:d/e=f+g-h@i", ""), ("k" * 128, "v" * 256)
    )
    cf.tag_resource(Resource=arn, Tags=good)
    cf.tag_resource(Resource=arn, Tags=_tags(*((f"k{n}", "v") for n in range(47))))
    assert len(cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"]) == 50
    with pytest.raises(ClientError) as caught:
        cf.tag_resource(Resource=arn, Tags=_tags(("one-more", "v")))
    assert _error(caught) == ("InvalidTagging", 400)
    cf.tag_resource(Resource=arn, Tags=_tags(("k0", "replaced")))  # replacing adds nothing
    with pytest.raises(ClientError) as caught:
        cf.untag_resource(Resource=arn, TagKeys={"Items": ["aws:createdBy"]})
    assert _error(caught) == ("InvalidTagging", 400)
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
    """The ARN must be a CloudFront ARN (InvalidArgument) of our account (AccessDenied) naming
    one of our distributions (NoSuchResource) on Tag, Untag and ListTagsForResource."""
    cf = server.client(config=NO_VALIDATION)
    dist_id = cf.create_distribution(DistributionConfig=_config())["Distribution"]["Id"]
    arn = resource.format(id=dist_id)
    for call in (
        lambda: cf.list_tags_for_resource(Resource=arn),
        lambda: cf.tag_resource(Resource=arn, Tags=_tags(("a", "b"))),
        lambda: cf.untag_resource(Resource=arn, TagKeys={"Items": ["a"]}),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert _error(caught) == (code, status), arn
    ours = f"arn:aws:cloudfront::000000000000:distribution/{dist_id}"
    assert cf.list_tags_for_resource(Resource=ours)["Tags"].get("Items", []) == []


def test_replay_with_other_tags_is_another_request(server: ServerProcess) -> None:
    """CreateDistributionWithTags replayed with the same CallerReference and config but other
    (or no) tags is DistributionAlreadyExists; the same tags in another order replay it."""
    cf = server.client()
    config = _config()
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
        assert _error(caught) == ("DistributionAlreadyExists", 409)


def test_list_distributions_pages_with_marker_and_paginator(server: ServerProcess) -> None:
    """MaxItems/Marker pages (in Id order) and boto3's paginator both walk every distribution."""
    cf = server.client()
    mine = [
        cf.create_distribution(DistributionConfig=_config())["Distribution"]["Id"] for _ in range(3)
    ]
    seen: list[str] = []
    marker = ""
    pages = 0
    while True:
        page = cf.list_distributions(MaxItems="2", Marker=marker)
        _complete(cf, "ListDistributions", page)
        listed = page["DistributionList"]
        assert listed["MaxItems"] == 2 and listed["Marker"] == marker
        items = listed.get("Items", [])
        assert listed["Quantity"] == len(items) <= 2
        seen += [s["Id"] for s in items]
        pages += 1
        if not listed["IsTruncated"]:
            assert "NextMarker" not in listed
            break
        assert listed["NextMarker"] == items[-1]["Id"]
        marker = listed["NextMarker"]
    assert pages >= 2
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen) and set(mine) <= set(seen)  # Id order, like CloudFront

    walked = [
        s["Id"]
        for p in cf.get_paginator("list_distributions").paginate(PaginationConfig={"PageSize": 2})
        for s in p["DistributionList"].get("Items", [])
    ]
    assert walked == seen
    summary = next(
        s for s in cf.list_distributions()["DistributionList"]["Items"] if s["Id"] == mine[0]
    )
    assert summary["ETag"] == cf.get_distribution(Id=mine[0])["ETag"]

    with pytest.raises(ClientError) as caught:
        cf.list_distributions(Marker="ENOTAMARKER0000")
    assert _error(caught) == ("InvalidArgument", 400)


def test_paging_survives_deletes_between_pages(start_server: StartServer) -> None:
    """boto3's paginator walks on when the marker's distribution (and one not reached yet) is
    deleted between pages: every other distribution once, none deleted, in Id order."""
    cf = start_server(args=["--edge-port", "-1"]).client()
    made = {}
    for _ in range(7):
        created = cf.create_distribution(DistributionConfig=_config(Enabled=False))
        made[created["Distribution"]["Id"]] = created["ETag"]
    ids = sorted(made)
    pages = cf.get_paginator("list_distributions").paginate(PaginationConfig={"PageSize": 2})
    walked: list[str] = []
    for number, page in enumerate(pages):
        listed = page["DistributionList"]
        walked += [s["Id"] for s in listed.get("Items", [])]
        if number == 0:
            assert listed["NextMarker"] == ids[1]
            for gone in (ids[1], ids[4]):  # the marker itself, and one on a later page
                cf.delete_distribution(Id=gone, IfMatch=made[gone])
    assert walked == [ids[0], ids[1], ids[2], ids[3], ids[5], ids[6]]
    direct = cf.list_distributions(Marker=ids[1], MaxItems="100")["DistributionList"]
    assert [s["Id"] for s in direct["Items"]] == [ids[2], ids[3], ids[5], ids[6]]


def test_seed_version_uris_serve_distributions(server: ServerProcess, api: SignedClient) -> None:
    """The 2013-05-12 URIs read a distribution, answering in that version's namespace."""
    cf = server.client()
    dist_id = cf.create_distribution(DistributionConfig=_config())["Distribution"]["Id"]
    got = api.send("GET", f"/2013-05-12/distribution/{dist_id}")
    assert got.status_code == 200
    assert b'xmlns="http://cloudfront.amazonaws.com/doc/2013-05-12/"' in got.content
    assert got.headers["etag"] == cf.get_distribution(Id=dist_id)["ETag"]
    config = api.send("GET", f"/2013-05-12/distribution/{dist_id}/config")
    assert config.status_code == 200 and b"<DistributionConfig" in config.content
    body = sent_body(offline_client(), "create_distribution", DistributionConfig=_config())
    created = api.send("POST", "/2013-05-12/distribution", body)
    assert created.status_code == 201, created.text
    new_id = re.search(rb"<Id>(E[A-Z0-9]+)</Id>", created.content)
    assert new_id is not None
    location = f"{server.url}/2013-05-12/distribution/{new_id.group(1).decode()}"
    assert created.headers["location"] == location


def test_concurrent_identical_creates_make_one_distribution(server: ServerProcess) -> None:
    """SDK retries racing with the same CallerReference and config all get one distribution."""
    config = _config()
    clients = [server.client() for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda cf: cf.create_distribution(DistributionConfig=config), clients)
        )
    assert len({r["Distribution"]["Id"] for r in results}) == 1
    ref = config["CallerReference"]
    listed = [
        s["Id"]
        for p in clients[0].get_paginator("list_distributions").paginate()
        for s in p["DistributionList"].get("Items", [])
        if s["Id"] == results[0]["Distribution"]["Id"]
    ]
    assert len(listed) == 1, ref


# --- errors ----------------------------------------------------------------------------------


def test_caller_reference_reuse(server: ServerProcess) -> None:
    """Same CallerReference: same config replays the distribution, another config is a 409."""
    cf = server.client()
    config = _config()
    first = cf.create_distribution(DistributionConfig=config)["Distribution"]
    again = cf.create_distribution(DistributionConfig=copy.deepcopy(config))
    assert again["Distribution"]["Id"] == first["Id"]
    assert again["ETag"] == cf.get_distribution(Id=first["Id"])["ETag"]
    with pytest.raises(ClientError) as caught:
        cf.create_distribution(DistributionConfig={**config, "Comment": "another"})
    assert _error(caught) == ("DistributionAlreadyExists", 409)


def test_cname_already_exists(server: ServerProcess) -> None:
    """An alias another distribution holds (any case, with or without a trailing dot) is
    CNAMEAlreadyExists on create and update."""
    cf = server.client()
    alias = f"{uuid.uuid4().hex[:10]}.example.com"
    cf.create_distribution(DistributionConfig=_config(Aliases={"Quantity": 1, "Items": [alias]}))
    for same in (alias.upper(), f"{alias}.", f"{alias.upper()}."):
        with pytest.raises(ClientError) as caught:
            cf.create_distribution(
                DistributionConfig=_config(Aliases={"Quantity": 1, "Items": [same]})
            )
        assert _error(caught) == ("CNAMEAlreadyExists", 409), same
    dotted = f"dot.{alias}."
    cf.create_distribution(DistributionConfig=_config(Aliases={"Quantity": 1, "Items": [dotted]}))
    with pytest.raises(ClientError) as caught:
        cf.create_distribution(
            DistributionConfig=_config(Aliases={"Quantity": 1, "Items": [dotted[:-1]]})
        )
    assert _error(caught) == ("CNAMEAlreadyExists", 409)
    other = cf.create_distribution(DistributionConfig=_config())
    config = other["Distribution"]["DistributionConfig"]
    with pytest.raises(ClientError) as caught:
        cf.update_distribution(
            Id=other["Distribution"]["Id"],
            IfMatch=other["ETag"],
            DistributionConfig={**config, "Aliases": {"Quantity": 1, "Items": [alias]}},
        )
    assert _error(caught) == ("CNAMEAlreadyExists", 409)


def test_if_match_rules(server: ServerProcess, api: SignedClient) -> None:
    """Missing If-Match: InvalidIfMatchVersion; stale: PreconditionFailed; enabled: NotDisabled."""
    cf = server.client()
    created = cf.create_distribution(DistributionConfig=_config())
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
        assert _error(caught) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as caught:
        cf.delete_distribution(Id=dist_id, IfMatch=updated["ETag"])
    assert _error(caught) == ("DistributionNotDisabled", 409)
    assert cf.get_distribution(Id=dist_id)["ETag"] == updated["ETag"]  # nothing changed


def test_no_such_distribution_everywhere(server: ServerProcess) -> None:
    """Every operation on an unknown id is NoSuchDistribution (404)."""
    cf = server.client()
    missing = "ENOSUCHDIST123"
    calls: list[Callable[[], Any]] = [
        lambda: cf.get_distribution(Id=missing),
        lambda: cf.get_distribution_config(Id=missing),
        lambda: cf.update_distribution(Id=missing, IfMatch="E1", DistributionConfig=_config()),
        lambda: cf.delete_distribution(Id=missing, IfMatch="E1"),
        lambda: cf.create_invalidation(
            DistributionId=missing,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/a"]}, "CallerReference": "r"},
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        assert _error(caught) == ("NoSuchDistribution", 404)


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


@pytest.mark.parametrize(
    ("name", "make", "code", "status"),
    [
        (
            "bad origin domain",
            lambda: _origin(_config(), DomainName="not a host"),
            "InvalidOrigin",
            400,
        ),
        ("bad enum", lambda: _config(PriceClass="PriceClass_Cheap"), "InvalidArgument", 400),
        (
            "bad nested enum",
            lambda: {
                **_config(),
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
            lambda: {k: v for k, v in _config().items() if k != "Comment"},
            "MalformedXML",
            400,
        ),
        (
            "quantity disagrees",
            lambda: _config(Aliases={"Quantity": 2, "Items": ["q.example.com"]}),
            "InconsistentQuantities",
            400,
        ),
        (
            "unknown target origin",
            lambda: {
                **_config(),
                "DefaultCacheBehavior": {**MINIMAL["DefaultCacheBehavior"], "TargetOriginId": "x"},
            },
            "NoSuchOrigin",
            404,
        ),
        (
            "no origin type",
            lambda: _origin(_config(), CustomOriginConfig=None),
            "InvalidOrigin",
            400,
        ),
        (
            "two origin types",
            lambda: _origin(_config(), S3OriginConfig={"OriginAccessIdentity": ""}),
            "InvalidOrigin",
            400,
        ),
        ("port 22", lambda: _custom(_config(), HTTPPort=22), "InvalidArgument", 400),
        ("port 70000", lambda: _custom(_config(), HTTPSPort=70000), "InvalidArgument", 400),
        (
            "read timeout",
            lambda: _custom(_config(), OriginReadTimeout=0),
            "InvalidOriginReadTimeout",
            400,
        ),
        (
            "keep-alive timeout",
            lambda: _custom(_config(), OriginKeepaliveTimeout=500),
            "InvalidOriginKeepaliveTimeout",
            400,
        ),
        ("header name", lambda: _header(_config(), "X Bad", "1"), "InvalidArgument", 400),
        (
            "header CR LF",
            lambda: _header(_config(), "X-Ok", "1\r\nX-No: 2"),
            "InvalidArgument",
            400,
        ),
        ("Host header", lambda: _header(_config(), "Host", "h.example"), "InvalidArgument", 400),
        ("X-Amz- header", lambda: _header(_config(), "x-amz-acl", "1"), "InvalidArgument", 400),
        (
            "TTL order in a cache behavior",
            lambda: _with_behavior(_config(), MinTTL=100, DefaultTTL=10, MaxTTL=1000),
            "InvalidTTLOrder",
            400,
        ),
        (
            "MaxTTL past 100 years",
            lambda: _with_behavior(_config(), MaxTTL=3153600001),
            "InvalidArgument",
            400,
        ),
        (
            "behavior with neither policy nor ForwardedValues",
            lambda: {
                **_config(),
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
            lambda: _with_behavior(_config(), TargetOriginId="nowhere"),
            "NoSuchOrigin",
            404,
        ),
        (
            "alias not a host name",
            lambda: _aliases(_config(), "not a host"),
            "InvalidArgument",
            400,
        ),
        (
            "alias twice",
            lambda: _aliases(_config(), "Twice.example.com", "twice.example.com."),
            "InvalidArgument",
            400,
        ),
        (
            "101 aliases",
            lambda: _aliases(_config(), *(f"a{n}.example.com" for n in range(101))),
            "TooManyDistributionCNAMEs",
            400,
        ),
        ("Comment of 129", lambda: _config(Comment="c" * 129), "InvalidArgument", 400),
        ("empty CallerReference", lambda: _config(CallerReference=""), "InvalidArgument", 400),
        (
            "continuous deployment policy",
            lambda: _config(ContinuousDeploymentPolicyId="a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"),
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
    assert _error(caught) == (code, status), name


def test_not_xml_and_wrong_root_are_malformed(server: ServerProcess, api: SignedClient) -> None:
    """A body that is not XML, or another document, is MalformedXML."""
    for body in (b"this is not xml", b"<DistributionConfig><Comment>", b"<Tags/>"):
        assert_error(
            api.send("POST", f"/{V}/distribution", body),
            400,
            "MalformedXML",
            re.compile(".+"),
            operation="CreateDistribution",
        )


def test_bad_updates(server: ServerProcess) -> None:
    """Changing CallerReference or Staging is IllegalUpdate; a bad config on update is refused
    and nothing changes."""
    cf = server.client(config=NO_VALIDATION)
    created = cf.create_distribution(DistributionConfig=_config())
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
    ]
    for bad, code, status in refused:
        with pytest.raises(ClientError) as caught:
            cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=bad)
        assert _error(caught) == (code, status)
    assert cf.get_distribution(Id=dist_id)["ETag"] == etag


def test_staging_distribution_stays_staging(server: ServerProcess) -> None:
    """A distribution created with Staging true is listed as staging and cannot become a
    primary one (IllegalUpdate); other changes to it are fine."""
    cf = server.client()
    created = cf.create_distribution(DistributionConfig=_config(Staging=True))
    dist_id, etag = created["Distribution"]["Id"], created["ETag"]
    config = created["Distribution"]["DistributionConfig"]
    assert config["Staging"] is True
    with pytest.raises(ClientError) as caught:
        cf.update_distribution(
            Id=dist_id, IfMatch=etag, DistributionConfig={**config, "Staging": False}
        )
    assert _error(caught) == ("IllegalUpdate", 400)
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


def test_domain_suffix_names_distributions_and_the_edge_routes_by_it(
    start_server: StartServer,
) -> None:
    """With a non-default --domain-suffix, DomainName is `<id lowercased>.<suffix>` in every
    answer, and the built-in edge serves the distribution under that name (not the default)."""
    suffix = "cdn.example.test"
    srv = start_server(args=["--domain-suffix", suffix])
    cf = srv.client()
    with Origin() as origin:
        origin.set("/hello.txt", b"hello", headers=[("Cache-Control", "max-age=60")])
        created = cf.create_distribution(DistributionConfig=config_for_origin(origin.url))
        dist = created["Distribution"]
        domain = f"{dist['Id'].lower()}.{suffix}"
        assert dist["DomainName"] == domain
        cf.get_waiter("distribution_deployed").wait(
            Id=dist["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 20}
        )
        assert cf.get_distribution(Id=dist["Id"])["Distribution"]["DomainName"] == domain
        listed = cf.list_distributions()["DistributionList"]["Items"]
        assert [s["DomainName"] for s in listed] == [domain]
        served = httpx.get(f"{srv.edge_url}/hello.txt", headers={"host": domain}, timeout=10)
        assert (served.status_code, served.content) == (200, b"hello")
        default_name = f"{dist['Id'].lower()}.{SUFFIX}"
        other = httpx.get(f"{srv.edge_url}/hello.txt", headers={"host": default_name}, timeout=10)
        assert other.status_code != 200
        assert origin.count("/hello.txt") == 1
