"""`invalidator edge` (a standalone edge) and `invalidator edges list`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import click

from invalidator.cli.local import remote_client
from invalidator.cli.options import (
    CLIENT_SETTINGS,
    EDGE_SETTINGS,
    run_async,
    settings_from,
    settings_options,
)
from invalidator.cli.serve import run
from invalidator.cli.servers import Shutdown, bound_port, start_server, uvicorn_server
from invalidator.edge.fast_http import EdgeHttpProtocol
from invalidator.edge.link import HttpLink
from invalidator.http_head import with_limits
from invalidator.logs import configure_logging
from invalidator.runtime import build_edge
from invalidator.settings import Settings, http_url, is_http_url

_WILDCARD = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (compared, not bound)


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.UsageError(
            f"--listen must be HOST:PORT with a port from 0 to 65535, not {listen!r}"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def default_edge_name(host: str, port: int) -> str:
    """`edge-HOST-PORT`, with this machine's host name for a wildcard address (only a label:
    each edge process has its own session whatever its name)."""
    if host in _WILDCARD:
        host = socket.gethostname() or host
    return f"edge-{host}-{port}"


async def run_edge(settings: Settings) -> None:
    """Serve as an edge of the control plane at `settings.control_plane` until interrupted."""
    shutdown = Shutdown()
    configure_logging(settings.log_level)
    if not settings.control_plane:
        raise click.UsageError("--control-plane URL is required")
    if not is_http_url(settings.control_plane):  # registration would retry it for ever
        raise click.UsageError(
            f"--control-plane must be an http(s)://HOST[:PORT] URL, not {settings.control_plane!r}"
        )
    if not (settings.access_key_id and settings.secret_access_key):
        raise click.UsageError(
            "an edge needs credentials allowed on every distribution: set "
            "INVALIDATOR_ACCESS_KEY_ID / INVALIDATOR_SECRET_ACCESS_KEY or the flags"
        )
    host, port = _split_listen(settings.listen)
    link = HttpLink(settings.control_plane, settings.access_key_id, settings.secret_access_key)
    node = build_edge(settings, link, "", "")
    server = shutdown.register(
        uvicorn_server(
            node.proxy,
            host,
            port,
            http=with_limits(EdgeHttpProtocol, settings.body_timeout),
            longest_request=max(settings.body_timeout, settings.origin_timeout),
        )
    )
    try:
        task = await start_server(server, "invalidator edge")
        bound = bound_port(server)
        node.agent.name = settings.edge_name or default_edge_name(host, bound)
        node.agent.url = http_url(host, bound)
        # Registration retries until the control plane answers: a stop request ends it too.
        starting = asyncio.create_task(node.start())
        stopped = asyncio.create_task(shutdown.requested.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not starting.done():
            starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await task
    finally:
        await node.stop()


@click.command()
@settings_options(*EDGE_SETTINGS)
def edge(**flags: Any) -> None:
    """Run a standalone edge (caching reverse proxy) of a control plane."""
    run(run_edge(settings_from(flags)))


@click.group()
def edges() -> None:
    """Look at the edge fleet."""


@edges.command("list")
@settings_options(*CLIENT_SETTINGS)
@run_async
async def list_edges(**flags: Any) -> None:
    """Each edge session with its lease and progress through the event log."""
    async with remote_client(settings_from(flags)) as client:
        data = await client.request_json("GET", "/_invalidator/edges")
    click.echo(f"event log head: {data['head']}")
    click.echo(
        f"{'NAME':28} {'LEASE':8} {'LEFT':>6} {'CURSOR':>8} {'BEHIND':>7} {'SESSION':14} URL"
    )
    for row in data["edges"]:
        click.echo(
            f"{row['name']:28} {row['lease']:8} {row['lease_seconds_left']:6.1f} "
            f"{row['cursor']:8d} {row['behind']:7d} {row['edge_id']:14} {row['url']}"
        )
