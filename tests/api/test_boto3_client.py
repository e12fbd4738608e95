"""boto3 against a real server process: create, get, list, paginator, waiter, errors."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from tests.support.server import ServerProcess


def _batch(paths: list[str], ref: str) -> dict[str, object]:
    return {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": ref}


def test_create_get_list_round_trip(server: ServerProcess) -> None:
    """A created invalidation reads back with the same paths, id shape and status strings."""
    dist = server.create_distribution()
    cf = server.client(region="eu-west-3")
    created = cf.create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/a b.jpg", "/img/*", "/ü"], "r1")
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    inv = created["Invalidation"]
    assert re.fullmatch(r"I[A-Z0-9]{13}", inv["Id"])
    assert inv["Status"] in ("InProgress", "Completed")
    assert created["Location"] == (
        f"{server.url}/2020-05-31/distribution/{dist.id}/invalidation/{inv['Id']}"
    )
    got = cf.get_invalidation(DistributionId=dist.id, Id=inv["Id"])["Invalidation"]
    assert got["InvalidationBatch"] == {
        "Paths": {"Quantity": 3, "Items": ["/a b.jpg", "/img/*", "/ü"]},
        "CallerReference": "r1",
    }
    listed = cf.list_invalidations(DistributionId=dist.id)["InvalidationList"]
    assert [s["Id"] for s in listed["Items"]] == [inv["Id"]]
    assert listed["IsTruncated"] is False and listed["Quantity"] == 1


def test_waiter_reaches_completed(server: ServerProcess) -> None:
    """The invalidation_completed waiter succeeds (no edges: completes at once)."""
    dist = server.create_distribution()
    cf = server.client()
    inv = cf.create_invalidation(DistributionId=dist.id, InvalidationBatch=_batch(["/x"], "w"))
    cf.get_waiter("invalidation_completed").wait(
        DistributionId=dist.id, Id=inv["Invalidation"]["Id"], WaiterConfig={"Delay": 1}
    )
    got = cf.get_invalidation(DistributionId=dist.id, Id=inv["Invalidation"]["Id"])
    assert got["Invalidation"]["Status"] == "Completed"


def test_paginator_newest_first(server: ServerProcess) -> None:
    """The list_invalidations paginator walks every page newest first via NextMarker."""
    dist = server.create_distribution()
    cf = server.client()
    ids = [
        cf.create_invalidation(
            DistributionId=dist.id, InvalidationBatch=_batch([f"/{i}"], f"p{i}")
        )["Invalidation"]["Id"]
        for i in range(7)
    ]
    pages = list(
        cf.get_paginator("list_invalidations").paginate(
            DistributionId=dist.id, PaginationConfig={"PageSize": 3}
        )
    )
    assert [p["InvalidationList"]["Quantity"] for p in pages] == [3, 3, 1]
    seen = [s["Id"] for p in pages for s in p["InvalidationList"]["Items"]]
    assert seen == list(reversed(ids))
    assert pages[0]["InvalidationList"]["NextMarker"] == seen[2]
    assert "NextMarker" not in pages[-1]["InvalidationList"]


def test_caller_reference_replay_returns_original(server: ServerProcess) -> None:
    """Same CallerReference and same path set: 201 with the original invalidation."""
    dist = server.create_distribution()
    cf = server.client()
    first = cf.create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/a", "/b"], "same")
    )
    again = cf.create_invalidation(
        DistributionId=dist.id, InvalidationBatch=_batch(["/b", "/a"], "same")
    )
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert again["Invalidation"]["Id"] == first["Invalidation"]["Id"]
    assert again["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/a", "/b"]
    with pytest.raises(ClientError) as err:
        cf.create_invalidation(DistributionId=dist.id, InvalidationBatch=_batch(["/c"], "same"))
    assert err.value.response["Error"]["Code"] == "InvalidationBatchAlreadyExists"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_unknown_distribution_and_invalidation(server: ServerProcess) -> None:
    """NoSuchDistribution and NoSuchInvalidation (404), also for another distribution's id."""
    d1, d2 = server.create_distribution(), server.create_distribution()
    cf = server.client()
    inv = cf.create_invalidation(DistributionId=d1.id, InvalidationBatch=_batch(["/x"], "u"))
    with pytest.raises(cf.exceptions.NoSuchDistribution):
        cf.list_invalidations(DistributionId="ENOPE000000000")
    with pytest.raises(cf.exceptions.NoSuchInvalidation):
        cf.get_invalidation(DistributionId=d2.id, Id=inv["Invalidation"]["Id"])
