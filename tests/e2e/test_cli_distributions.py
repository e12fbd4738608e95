"""`invalidator distribution ...` as a client of the Distribution API, in-process and remote."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support.commands import invalidator
from tests.support.distribution_configs import MINIMAL, unique
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess

pytestmark = pytest.mark.slow

StartServer = Callable[..., ServerProcess]
_ID_LINE = re.compile(r"^Id:\s+(E[A-Z0-9]{13})$", re.MULTILINE)
_CREDS = {
    "INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
}


def _field(output: str, name: str) -> str:
    found = re.search(rf"^{name}:\s+(.*)$", output, re.MULTILINE)
    assert found, output
    return found.group(1).strip()


def _remote(server: ServerProcess) -> list[str]:
    return [
        "--endpoint-url", server.url,
        "--access-key-id", ACCESS_KEY_ID,
        "--secret-access-key", SECRET_ACCESS_KEY,
    ]  # fmt: skip


def test_remote_create_list_show_delete(server: ServerProcess) -> None:
    """With --endpoint-url and key flags, every command goes to the server; boto3 agrees."""
    token = uuid.uuid4().hex[:8]
    made = invalidator(
        "distribution", "create", "--origin", "https://origin.example.com:8443/base/",
        "--alias", f"WWW.{token}.example.com", "--tag-header", "Edge-Tags",
        "--comment", "made remotely", *_remote(server),
    ).stdout  # fmt: skip
    found = _ID_LINE.search(made)
    assert found, made
    dist_id = found.group(1)
    assert _field(made, "Origin") == "https://origin.example.com:8443/base"
    assert _field(made, "TagHeader") == "Edge-Tags"
    assert _field(made, "Enabled") == "true"
    assert _field(made, "Status") in ("InProgress", "Deployed")

    cf = server.client()
    seen = cf.get_distribution(Id=dist_id)["Distribution"]
    config = seen["DistributionConfig"]
    assert config["Comment"] == "made remotely"
    assert config["Aliases"]["Items"] == [f"WWW.{token}.example.com"]
    assert config["CacheTagConfig"] == {"HeaderName": "Edge-Tags"}
    assert config["Origins"]["Items"][0]["CustomOriginConfig"]["HTTPSPort"] == 8443
    assert _field(made, "DomainName") == seen["DomainName"]

    listed = invalidator("distribution", "list", *_remote(server)).stdout
    row = next(line for line in listed.splitlines() if line.startswith(dist_id))
    columns = row.split()
    assert columns[:2] == [dist_id, "true"] and columns[2] in ("InProgress", "Deployed")
    assert columns[3:] == [seen["DomainName"], "https://origin.example.com:8443/base"]
    shown = invalidator("distribution", "show", dist_id, *_remote(server)).stdout
    assert _ID_LINE.search(shown) and f"WWW.{token}.example.com" in shown

    deleted = invalidator("distribution", "delete", dist_id, *_remote(server)).stdout
    assert f"deleted {dist_id}" in deleted  # it was enabled: the command disabled it first
    with pytest.raises(ClientError) as caught:
        cf.get_distribution(Id=dist_id)
    assert caught.value.response["Error"]["Code"] == "NoSuchDistribution"


def test_remote_errors_are_reported_without_traceback(server: ServerProcess) -> None:
    """API errors (unknown id, taken alias, bad secret) exit non-zero with their code."""
    alias = f"{uuid.uuid4().hex[:8]}.example.com"
    config = unique(MINIMAL, uuid.uuid4().hex[:8])
    config["Aliases"] = {"Quantity": 1, "Items": [alias]}
    server.client().create_distribution(DistributionConfig=config)
    checks = [
        (("distribution", "show", "ENOSUCHDIST123", *_remote(server)), "NoSuchDistribution"),
        (
            ("distribution", "create", "--origin", "http://127.0.0.1:1024",
             "--alias", alias.upper(), *_remote(server)),
            "CNAMEAlreadyExists",
        ),
        (
            ("distribution", "list", "--endpoint-url", server.url,
             "--access-key-id", ACCESS_KEY_ID, "--secret-access-key", "wrong-secret"),
            "SignatureDoesNotMatch",
        ),
    ]  # fmt: skip
    for args, code in checks:
        done = invalidator(*args, check=False)
        assert done.returncode != 0, args
        assert code in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_in_process_changes_are_seen_by_the_running_server(
    tmp_path: Path, start_server: StartServer
) -> None:
    """Without --endpoint-url the CLI works on the server's store: each side sees the other."""
    data = tmp_path / "data"
    srv = start_server(data_dir=data)
    made = invalidator(
        "distribution", "create", "--origin", "http://127.0.0.1:9000/v1",
        "--data-dir", str(data), env=_CREDS,
    ).stdout  # fmt: skip
    found = _ID_LINE.search(made)
    assert found, made
    dist_id = found.group(1)

    cf = srv.client()
    got = cf.get_distribution(Id=dist_id)  # at once: no restart, no polling
    origin = got["Distribution"]["DistributionConfig"]["Origins"]["Items"][0]
    assert (origin["DomainName"], origin["OriginPath"]) == ("127.0.0.1", "/v1")
    assert origin["CustomOriginConfig"]["HTTPPort"] == 9000
    inv = cf.create_invalidation(
        DistributionId=dist_id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/x"]}, "CallerReference": "r"},
    )
    assert inv["ResponseMetadata"]["HTTPStatusCode"] == 201

    api_made = cf.create_distribution(DistributionConfig=unique(MINIMAL, "seen-by-cli"))
    api_id = api_made["Distribution"]["Id"]
    listed = invalidator("distribution", "list", "--data-dir", str(data), env=_CREDS).stdout
    assert dist_id in listed and api_id in listed
    assert "http://o.example.org" in listed

    deleted = invalidator("distribution", "delete", api_id, "--data-dir", str(data), env=_CREDS)
    assert f"deleted {api_id}" in deleted.stdout
    with pytest.raises(ClientError) as caught:
        cf.get_distribution(Id=api_id)
    assert caught.value.response["Error"]["Code"] == "NoSuchDistribution"


def test_in_process_without_credentials_bootstraps_a_key(tmp_path: Path) -> None:
    """In-process with no key configured: the first command creates one (shown once) and works."""
    data = str(tmp_path / "data")
    first = invalidator(
        "distribution", "create", "--origin", "http://127.0.0.1:1024", "--data-dir", data
    )
    assert "Created the first access key" in first.stderr
    dist_id = _ID_LINE.search(first.stdout)
    assert dist_id, first.stdout
    again = invalidator("distribution", "show", dist_id.group(1), "--data-dir", data)
    assert "Created the first access key" not in again.stderr
    assert _field(again.stdout, "Origin") == "http://127.0.0.1:1024"


def test_in_process_create_is_served_by_the_built_in_edge_at_once(
    tmp_path: Path, start_server: StartServer
) -> None:
    """`distribution create` on the running server's data dir, then at once a request to the
    built-in edge for the new alias: served, never the unknown host's 404 (the CLI nudges the
    server, which otherwise looked for other processes' commits every 50 ms: 3 in 10 missed)."""
    import httpx

    from tests.support.origin import Origin

    srv = start_server(data_dir=tmp_path / "data")
    with Origin() as origin, httpx.Client(timeout=10) as http:
        origin.set("/hello.txt", b"hello", headers=[("Cache-Control", "max-age=60")])
        for i in range(6):
            alias = f"at-once-{i}.example.test"
            invalidator("distribution", "create", "--origin", origin.url, "--alias", alias,
                        "--data-dir", str(srv.data_dir))  # fmt: skip
            answer = http.get(f"{srv.edge_url}/hello.txt", headers={"Host": alias})
            assert (answer.status_code, answer.content) == (200, b"hello"), (i, answer.text)
