"""The AWS SDK for JavaScript v3 (tests/js/invalidate.mjs) against a real server process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess

JS_DIR = Path(__file__).resolve().parents[1] / "js"


def _missing_prerequisite() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-cloudfront").is_dir():
        return "tests/js/node_modules is missing (scripts/test runs `npm install` in tests/js)"
    return None


def _require_node() -> None:
    """Skip without node or the installed SDK; on CI (CI=true) that is a failure instead."""
    reason = _missing_prerequisite()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"JS SDK tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _run_script(server: ServerProcess) -> tuple[dict[str, Any], str, str]:
    """Run the node script against the session server; its JSON summary, dist id and URL."""
    dist = server.create_distribution()
    done = subprocess.run(
        [
            "node",
            str(JS_DIR / "invalidate.mjs"),
            server.url,
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            dist.id,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=JS_DIR,
    )
    assert done.stdout.strip(), f"no summary; stderr:\n{done.stderr}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, f"script failed: {summary.get('error')}\n{done.stderr}"
    return summary, dist.id, server.url


@pytest.mark.slow
def test_js_sdk_full_cycle(server: ServerProcess) -> None:
    """JS SDK v3 creates, gets, paginates, waits and maps a 404 to NoSuchInvalidation."""
    _require_node()
    summary, dist_id, url = _run_script(server)
    sent = summary["sent"]
    assert sent["contentType"] == "application/xml"
    assert re.fullmatch(r"[0-9a-f]{64}", sent["contentSha256"])
    assert sent["authorization"] == "AWS4-HMAC-SHA256"
    assert sent["bodyStart"].startswith("<?xml ")

    created = summary["created"]
    assert created["httpStatus"] == 201
    assert (
        created["location"]
        == f"{url}/2020-05-31/distribution/{dist_id}/invalidation/{created['id']}"
    )
    assert re.fullmatch(r"I[A-Z0-9]{13}", created["id"])
    assert created["status"] in ("InProgress", "Completed")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["createTime"])
    assert created["requestId"]

    got = summary["got"]
    assert got["id"] == created["id"]
    assert got["paths"] == ["/js/a.jpg", "/js/b c.png"] and got["quantity"] == 2
    assert got["callerReference"].endswith("-0")

    ids = summary["createdIds"]
    pages = summary["pages"]
    assert [p["quantity"] for p in pages] == [2, 1]
    assert [i for p in pages for i in p["ids"]] == list(reversed(ids))
    assert pages[0]["isTruncated"] is True and pages[0]["nextMarker"] == pages[0]["ids"][-1]
    assert pages[1]["isTruncated"] is False and pages[1]["nextMarker"] is None

    assert summary["waiter"] == "SUCCESS"
    missing = summary["missing"]
    assert missing["name"] == "NoSuchInvalidation" and missing["isNoSuchInvalidation"] is True
    assert missing["httpStatus"] == 404
