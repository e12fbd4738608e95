"""`invalidator invalidate` and `invalidator invalidations list|show`: clients of the HTTP API."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from typing import Any

import click

from invalidator.api.wire.xmltree import unwritable_char
from invalidator.cli.api_client import InvalidationView
from invalidator.cli.local import remote_client
from invalidator.cli.options import CLIENT_SETTINGS, run_async, settings_from, settings_options

_POLL_FIRST = 0.1  # seconds between GetInvalidation calls at first, growing to _POLL_MOST
_POLL_MOST = 1.0
_PROGRESS_EVERY = 5.0  # seconds between "still InProgress" lines


def _show(inv: InvalidationView) -> None:
    click.echo(f"Id:              {inv.id}")
    click.echo(f"Status:          {inv.status}")
    click.echo(f"CreateTime:      {inv.create_time}")
    click.echo(f"CallerReference: {inv.caller_reference}")
    click.echo("Paths:           " + " ".join(inv.paths))


@click.command()
@click.argument("distribution_id")
@click.argument("paths", nargs=-1, required=True)
@click.option("--wait", is_flag=True, help="Show progress until the invalidation is Completed.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait waits at most.")
@settings_options(*CLIENT_SETTINGS)
@run_async
async def invalidate(
    distribution_id: str, paths: tuple[str, ...], wait: bool, timeout: float, **flags: Any
) -> None:
    """Invalidate PATHS (`/a.jpg`, `/img/*`, `#tag`) on a distribution."""
    if not math.isfinite(timeout) or timeout < 0:
        raise click.BadParameter(f"{timeout:g} is not a number of seconds", param_hint="--timeout")
    for path in paths:
        _check_sendable(path)
    async with remote_client(settings_from(flags)) as client:
        caller_reference = f"invalidator-cli-{uuid.uuid4()}"
        inv = await client.create_invalidation(distribution_id, list(paths), caller_reference)
        click.echo(f"{inv.id} {inv.status}")
        started = time.monotonic()
        next_note = started + _PROGRESS_EVERY
        delay = _POLL_FIRST
        while wait and inv.status != "Completed":
            if time.monotonic() - started > timeout:
                raise click.ClickException(f"{inv.id} still {inv.status} after {timeout:g}s")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, _POLL_MOST)
            current = await client.get_invalidation(distribution_id, inv.id)
            now = time.monotonic()
            if current.status != inv.status:
                click.echo(f"{current.id} {current.status} after {now - started:.2f}s")
            elif now >= next_note:
                click.echo(f"{current.id} still {current.status} after {now - started:.0f}s")
                next_note = now + _PROGRESS_EVERY
            inv = current


def _check_sendable(path: str) -> None:
    """A usage error for a path no request can carry as it is: a byte of the command line
    that is not UTF-8, or a character XML 1.0 has no place for (C0 controls; CloudFront
    refuses control characters in paths anyway). Sent, it would arrive changed."""
    bad = unwritable_char(path)
    if bad is None:
        return
    if "\udc80" <= bad <= "\udcff":  # how Python carries an argv byte that is not UTF-8
        why = f"byte 0x{ord(bad) - 0xDC00:02X} is not UTF-8"
    else:
        why = f"U+{ord(bad):04X} cannot be sent in an XML request"
    raise click.BadParameter(f"{path!r}: {why}", param_hint="PATHS")


@click.group()
def invalidations() -> None:
    """Look at a distribution's invalidations."""


@invalidations.command("list")
@click.argument("distribution_id")
@settings_options(*CLIENT_SETTINGS)
@run_async
async def list_invalidations(distribution_id: str, **flags: Any) -> None:
    """List invalidations, newest first."""
    async with remote_client(settings_from(flags)) as client:
        rows = await client.list_invalidations(distribution_id)
    click.echo(f"{'ID':16} {'CREATED':26} STATUS")
    for inv_id, created, status in rows:
        click.echo(f"{inv_id:16} {created:26} {status}")


@invalidations.command("show")
@click.argument("distribution_id")
@click.argument("invalidation_id")
@settings_options(*CLIENT_SETTINGS)
@run_async
async def show_invalidation(distribution_id: str, invalidation_id: str, **flags: Any) -> None:
    """Show one invalidation."""
    async with remote_client(settings_from(flags)) as client:
        _show(await client.get_invalidation(distribution_id, invalidation_id))
