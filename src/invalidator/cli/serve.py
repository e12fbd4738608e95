"""`invalidator serve`: the control plane on the embedded default, plus a built-in edge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from invalidator import __version__
from invalidator.api.http_protocol import ApiHttpProtocol
from invalidator.cli.data_lock import data_dir_lock
from invalidator.cli.options import SERVE_SETTINGS, settings_from, settings_options
from invalidator.cli.servers import Shutdown, bound_port, start_server, uvicorn_server
from invalidator.domain.clock import SystemClock
from invalidator.domain.ids import RandomIds
from invalidator.edge.fast_http import EdgeHttpProtocol
from invalidator.http_head import with_limits
from invalidator.logs import configure_logging
from invalidator.propagation.local_link import LocalLink
from invalidator.runtime import build_control_plane, build_edge, ensure_access_key
from invalidator.settings import Settings, http_url

_log = logging.getLogger("invalidator.server")


async def serve_forever(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM: stop accepting, finish in-flight requests, flush the store.

    The data directory's lock is held from before the store opens until after it closed.
    """
    shutdown = Shutdown()
    # The CLI nudges the lock holder with SIGUSR1 (data_lock.nudge_server) as soon as the lock
    # names this pid; its default action would end a server still starting. Ignored until
    # the handler is installed: the store is read fresh at start anyway.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    with data_dir_lock(Path(settings.data_dir)):
        await _serve_locked(settings, shutdown)


async def _serve_locked(settings: Settings, shutdown: Shutdown) -> None:
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
    shutdown.on_request(plane.propagation.stopping)
    # The in-process CLI nudges us after it changed the store (cli/data_lock.nudge_server).
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGUSR1, plane.propagation.store_changed
        )
    edge = None
    port = -1
    try:
        protocol = with_limits(ApiHttpProtocol, settings.body_timeout)
        api = shutdown.register(
            uvicorn_server(
                plane.app,
                settings.host,
                settings.port,
                http=protocol,
                longest_request=settings.body_timeout,
            )
        )
        tasks = [await start_server(api, "invalidator API")]
        if settings.edge_port >= 0:
            edge_server_host = settings.edge_host or settings.host
            link = LocalLink(plane.propagation, plane.store)
            edge = build_edge(settings, link, "", "")
            edge_server = uvicorn_server(
                edge.proxy,
                edge_server_host,
                settings.edge_port,
                http=with_limits(EdgeHttpProtocol, settings.body_timeout),
                longest_request=max(settings.body_timeout, settings.origin_timeout),
            )
            tasks.append(await start_server(shutdown.register(edge_server), "invalidator edge"))
            port = bound_port(edge_server)
            edge.agent.name = settings.edge_name or f"builtin-{edge_server_host}-{port}"
            edge.agent.url = http_url(edge_server_host, port)
            await edge.start()
        sys.stdout.flush()
        _log.info(
            "serving",
            extra={
                "version": __version__,
                "api_port": bound_port(api),
                "edge_port": port if edge is not None else None,
                "data_dir": str(settings.data_dir),
            },
        )
        await asyncio.gather(*tasks)
    finally:
        if edge is not None:
            await edge.stop()
        await plane.stop()
        _log.info("stopped: the store is flushed and closed")


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
    """Run the control plane (API, store, propagation) and the built-in edge (--edge-port -1:
    none)."""
    run(serve_forever(settings_from(flags)))
