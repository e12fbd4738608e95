"""DeleteDistribution waits for the disabled config to be deployed, as on CloudFront.

CloudFront refuses to delete a disabled distribution whose `Status` still reads InProgress
(`DistributionNotDisabled`); clients disable, wait for `Deployed`, then delete. Here an edge
that has not applied the newest config holds `Status` at InProgress: the edge is frozen with
SIGSTOP while its 60 s lease is live.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.child import kill
from tests.support.distribution_calls import fresh_config
from tests.support.edge_process import Stalled
from tests.support.server import server_env


def _status(cf: Any, dist_id: str) -> tuple[str, str]:
    got = cf.get_distribution(Id=dist_id)
    return str(got["Distribution"]["Status"]), str(got["ETag"])


def test_a_delete_waits_until_the_disable_is_deployed(stalled: Stalled) -> None:
    """Disabled but InProgress: DistributionNotDisabled (409), nothing deleted; once the edge
    has the config (thawed) and Status reads Deployed, the same delete succeeds."""
    cf = stalled.server.client()
    made = cf.create_distribution(DistributionConfig=fresh_config())
    dist_id = made["Distribution"]["Id"]
    config = cf.get_distribution_config(Id=dist_id)
    cf.update_distribution(
        Id=dist_id,
        IfMatch=config["ETag"],
        DistributionConfig={**config["DistributionConfig"], "Enabled": False},
    )
    status, etag = _status(cf, dist_id)
    assert status == "InProgress"
    with pytest.raises(ClientError) as caught:
        cf.delete_distribution(Id=dist_id, IfMatch=etag)
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "DistributionNotDisabled",
        409,
    )
    assert "still being deployed" in error["Error"]["Message"]
    assert _status(cf, dist_id) == ("InProgress", etag)  # still there, unchanged

    stalled.thaw()
    cf.get_waiter("distribution_deployed").wait(
        Id=dist_id, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    deleted = cf.delete_distribution(Id=dist_id, IfMatch=etag)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(cf.exceptions.NoSuchDistribution):
        cf.get_distribution(Id=dist_id)


def test_cli_delete_disables_waits_for_deployed_and_deletes(stalled: Stalled) -> None:
    """`invalidator distribution delete` of an enabled distribution: it disables it, waits
    while the frozen edge holds it InProgress, and deletes it once the edge has applied it."""
    cf = stalled.server.client()
    dist_id = cf.create_distribution(DistributionConfig=fresh_config())["Distribution"]["Id"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "invalidator", "distribution", "delete", dist_id,
         "--endpoint-url", stalled.server.url],
        env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while cf.get_distribution(Id=dist_id)["Distribution"]["DistributionConfig"]["Enabled"]:
            assert time.monotonic() < deadline, "the command did not disable the distribution"
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.poll() is None  # still waiting for Deployed
        assert _status(cf, dist_id)[0] == "InProgress"
        stalled.thaw()
        out, err = proc.communicate(timeout=30)
    finally:
        kill(proc)
    assert proc.returncode == 0, out + err
    assert out.strip() == f"deleted {dist_id}"
    with pytest.raises(cf.exceptions.NoSuchDistribution):
        cf.get_distribution(Id=dist_id)
