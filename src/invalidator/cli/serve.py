"""`invalidator serve`: the control plane on the embedded default, plus a built-in edge."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

import click

from invalidator.cli.options import SERVE_SETTINGS, settings_from, settings_options
from invalidator.cli.servers import bound_port, start_server, uvicorn_server
from invalidator.domain.clock import SystemClock
from invalidator.domain.ids import RandomIds
from invalidator.logs import configure_logging
from invalidator.propagation.local_link import LocalLink
from invalidator.runtime import build_control_plane, build_edge, ensure_access_key
from invalidator.settings import Settings


def install_shutdown(servers: list[Any]) -> asyncio.Event:
    """SIGINT/SIGTERM: ask every server to finish in-flight requests and stop.

    Installed after uvicorn started, so it replaces uvicorn's own handlers: the process
    then exits normally once everything below is flushed, instead of re-raising the signal.
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        stopping.set()
        for server in servers:
            server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, request_stop)
    return stopping


# The SQLite writer thread gives the GIL up for every statement; when it wants it back, the
# event loop holds it until the switch interval ends (5 ms by default), which stalls group
# commits under load. 0.5 ms: bench.creates +5-15 % creates/s and a lower p99 (bench/README.md).
_SWITCH_INTERVAL = 0.0005


async def serve_forever(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM: stop accepting, finish in-flight requests, flush the store."""
    sys.setswitchinterval(_SWITCH_INTERVAL)
    configure_logging(settings.log_level)
    plane = build_control_plane(settings)
    created = await ensure_access_key(plane.store, settings, SystemClock(), RandomIds())
    if created is not None:
        click.echo(
            "Created the first access key (shown only once; `invalidator keys` manages keys):\n"
            f"  AWS_ACCESS_KEY_ID={created.access_key_id}\n"
            f"  AWS_SECRET_ACCESS_KEY={created.secret_access_key}"
        )
    await plane.start()
    api = uvicorn_server(plane.app, settings.host, settings.port)
    tasks = [await start_server(api, "invalidator API")]
    servers = [api]
    edge = None
    if settings.edge_port >= 0:
        edge_server_host = settings.edge_host or settings.host
        link = LocalLink(plane.propagation, plane.store)
        edge_server = uvicorn_server(None, edge_server_host, settings.edge_port)
        edge = build_edge(settings, link, "", "")
        edge_server.config.app = edge.proxy
        tasks.append(await start_server(edge_server, "invalidator edge"))
        servers.append(edge_server)
        # Before anything else awaits: a SIGTERM right after the listening lines must be ours
        # (uvicorn's own handlers would re-raise it after shutdown: exit status -15).
        install_shutdown(servers)
        port = bound_port(edge_server)
        edge.agent.name = settings.edge_name or f"builtin-{edge_server_host}-{port}"
        edge.agent.url = f"http://{edge_server_host}:{port}"
        await edge.start()
    else:
        install_shutdown(servers)
    sys.stdout.flush()
    try:
        await asyncio.gather(*tasks)
    finally:
        if edge is not None:
            await edge.stop()
        await plane.stop()


def run(coro: Any) -> None:
    """Run a coroutine on uvloop when available."""
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    runner(coro)


@click.command()
@settings_options(*SERVE_SETTINGS)
def serve(**flags: Any) -> None:
    """Run the control plane (API, store, propagation) and, with --edge-port, an edge."""
    run(serve_forever(settings_from(flags)))
