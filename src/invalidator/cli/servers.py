"""Running ASGI apps under uvicorn inside our own event loop (several per process)."""

from __future__ import annotations

import asyncio
from typing import Any

import click
import uvicorn


def uvicorn_server(app: Any, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for `app` without its own logging or signal ownership."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        http="httptools",
        server_header=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


async def start_server(server: uvicorn.Server, label: str) -> asyncio.Task[None]:
    """Start serving; print `<label> listening on http://HOST:PORT` once bound."""
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
        raise click.ClickException(f"{label} failed to start")
    for srv in server.servers:
        for sock in srv.sockets:
            host, port = sock.getsockname()[:2]
            click.echo(f"{label} listening on http://{host}:{port}")
    return task


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server is bound to."""
    return int(server.servers[0].sockets[0].getsockname()[1])
