"""Error documents stay well-formed XML whatever client input they echo."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.envelope import assert_error
from tests.support.server import ServerProcess, server_env
from tests.support.signing import SignedClient


def test_control_characters_in_an_unknown_path_are_escaped_visibly(api: SignedClient) -> None:
    """`GET /2020-05-31/%01%02x`: a 404 NoSuchResource botocore parses, \\x01 shown as \\u0001."""
    response = api.send("GET", "/2020-05-31/%01%02x%EF%BF%BEy", sign=False)
    assert_error(
        response,
        404,
        "NoSuchResource",
        "No resource at /2020-05-31/\\u0001\\u0002x\\ufffey",
        operation="GetInvalidation",
    )
    assert b"\x01" not in response.content and b"\x02" not in response.content


def test_control_characters_in_an_access_denied_arn_are_escaped(server: ServerProcess) -> None:
    """AccessDenied for a distribution id holding %01 names it with \\u0001 in a valid document."""
    only = server.create_distribution().id  # the key is limited to another distribution
    made = subprocess.run(
        [sys.executable, "-m", "invalidator", "keys", "create", "--data-dir",
         str(server.data_dir), "--distribution", only],
        env=server_env(), capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", made)
    secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", made)
    assert key_id is not None and secret is not None, made
    with SignedClient(server.url, key_id=key_id.group(1), secret=secret.group(1)) as api:
        response = api.send("GET", "/2020-05-31/distribution/E%01X/invalidation")
    arn = "arn:aws:cloudfront::000000000000:distribution/E\\u0001X"
    assert_error(
        response,
        403,
        "AccessDenied",
        f"User: {key_id.group(1)} is not authorized to perform: "
        f"cloudfront:ListInvalidations on resource: {arn}",
        operation="ListInvalidations",
    )
