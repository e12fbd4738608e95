"""The real AWS CLI (`python -m awscli` from this venv) against a real server process."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.commands import aws_cloudfront, json_of
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow


def _aws(
    server: ServerProcess, tmp_path: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`aws cloudfront ARGS` against `server` (env credentials, no user config files)."""
    return aws_cloudfront(server.url, tmp_path, *args, check=check)


def test_create_with_paths_get_list_and_wait(server: ServerProcess, tmp_path: Path) -> None:
    """`--paths` invents a cli- CallerReference; get, list and the waiter see the invalidation."""
    dist = server.create_distribution()
    create = ("create-invalidation", "--distribution-id", dist.id)
    out = json_of(_aws(server, tmp_path, *create, "--paths", "/a", "/b"))
    inv = out["Invalidation"]
    assert re.fullmatch(r"I[A-Z0-9]{13}", inv["Id"])
    assert inv["Status"] in ("InProgress", "Completed")
    assert inv["InvalidationBatch"]["Paths"] == {"Quantity": 2, "Items": ["/a", "/b"]}
    assert re.fullmatch(r"cli-\d+-\d+", inv["InvalidationBatch"]["CallerReference"])
    assert (
        out["Location"]
        == f"{server.url}/2020-05-31/distribution/{dist.id}/invalidation/{inv['Id']}"
    )

    _aws(
        server,
        tmp_path,
        "wait",
        "invalidation-completed",
        "--distribution-id",
        dist.id,
        "--id",
        inv["Id"],
    )
    got = json_of(
        _aws(server, tmp_path, "get-invalidation", "--distribution-id", dist.id, "--id", inv["Id"])
    )["Invalidation"]
    assert got["Status"] == "Completed"
    assert got["InvalidationBatch"] == inv["InvalidationBatch"]

    listed = json_of(_aws(server, tmp_path, "list-invalidations", "--distribution-id", dist.id))
    summaries = listed["InvalidationList"]["Items"]
    assert [(s["Id"], s["Status"]) for s in summaries] == [(inv["Id"], "Completed")]


def test_create_with_invalidation_batch_json(server: ServerProcess, tmp_path: Path) -> None:
    """`--invalidation-batch` JSON (CallerReference sent before Paths) keeps the given reference."""
    dist = server.create_distribution()
    batch = {
        "CallerReference": "cli-json-1",
        "Paths": {"Quantity": 2, "Items": ["/img/*", "/a b.jpg"]},
    }
    create = ("create-invalidation", "--distribution-id", dist.id)
    out = json_of(_aws(server, tmp_path, *create, "--invalidation-batch", json.dumps(batch)))
    assert out["Invalidation"]["InvalidationBatch"] == batch
    again = json_of(_aws(server, tmp_path, *create, "--invalidation-batch", json.dumps(batch)))
    assert again["Invalidation"]["Id"] == out["Invalidation"]["Id"]


def test_unknown_distribution_is_an_error(server: ServerProcess, tmp_path: Path) -> None:
    """An unknown distribution makes the CLI exit 254/255 with NoSuchDistribution on stderr."""
    create = ("create-invalidation", "--distribution-id", "ENOPE0000000000")
    done = _aws(server, tmp_path, *create, "--paths", "/a", check=False)
    assert done.returncode in (254, 255)
    assert "NoSuchDistribution" in done.stderr
    assert done.stdout == ""
