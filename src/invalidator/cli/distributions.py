"""`invalidator distribution create|list|show|delete`: thin clients of the Distribution API.

Without `--endpoint-url` the API runs in-process on the configured store, so the commands
work whether or not a server is running, and a running server sees the change at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from invalidator.cli.local import api_client
from invalidator.cli.options import run_async, settings_from, settings_options
from invalidator.cli.origin_config import config_for_origin

DEPLOY_WAIT_SECONDS = 60.0  # then the delete is tried anyway and its error, if any, shown
DIST_SETTINGS = ("data_dir", "domain_suffix", "endpoint_url", "access_key_id", "secret_access_key")


def _origin_url(config: dict[str, Any]) -> str:
    from invalidator.domain.serving import serving_config

    return serving_config("-", "-", config).origin_url


def _describe(d: dict[str, Any]) -> str:
    config = d["DistributionConfig"]
    aliases = (config.get("Aliases") or {}).get("Items") or []
    tag_header = (config.get("CacheTagConfig") or {}).get("HeaderName")
    lines = [
        f"Id:          {d['Id']}",
        f"DomainName:  {d['DomainName']}",
        f"Aliases:     {', '.join(aliases) or '-'}",
        f"Origin:      {_origin_url(config)}",
        f"TagHeader:   {tag_header or '-'}",
        f"Enabled:     {str(config['Enabled']).lower()}",
        f"Status:      {d['Status']}",
        f"Modified:    {d['LastModifiedTime']}",
    ]
    return "\n".join(lines)


@click.group()
def distribution() -> None:
    """Manage distributions (through the Distribution API)."""


@distribution.command("create")
@click.option("--origin", required=True, help="Origin base URL, e.g. http://127.0.0.1:9000.")
@click.option("--alias", "aliases", multiple=True, help="Extra host name (repeat).")
@click.option("--tag-header", default=None, help="Origin response header listing cache tags.")
@click.option("--comment", default="", help="A comment stored with the distribution.")
@settings_options(*DIST_SETTINGS)
@run_async
async def create(
    origin: str, aliases: tuple[str, ...], tag_header: str | None, comment: str, **flags: Any
) -> None:
    """Create a distribution and print it."""
    config = config_for_origin(origin, aliases, tag_header, comment=comment)
    async with api_client(settings_from(flags), create=True) as client:
        created = await client.create_distribution(config)
    click.echo(_describe(created))


@distribution.command("list")
@settings_options(*DIST_SETTINGS)
@run_async
async def list_(**flags: Any) -> None:
    """List distributions."""
    async with api_client(settings_from(flags)) as client:
        found = await client.list_distributions()
    click.echo(f"{'ID':16} {'ENABLED':8} {'STATUS':10} {'DOMAIN NAME':40} ORIGIN")
    for d in found:
        enabled = str(d["Enabled"]).lower()
        origin = _origin_url({**d, "CallerReference": "-"})
        click.echo(f"{d['Id']:16} {enabled:8} {d['Status']:10} {d['DomainName']:40} {origin}")


@distribution.command("show")
@click.argument("distribution_id")
@settings_options(*DIST_SETTINGS)
@run_async
async def show(distribution_id: str, **flags: Any) -> None:
    """Show one distribution."""
    async with api_client(settings_from(flags)) as client:
        found, _ = await client.get_distribution(distribution_id)
    click.echo(_describe(found))


@distribution.command("delete")
@click.argument("distribution_id")
@settings_options(*DIST_SETTINGS)
@run_async
async def delete(distribution_id: str, **flags: Any) -> None:
    """Disable (if needed), wait until the edges have that, delete the distribution and its
    invalidations."""
    async with api_client(settings_from(flags)) as client:
        found, etag = await client.get_distribution(distribution_id)
        config = found["DistributionConfig"]
        if config["Enabled"]:
            found, etag = await client.update_distribution(
                distribution_id, {**config, "Enabled": False}, etag
            )
        # As on CloudFront, a delete is refused until the disabled config reads Deployed: an
        # edge that has not applied it holds it InProgress (at most until its lease lapses).
        deadline = time.monotonic() + DEPLOY_WAIT_SECONDS
        while found["Status"] != "Deployed" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            found, etag = await client.get_distribution(distribution_id)
        await client.delete_distribution(distribution_id, etag)
    click.echo(f"deleted {distribution_id}")
