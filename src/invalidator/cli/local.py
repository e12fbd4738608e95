"""API clients for CLI commands: over the network, or in-process on the local store."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click
import httpx

from invalidator.cli.api_client import CloudFrontClient
from invalidator.cli.data_lock import nudge_server
from invalidator.domain.clock import SystemClock
from invalidator.domain.ids import RandomIds
from invalidator.runtime import build_control_plane, ensure_access_key, open_store
from invalidator.settings import Settings


async def stored_credentials(settings: Settings) -> tuple[str, str] | None:
    """An active all-distribution key from the local store, if there is one."""
    if not settings.database_path.exists():
        return None
    store = open_store(settings)
    try:
        for key in await store.list_access_keys():
            if not key.revoked and key.distributions is None:
                return key.access_key_id, key.secret_access_key
    finally:
        await store.close()
    return None


def require_store(settings: Settings, *, create: bool) -> None:
    """A command on the local store: the store must exist (a mistyped --data-dir would else
    show an empty store, or revoke nothing, as if all were well), except for a command that
    creates something (`create`), which makes the store and says so on stderr."""
    path = settings.database_path
    if path.exists() or (path.parent.exists() and not path.parent.is_dir()):
        return  # opening it says what is wrong with it (not a directory, not a database)
    if not create:
        raise click.ClickException(
            f"no invalidator store at {path}: run `invalidator serve --data-dir {path.parent}` "
            "first, or pass the --data-dir (or --endpoint-url) of the server you mean"
        )
    click.echo(
        f"note: no store at {path} yet; created a new one (a server on another data "
        "directory will not see what this command writes)",
        err=True,
    )


@asynccontextmanager
async def remote_client(settings: Settings) -> AsyncIterator[CloudFrontClient]:
    """A client of the server at `settings.client_endpoint`."""
    if settings.access_key_id and settings.secret_access_key:
        creds: tuple[str, str] | None = (settings.access_key_id, settings.secret_access_key)
    else:
        creds = await stored_credentials(settings)
    if creds is None:
        raise click.UsageError(
            "no credentials: set INVALIDATOR_ACCESS_KEY_ID and INVALIDATOR_SECRET_ACCESS_KEY "
            "(or --access-key-id/--secret-access-key), or point --data-dir at the server's data"
        )
    client = CloudFrontClient(settings.client_endpoint, *creds)
    try:
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def api_client(
    settings: Settings, *, create: bool = False
) -> AsyncIterator[CloudFrontClient]:
    """The remote server when `--endpoint-url` is set, else the API in-process on the store
    (which must exist unless the command `create`s something: see `require_store`).

    In-process, the running server (if any) sees every change at once: both share the store.
    """
    if settings.endpoint_url:
        async with remote_client(settings) as client:
            yield client
        return
    require_store(settings, create=create)
    plane = build_control_plane(settings)
    try:
        created = await ensure_access_key(
            plane.store, settings, SystemClock(), RandomIds(), update_secret=False
        )
        if created is not None:
            click.echo(
                "Created the first access key (shown only once):\n"
                f"  AWS_ACCESS_KEY_ID={created.access_key_id}\n"
                f"  AWS_SECRET_ACCESS_KEY={created.secret_access_key}",
                file=sys.stderr,
            )
        creds = (settings.access_key_id, settings.secret_access_key)
        if not all(creds):
            creds = await stored_credentials(settings) or ("", "")
        transport = httpx.ASGITransport(app=plane.app)
        client = CloudFrontClient("http://invalidator.local", *creds, transport=transport)
        head = plane.propagation.head  # moves when this command commits an event
        try:
            yield client
        finally:
            await client.aclose()
            if plane.propagation.head != head:  # the running server, if any: look now
                nudge_server(Path(settings.data_dir))
    finally:
        await plane.store.close()
