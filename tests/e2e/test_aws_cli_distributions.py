"""The real AWS CLI manages a distribution's whole life against a real server, then invalidates."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.support.commands import aws_cloudfront, json_of
from tests.support.distribution_configs import MINIMAL, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow


def test_create_get_update_disable_delete(server: ServerProcess, tmp_path: Path) -> None:
    """The AWS CLI walks a whole life: CRUD, If-Match errors, invalidations, gone."""
    domain = f"{uuid.uuid4().hex[:8]}.example.com"  # the CLI's CallerReference is a timestamp
    created = json_of(
        aws_cloudfront(server.url, tmp_path, "create-distribution", "--origin-domain-name", domain)
    )
    dist = created["Distribution"]
    dist_id = dist["Id"]
    assert re.fullmatch(r"E[A-Z0-9]{13}", dist_id)
    assert created["Location"] == f"{server.url}/2020-05-31/distribution/{dist_id}"
    assert created["ETag"]
    assert dist["Status"] in ("InProgress", "Deployed")  # the built-in edge picks it up
    origin = dist["DistributionConfig"]["Origins"]["Items"][0]
    assert origin["DomainName"] == domain
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "http-only"
    assert dist["DistributionConfig"]["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True

    got = json_of(aws_cloudfront(server.url, tmp_path, "get-distribution", "--id", dist_id))
    assert got["ETag"] == created["ETag"]
    assert {**got["Distribution"], "Status": "-"} == {**dist, "Status": "-"}
    got_config = json_of(
        aws_cloudfront(server.url, tmp_path, "get-distribution-config", "--id", dist_id)
    )
    assert got_config["ETag"] == created["ETag"]
    assert got_config["DistributionConfig"] == dist["DistributionConfig"]

    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**got_config["DistributionConfig"], "Comment": "changed"}))
    stale = aws_cloudfront(
        server.url, tmp_path, "update-distribution", "--id", dist_id,
        "--if-match", "ESTALEETAG0000", "--distribution-config", f"file://{config_file}",
        check=False,
    )  # fmt: skip
    assert stale.returncode != 0 and "PreconditionFailed" in stale.stderr
    missing = aws_cloudfront(
        server.url, tmp_path, "update-distribution", "--id", dist_id,
        "--distribution-config", f"file://{config_file}", check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "InvalidIfMatchVersion" in missing.stderr
    updated = json_of(
        aws_cloudfront(
            server.url, tmp_path, "update-distribution", "--id", dist_id,
            "--if-match", got_config["ETag"], "--distribution-config", f"file://{config_file}",
        )
    )  # fmt: skip
    assert updated["Distribution"]["DistributionConfig"]["Comment"] == "changed"
    assert updated["ETag"] != created["ETag"]
    _invalidate_and_wait(server, tmp_path, dist_id, "/after-update")

    refused = aws_cloudfront(
        server.url, tmp_path, "delete-distribution", "--id", dist_id,
        "--if-match", updated["ETag"], check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "DistributionNotDisabled" in refused.stderr

    config_file.write_text(
        json.dumps({**updated["Distribution"]["DistributionConfig"], "Enabled": False})
    )
    disabled = json_of(
        aws_cloudfront(
            server.url, tmp_path, "update-distribution", "--id", dist_id,
            "--if-match", updated["ETag"], "--distribution-config", f"file://{config_file}",
        )
    )  # fmt: skip
    assert disabled["Distribution"]["DistributionConfig"]["Enabled"] is False
    _invalidate_and_wait(server, tmp_path, dist_id, "/while-disabled")

    deleted = aws_cloudfront(
        server.url, tmp_path, "delete-distribution", "--id", dist_id,
        "--if-match", disabled["ETag"],
    )  # fmt: skip
    assert deleted.stdout.strip() == ""
    gone = aws_cloudfront(server.url, tmp_path, "get-distribution", "--id", dist_id, check=False)
    assert gone.returncode != 0 and "NoSuchDistribution" in gone.stderr
    late = aws_cloudfront(
        server.url, tmp_path, "create-invalidation", "--distribution-id", dist_id,
        "--paths", "/late", check=False,
    )  # fmt: skip
    assert late.returncode != 0 and "NoSuchDistribution" in late.stderr


def _invalidate_and_wait(server: ServerProcess, home: Path, dist_id: str, path: str) -> None:
    """create-invalidation, then the CLI's own waiter until it is Completed."""
    made = json_of(
        aws_cloudfront(
            server.url, home, "create-invalidation", "--distribution-id", dist_id, "--paths", path
        )
    )
    aws_cloudfront(
        server.url, home, "wait", "invalidation-completed",
        "--distribution-id", dist_id, "--id", made["Invalidation"]["Id"],
    )  # fmt: skip


def test_invalidate_fresh_api_distribution(server: ServerProcess, tmp_path: Path) -> None:
    """create-invalidation and the wait command work on a distribution made through the API."""
    dist_id = server.client().create_distribution(
        DistributionConfig=unique(MINIMAL, uuid.uuid4().hex[:8])
    )["Distribution"]["Id"]
    made = json_of(
        aws_cloudfront(
            server.url, tmp_path, "create-invalidation", "--distribution-id", dist_id,
            "--paths", "/index.html", "/img/*",
        )
    )  # fmt: skip
    inv = made["Invalidation"]
    assert made["Location"].endswith(f"/distribution/{dist_id}/invalidation/{inv['Id']}")
    assert inv["InvalidationBatch"]["Paths"]["Items"] == ["/index.html", "/img/*"]
    aws_cloudfront(
        server.url, tmp_path, "wait", "invalidation-completed",
        "--distribution-id", dist_id, "--id", inv["Id"],
    )  # fmt: skip
    listed = json_of(
        aws_cloudfront(server.url, tmp_path, "list-distributions", "--max-items", "1000")
    )
    assert dist_id in [s["Id"] for s in listed["DistributionList"]["Items"]]
