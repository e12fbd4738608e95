"""Batches near the limits: the body size is the bound, not the parser (spec §4, §5)."""

from __future__ import annotations

import pytest

from tests.support.envelope import assert_error
from tests.support.server import ServerProcess
from tests.support.signing import SignedClient, batch_xml


@pytest.mark.parametrize(
    ("count", "length"), [(3000, 400), (300, 4000)], ids=["3000x400", "300x4000"]
)
def test_large_valid_batch_is_accepted_by_boto3(
    server: ServerProcess, count: int, length: int
) -> None:
    """A valid batch of over 1 MB of paths (within the 4 MiB body limit) is created whole."""
    dist = server.create_distribution()
    paths = [f"/{i:05d}/".ljust(length, "x") for i in range(count)]
    assert all(len(p) == length for p in paths)
    cf = server.client()
    created = cf.create_invalidation(
        DistributionId=dist.id,
        InvalidationBatch={"Paths": {"Quantity": count, "Items": paths}, "CallerReference": "big"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    got = cf.get_invalidation(DistributionId=dist.id, Id=created["Invalidation"]["Id"])
    assert got["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == paths


def test_100001_short_paths_are_batch_too_large(server: ServerProcess, api: SignedClient) -> None:
    """100,001 short paths (1.6 MB, under the body limit) are BatchTooLarge (413), not
    MalformedXML, whatever the parser's element limit; nothing is written."""
    dist = server.create_distribution()
    body = batch_xml(["/a"] * 100_001, "flood")
    assert len(body) < 4 * 1024 * 1024
    assert_error(
        api.create(dist.id, body),
        413,
        "BatchTooLarge",
        "Invalidation batch specified is too large.",
    )
    assert api.count(dist.id) == 0
