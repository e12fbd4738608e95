"""Client commands when the endpoint is down, is not an invalidator, or ids need quoting."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.commands import invalidator
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess
from tests.support.uvicorn_server import ThreadedUvicorn

CREDENTIALS = {
    "INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
}
CLIENT_COMMANDS = {
    "invalidate": ["invalidate", "EXXXXXXXXXXXXX", "/x"],
    "invalidate-wait": ["invalidate", "EXXXXXXXXXXXXX", "/x", "--wait"],
    "invalidations-list": ["invalidations", "list", "EXXXXXXXXXXXXX"],
    "invalidations-show": ["invalidations", "show", "EXXXXXXXXXXXXX", "IXXXXXXXXXXXXX"],
    "edges-list": ["edges", "list"],
    "distribution-list": ["distribution", "list"],
    "distribution-show": ["distribution", "show", "EXXXXXXXXXXXXX"],
    "distribution-create": ["distribution", "create", "--origin", "http://127.0.0.1:1024"],
    "distribution-delete": ["distribution", "delete", "EXXXXXXXXXXXXX"],
}


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line_error(done: Any) -> str:
    """The command failed with exit status 1 and exactly one `Error: ...` line, no traceback."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return str(lines[0])


@pytest.mark.parametrize("args", CLIENT_COMMANDS.values(), ids=CLIENT_COMMANDS.keys())
def test_nothing_listening_is_one_clear_line(args: list[str]) -> None:
    """With nothing at --endpoint-url, every client command says so in one line, status 1."""
    url = f"http://127.0.0.1:{_closed_port()}"
    done = invalidator(*args, "--endpoint-url", url, env=CREDENTIALS, check=False)
    assert f"cannot reach the API at {url}" in _one_line_error(done)


def test_unreachable_port_flag_is_one_clear_line() -> None:
    """`invalidate E... /x --port N` (the default endpoint) with nothing there: one line."""
    port = _closed_port()
    done = invalidator("invalidate", "EXXXXXXXXXXXXX", "/x", "--port", str(port),
                       env=CREDENTIALS, check=False)  # fmt: skip
    assert f"cannot reach the API at http://127.0.0.1:{port}" in _one_line_error(done)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "http://[::1", "http://127.0.0.1:99999"])
def test_unusable_endpoint_url_is_one_clear_line(url: str) -> None:
    """An --endpoint-url that is no http(s) URL is named in one line, status 1."""
    done = invalidator("invalidations", "list", "EX", "--endpoint-url", url,
                       env=CREDENTIALS, check=False)  # fmt: skip
    assert f"invalid endpoint URL {url!r}" in _one_line_error(done)


async def _foreign_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Not an invalidator: a proxy's HTML error page, or a web page."""
    if scope["type"] != "http":
        return
    status = 502 if "invalidation" in scope["path"] else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"<html><body><h1>Bad gateway</h1>"})


@pytest.fixture(scope="module")
def foreign() -> Iterator[str]:
    """A server that answers HTML to everything."""
    server = ThreadedUvicorn(_foreign_app).start()
    yield server.url
    server.stop()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["invalidations", "list", "EX"], "HTTP 502 from {url} is not a CloudFront error document"),
        (["invalidate", "EX", "/x"], "HTTP 502 from {url} is not a CloudFront error document"),
        (["distribution", "list"], "HTTP 200 from {url} is not a CloudFront XML answer"),
        (["edges", "list"], "HTTP 200 from {url} is not an invalidator JSON answer"),
    ],
    ids=["error-page", "error-page-post", "html-page", "html-not-json"],
)
def test_foreign_answers_are_one_clear_line(foreign: str, args: list[str], expected: str) -> None:
    """An answer that is not the API's is named with its status and a snippet of its body."""
    done = invalidator(*args, "--endpoint-url", foreign, env=CREDENTIALS, check=False)
    line = _one_line_error(done)
    assert expected.format(url=foreign) in line and "Bad gateway" in line


def test_ids_are_quoted_into_the_path(server: ServerProcess) -> None:
    """Ids with `/`, `?`, `#` or `%` stay one path segment: a 404, never another resource."""
    dist = server.create_distribution()
    env = {**CREDENTIALS, "INVALIDATOR_ENDPOINT_URL": server.url}
    made = invalidator("invalidate", dist.id, "/q", env=env).stdout.split()[0]
    for weird in ["x/../..", "I?Marker=", "I#frag", "I%2F"]:
        done = invalidator("invalidations", "show", dist.id, weird, env=env, check=False)
        line = _one_line_error(done)
        assert "NoSuchInvalidation (404)" in line or "NoSuchResource (404)" in line, line
    shown = invalidator("invalidations", "show", dist.id, made, env=env).stdout
    assert f"Id:              {made}" in shown
    listed = invalidator("invalidations", "list", f"{dist.id}?x=1", env=env, check=False)
    assert "NoSuchDistribution (404)" in _one_line_error(listed)


@pytest.mark.parametrize("origin", ["http://h:99999", "http://h:abc", "http://[::1", "notaurl"])
def test_an_unusable_origin_is_a_usage_error(origin: str, tmp_path: Any) -> None:
    """A bad port or broken host in --origin: exit status 2 with the usage line, no traceback."""
    done = invalidator(
        "distribution", "create", "--origin", origin, "--data-dir", str(tmp_path), check=False
    )
    assert done.returncode == 2, done.stderr
    assert f"--origin must be an http(s) URL, not {origin!r}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("origin", "what"),
    [
        ("http://127.0.0.1:9000/v1?x=1", "a query"),
        ("http://127.0.0.1:9000/v1#frag", "a fragment"),
        ("http://user:pw@127.0.0.1:9000", "a user or password"),
    ],
)
def test_an_origin_with_parts_it_cannot_keep_is_a_usage_error(
    origin: str, what: str, tmp_path: Any
) -> None:
    """A query, fragment or credentials would be dropped without a word: refused instead."""
    done = invalidator(
        "distribution", "create", "--origin", origin, "--data-dir", str(tmp_path), check=False
    )
    assert done.returncode == 2, done.stderr
    assert f"has {what}, which an origin cannot hold" in done.stderr


def test_a_tag_header_that_is_not_a_header_name_is_refused(tmp_path: Any) -> None:
    """`--tag-header 'bad header:'` can never match an origin's header: InvalidArgument."""
    done = invalidator(
        "distribution", "create", "--origin", "http://127.0.0.1:9000",
        "--tag-header", "bad header:", "--data-dir", str(tmp_path), check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "InvalidArgument" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/a\x01", "U+0001 cannot be sent in an XML request"),
        ("/caf\udce9.html", "byte 0xE9 is not UTF-8"),  # a Latin-1 byte on the command line
    ],
    ids=["control-character", "not-utf-8"],
)
def test_a_path_no_request_can_carry_is_a_usage_error(path: str, why: str) -> None:
    """Refused before anything is sent (it was sent as the text `\\u0001`, or U+FFFD, and
    reported Completed for a path nobody asked for)."""
    done = invalidator(
        "invalidate", "EXXXXXXXXXXXXX", "/ok", path, "--port", str(_closed_port()),
        env=CREDENTIALS, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(why) and "Traceback" not in done.stderr


def test_a_timeout_that_is_not_a_number_is_a_usage_error() -> None:
    """`--timeout nan` would never time out."""
    done = invalidator(
        "invalidate", "EXXXXXXXXXXXXX", "/x", "--wait", "--timeout", "nan", env=CREDENTIALS,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--timeout" in done.stderr


def test_an_ipv6_host_makes_urls_with_brackets(tmp_path: Any) -> None:
    """`serve --host ::1` prints `http://[::1]:PORT` (not `http://::1:PORT`, no URL), and a
    client command given the same --host reaches it; edges register a bracketed URL."""
    import socket as sockets

    from tests.support.server import server_env

    try:
        with sockets.socket(sockets.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no IPv6 loopback on this machine")
    srv = ServerProcess(tmp_path / "data", server_env(), ["--host", "::1", "--edge-host", "::1"])
    srv.start()
    try:
        assert srv.url.startswith("http://[::1]:") and srv.edge_url.startswith("http://[::1]:")
        port = srv.url.rsplit(":", 1)[1]
        done = invalidator(
            "invalidations", "list", "ENOSUCHDIST", "--host", "::1", "--port", port,
            env=CREDENTIALS, check=False,
        )  # fmt: skip
        assert "NoSuchDistribution (404)" in _one_line_error(done)
        edges = invalidator("edges", "list", "--host", "::1", "--port", port, env=CREDENTIALS)
        assert "http://[::1]:" in edges.stdout
    finally:
        srv.kill()


@pytest.mark.parametrize("url", ["not-a-url", "ftp://h", "http://h:99999", ""])
def test_an_edge_with_an_unusable_control_plane_url_is_a_usage_error(url: str) -> None:
    """`invalidator edge --control-plane X` that no request could reach: exit status 2 at
    once (it retried registration for ever); none at all is required."""
    done = invalidator("edge", "--control-plane", url, env=CREDENTIALS, check=False, timeout=10)
    assert done.returncode == 2, done.stderr
    assert "--control-plane" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [["serve", "--port", "0", "--edge-port", "-1"], ["distribution", "list"], ["keys", "list"]],
)
def test_a_data_dir_that_is_a_file_is_named_as_such(args: list[str], tmp_path: Any) -> None:
    """--data-dir naming a regular file: one line saying it is not a directory (mkdir's own
    error would read "File exists")."""
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    done = invalidator(*args, "--data-dir", str(afile), check=False)
    assert done.returncode == 1, done.stderr
    assert "not a directory" in _one_line_error(done).lower()
    assert "File exists" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [["keys", "list"], ["keys", "revoke", "AKIAEXAMPLE"], ["distribution", "list"],
     ["distribution", "show", "EXXXXXXXXXXXXX"], ["distribution", "delete", "EXXXXXXXXXXXXX"]],
    ids=["keys-list", "keys-revoke", "distribution-list", "distribution-show",
         "distribution-delete"],
)  # fmt: skip
def test_a_data_dir_without_a_store_is_an_error_not_an_empty_store(
    args: list[str], tmp_path: Any
) -> None:
    """A command reading or changing the local store, on a data dir that holds none (a typo,
    another XDG_DATA_HOME): one line naming it, and no new store left behind (an empty
    listing, a bootstrap key, or a revocation of nothing looked like success)."""
    typo = tmp_path / "no-store-here"
    line = _one_line_error(invalidator(*args, "--data-dir", str(typo), check=False))
    assert f"no invalidator store at {typo / 'invalidator.db'}" in line
    assert not (typo / "invalidator.db").exists()


def test_creating_in_a_data_dir_without_a_store_says_a_new_one_was_made(tmp_path: Any) -> None:
    """`distribution create` and `keys create` may come before the first serve: they make
    the store, and say so on stderr (the place to spot a mistyped --data-dir)."""
    data = tmp_path / "fresh"
    made = invalidator(
        "distribution", "create", "--origin", "http://127.0.0.1:9000", "--data-dir", str(data),
        env=CREDENTIALS,
    )  # fmt: skip
    assert f"note: no store at {data / 'invalidator.db'} yet; created a new one" in made.stderr
    assert "Id:" in made.stdout
    again = invalidator("keys", "create", "--data-dir", str(data))
    assert "note:" not in again.stderr and "AWS_ACCESS_KEY_ID=" in again.stdout
