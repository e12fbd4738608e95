"""Per-distribution in-progress limits count what is still InProgress (spec §4, Limits).

Invalidations stay InProgress for real here: a standalone edge holds a 60 s lease and is
frozen with SIGSTOP, so nothing it must purge can complete until it is thawed (SIGCONT).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from tests.support.child import kill
from tests.support.edge_process import Stalled
from tests.support.envelope import assert_error
from tests.support.server import ServerProcess, server_env
from tests.support.signing import batch_xml

StartServer = Callable[..., ServerProcess]
FILES_MESSAGE = (
    "Processing your request will cause you to exceed the maximum number of "
    "in-progress invalidations."
)
WILDCARDS_MESSAGE = (
    "Processing your request will cause you to exceed the maximum number of "
    "in-progress wildcard invalidations."
)


def _id(response: object) -> str:
    text = getattr(response, "text", "")
    assert getattr(response, "status_code", 0) == 201, text
    return str(text.split("<Id>")[1].split("</Id>")[0])


def test_limits_count_earlier_in_progress_invalidations(stalled: Stalled) -> None:
    """Files and wildcards still InProgress count against later batches; a replay at the limit
    is still 201; once they complete, new batches are admitted again."""
    api = stalled.api
    dist = stalled.server.create_distribution().id
    first = _id(api.create(dist, batch_xml(["/a", "/b"], "first")))
    wild = _id(api.create(dist, batch_xml(["/w/*"], "wild")))
    assert stalled.status(dist, first) == "InProgress"
    assert stalled.status(dist, wild) == "InProgress"

    three_files = batch_xml(["/c", "/d", "/e"], "three")  # 2 in progress + 3 > 4
    assert_error(
        api.create(dist, three_files), 400, "TooManyInvalidationsInProgress", FILES_MESSAGE
    )
    two_wildcards = batch_xml(["/x*", "/y*"], "two-wild")  # 1 in progress + 2 > 2
    assert_error(
        api.create(dist, two_wildcards), 400, "TooManyInvalidationsInProgress", WILDCARDS_MESSAGE
    )
    fill = _id(api.create(dist, batch_xml(["/c", "/d", "/x*"], "fill")))  # exactly 4 and 2
    assert_error(
        api.create(dist, batch_xml(["/z"], "one-more")),
        400,
        "TooManyInvalidationsInProgress",
        FILES_MESSAGE,
    )
    replay = api.create(dist, batch_xml(["/b", "/a"], "first"))
    assert _id(replay) == first and "<Status>InProgress</Status>" in replay.text
    other = stalled.server.create_distribution().id  # limits are per distribution
    assert _id(api.create(other, batch_xml(["/c", "/d", "/e"], "three")))
    assert api.count(dist) == 3

    stalled.thaw()
    deadline = time.monotonic() + 20
    while any(stalled.status(dist, i) != "Completed" for i in (first, wild, fill)):
        assert time.monotonic() < deadline, "the thawed edge did not complete the invalidations"
        time.sleep(0.2)
    assert _id(api.create(dist, three_files))
    assert _id(api.create(dist, two_wildcards))


def test_wait_shows_progress_until_completed(stalled: Stalled) -> None:
    """`invalidate --wait` prints elapsed seconds while InProgress, then when it Completed."""
    dist = stalled.server.create_distribution().id
    proc = subprocess.Popen(
        [sys.executable, "-m", "invalidator", "invalidate", dist, "/slow", "--wait",
         "--endpoint-url", stalled.server.url],
        env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(6.5)
        stalled.thaw()
        out, err = proc.communicate(timeout=30)
    finally:
        kill(proc)
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    inv_id = lines[0].split()[0]
    assert lines[0] == f"{inv_id} InProgress"
    assert f"{inv_id} still InProgress after 5s" in lines
    assert lines[-1].startswith(f"{inv_id} Completed after ")
    assert float(lines[-1].split()[-1].rstrip("s")) >= 6


def test_wait_times_out_with_a_clear_error(stalled: Stalled) -> None:
    """`invalidate --wait --timeout 2` on an invalidation that cannot complete: status 1."""
    dist = stalled.server.create_distribution().id
    done = subprocess.run(
        [sys.executable, "-m", "invalidator", "invalidate", dist, "/stuck", "--wait",
         "--timeout", "2", "--endpoint-url", stalled.server.url],
        env=server_env(), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "still InProgress after 2s" in done.stderr and "Traceback" not in done.stderr
