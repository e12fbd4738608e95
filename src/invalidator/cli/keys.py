"""`invalidator keys create|list|revoke`: access keys in the configured store."""

from __future__ import annotations

from typing import Any

import click

from invalidator.cli.local import require_store
from invalidator.cli.options import STORE_SETTINGS, run_async, settings_from, settings_options
from invalidator.domain.access_keys import new_access_key, revoked
from invalidator.domain.clock import SystemClock
from invalidator.domain.ids import RandomIds
from invalidator.runtime import open_store


@click.group()
def keys() -> None:
    """Manage API access keys."""


@keys.command("create")
@settings_options(*STORE_SETTINGS)
@click.option("--distribution", "distributions", multiple=True, help="Limit to this id (repeat).")
@click.option("--description", default="", help="A note to recognise the key by.")
@run_async
async def create_key(distributions: tuple[str, ...], description: str, **flags: Any) -> None:
    """Create a key; its secret is printed this once."""
    settings = settings_from(flags)
    require_store(settings, create=True)
    store = open_store(settings)
    try:
        for distribution_id in distributions:  # a typo would make a key good for nothing
            if await store.get_distribution(distribution_id) is None:
                raise click.ClickException(f"no distribution {distribution_id}")
        key = new_access_key(
            RandomIds(), SystemClock().now(), frozenset(distributions) or None, description
        )
        await store.put_access_key(key)
    finally:
        await store.close()
    click.echo(f"AWS_ACCESS_KEY_ID={key.access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={key.secret_access_key}")


@keys.command("list")
@settings_options(*STORE_SETTINGS)
@run_async
async def list_keys(**flags: Any) -> None:
    """List keys (never their secrets)."""
    settings = settings_from(flags)
    require_store(settings, create=False)
    store = open_store(settings)
    try:
        found = await store.list_access_keys()
    finally:
        await store.close()
    click.echo(f"{'ACCESS KEY ID':22} {'STATE':8} {'DISTRIBUTIONS':30} DESCRIPTION")
    for key in found:
        scope = "all" if key.distributions is None else ",".join(sorted(key.distributions))
        state = "revoked" if key.revoked else "active"
        click.echo(f"{key.access_key_id:22} {state:8} {scope:30} {key.description}")


@keys.command("revoke")
@click.argument("access_key_id")
@settings_options(*STORE_SETTINGS)
@run_async
async def revoke_key(access_key_id: str, **flags: Any) -> None:
    """Revoke a key: requests signed with it get InvalidClientTokenId from now on."""
    settings = settings_from(flags)
    require_store(settings, create=False)
    store = open_store(settings)
    try:
        key = await store.get_access_key(access_key_id)
        if key is None:
            raise click.ClickException(f"no access key {access_key_id}")
        await store.put_access_key(revoked(key))
    finally:
        await store.close()
    click.echo(f"revoked {access_key_id}")
