"""boto3 against a real server drives a distribution's whole life: create, read, update,
invalidate, disable, delete, list and page; the errors are in test_distribution_errors.py and
test_distribution_tagging.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from invalidator.cli.local import api_client
from invalidator.cli.origin_config import config_for_origin
from invalidator.settings import Settings, load_settings
from invalidator.store.sqlite import SqliteStore
from tests.support.botocore_capture import offline_client, sent_body
from tests.support.distribution_calls import NO_VALIDATION, assert_complete, error_of, fresh_config
from tests.support.origin import Origin
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess
from tests.support.signing import SignedClient

StartServer = Callable[..., ServerProcess]
SUFFIX = Settings().domain_suffix
V = "2020-05-31"


def _store_in_progress(data_dir: Path, distribution_id: str) -> int:
    async def count() -> int:
        store = SqliteStore(data_dir / "invalidator.db")
        try:
            return await store.count_in_progress(distribution_id)
        finally:
            await store.close()

    return asyncio.run(count())


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
    """boto3 walks a whole life: CRUD, If-Match errors, invalidations, delete rules, gone."""
    cf = server.client()
    loose = server.client(config=NO_VALIDATION)  # may leave out IfMatch
    config = fresh_config(Comment="life cycle")
    created = cf.create_distribution(DistributionConfig=config)
    assert_complete(cf, "CreateDistribution", created)
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
    assert_complete(cf, "GetDistribution", got)
    assert got["ETag"] == created["ETag"]
    assert got["Distribution"] == {**dist, "Status": "Deployed"}
    got_config = cf.get_distribution_config(Id=dist_id)
    assert_complete(cf, "GetDistributionConfig", got_config)
    assert got_config["ETag"] == created["ETag"]
    assert got_config["DistributionConfig"] == dist["DistributionConfig"]

    changed = {**got_config["DistributionConfig"], "Comment": "changed"}
    with pytest.raises(ClientError) as caught:
        cf.update_distribution(Id=dist_id, IfMatch="ESTALEETAG0000", DistributionConfig=changed)
    assert error_of(caught) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as caught:
        loose.update_distribution(Id=dist_id, DistributionConfig=changed)
    assert error_of(caught) == ("InvalidIfMatchVersion", 400)
    assert cf.get_distribution(Id=dist_id)["ETag"] == created["ETag"]  # neither changed it

    updated = cf.update_distribution(
        Id=dist_id, IfMatch=got_config["ETag"], DistributionConfig=changed
    )
    assert_complete(cf, "UpdateDistribution", updated)
    assert updated["ETag"] != created["ETag"]
    assert updated["Distribution"]["DistributionConfig"]["Comment"] == "changed"
    assert updated["Distribution"]["LastModifiedTime"] > dist["LastModifiedTime"]
    assert updated["Distribution"]["Id"] == dist_id
    assert _invalidate_and_wait(cf, dist_id, "/after-update")["Status"] == "Completed"

    with pytest.raises(ClientError) as caught:
        cf.delete_distribution(Id=dist_id, IfMatch=updated["ETag"])
    assert error_of(caught) == ("DistributionNotDisabled", 409)

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
        assert error_of(caught) == ("NoSuchDistribution", 404)


def test_invalidate_on_api_created_distribution(server: ServerProcess) -> None:
    """An API-made distribution takes invalidations; its batch count agrees with the store."""
    cf = server.client()
    dist_id = cf.create_distribution(DistributionConfig=fresh_config())["Distribution"]["Id"]
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
        async with api_client(settings, create=True) as client:
            made = await client.create_distribution(fresh_config())
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
    fresh = cf.create_distribution(DistributionConfig=fresh_config())["Distribution"]
    assert fresh["Status"] == "Deployed"
    listed = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"]["Items"]
    for summary in listed:
        cf.get_waiter("invalidation_completed").wait(
            DistributionId=dist_id, Id=summary["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
        )
    assert cf.get_distribution(Id=dist_id)["Distribution"]["InProgressInvalidationBatches"] == 0
    assert _store_in_progress(data, dist_id) == 0


def test_list_distributions_pages_with_marker_and_paginator(server: ServerProcess) -> None:
    """MaxItems/Marker pages (in Id order) and boto3's paginator both walk every distribution."""
    cf = server.client()
    mine = [
        cf.create_distribution(DistributionConfig=fresh_config())["Distribution"]["Id"]
        for _ in range(3)
    ]
    seen: list[str] = []
    marker = ""
    pages = 0
    while True:
        page = cf.list_distributions(MaxItems="2", Marker=marker)
        assert_complete(cf, "ListDistributions", page)
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
    assert error_of(caught) == ("InvalidArgument", 400)


def test_paging_survives_deletes_between_pages(start_server: StartServer) -> None:
    """The paginator walks on when the marker's (and a later) distribution is deleted."""
    cf = start_server(args=["--edge-port", "-1"]).client()
    made = {}
    for _ in range(7):
        created = cf.create_distribution(DistributionConfig=fresh_config(Enabled=False))
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
                deployed = cf.get_waiter("distribution_deployed")  # else DistributionNotDisabled
                deployed.wait(Id=gone, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
                cf.delete_distribution(Id=gone, IfMatch=made[gone])
    assert walked == [ids[0], ids[1], ids[2], ids[3], ids[5], ids[6]]
    direct = cf.list_distributions(Marker=ids[1], MaxItems="100")["DistributionList"]
    assert [s["Id"] for s in direct["Items"]] == [ids[2], ids[3], ids[5], ids[6]]


def test_seed_version_uris_serve_distributions(server: ServerProcess, api: SignedClient) -> None:
    """The 2013-05-12 URIs read a distribution, answering in that version's namespace."""
    cf = server.client()
    dist_id = cf.create_distribution(DistributionConfig=fresh_config())["Distribution"]["Id"]
    got = api.send("GET", f"/2013-05-12/distribution/{dist_id}")
    assert got.status_code == 200
    assert b'xmlns="http://cloudfront.amazonaws.com/doc/2013-05-12/"' in got.content
    assert got.headers["etag"] == cf.get_distribution(Id=dist_id)["ETag"]
    config = api.send("GET", f"/2013-05-12/distribution/{dist_id}/config")
    assert config.status_code == 200 and b"<DistributionConfig" in config.content
    body = sent_body(offline_client(), "create_distribution", DistributionConfig=fresh_config())
    created = api.send("POST", "/2013-05-12/distribution", body)
    assert created.status_code == 201, created.text
    new_id = re.search(rb"<Id>(E[A-Z0-9]+)</Id>", created.content)
    assert new_id is not None
    location = f"{server.url}/2013-05-12/distribution/{new_id.group(1).decode()}"
    assert created.headers["location"] == location


def test_concurrent_identical_creates_make_one_distribution(server: ServerProcess) -> None:
    """SDK retries racing with the same CallerReference and config all get one distribution."""
    config = fresh_config()
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


def test_domain_suffix_names_distributions_and_the_edge_routes_by_it(
    start_server: StartServer,
) -> None:
    """With --domain-suffix, DomainName is <id>.<suffix>; the edge serves that host."""
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
