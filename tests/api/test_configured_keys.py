"""The key pair set by INVALIDATOR_ACCESS_KEY_ID / _SECRET_ACCESS_KEY: its edge cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.commands import invalidator
from tests.support.envelope import assert_error
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess
from tests.support.signing import SignedClient

StartServer = Callable[..., ServerProcess]


def test_revoked_configured_key_stays_revoked_after_restart(start_server: StartServer) -> None:
    """`keys revoke` on the configured key holds across a restart that still configures it;
    the server says so in a warning."""
    srv = start_server()
    dist = srv.create_distribution()
    invalidator("keys", "revoke", ACCESS_KEY_ID, "--data-dir", str(srv.data_dir))
    assert srv.terminate() == 0
    again = start_server(srv.data_dir)
    with SignedClient(again.url) as api:
        assert_error(
            api.list(dist.id),
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            operation="ListInvalidations",
        )
    listed = invalidator("keys", "list", "--data-dir", str(srv.data_dir)).stdout
    assert any(ACCESS_KEY_ID in line and "revoked" in line for line in listed.splitlines())
    assert any("stays revoked" in line and ACCESS_KEY_ID in line for line in again.output)


@pytest.mark.parametrize(
    ("env", "flags", "given", "missing"),
    [
        ({"INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID}, [], "access_key_id", "secret_access_key"),
        (
            {"INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY},
            [],
            "secret_access_key",
            "access_key_id",
        ),
        ({}, ["--access-key-id", ACCESS_KEY_ID], "access_key_id", "secret_access_key"),
    ],
    ids=["id-only-env", "secret-only-env", "id-only-flag"],
)
def test_half_a_key_pair_is_a_usage_error(
    tmp_path: Path, env: dict[str, str], flags: list[str], given: str, missing: str
) -> None:
    """`serve` with only one of the two set exits 2 naming both, instead of falling back."""
    done = invalidator(
        "serve", "--port", "0", "--edge-port", "-1", "--data-dir", str(tmp_path), *flags,
        env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"setting {given} is set" in done.stderr and f"but {missing} is not" in done.stderr
    assert "Traceback" not in done.stderr
