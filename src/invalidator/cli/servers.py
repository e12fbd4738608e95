"""Running ASGI apps under uvicorn inside our own event loop (several per process)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import click
import uvicorn

from invalidator.settings import http_url


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the process (see `Shutdown`).

    uvicorn's own handlers re-raise a captured SIGTERM once the server has stopped, which would
    end the process with status -15 before our store is flushed; several servers per process
    would also each save and restore each other's handlers.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup, but a failure to listen ends this task, not the event loop:
        uvicorn logs the cause and calls sys.exit(), and a SystemExit escaping a task would
        stop the whole loop with a traceback."""
        try:
            await super().startup(sockets=sockets)
        except SystemExit:
            raise ListenFailed(f"cannot listen on {self.config.host}:{self.config.port}") from None


class ListenFailed(Exception):
    """A server could not bind its address (the reason was logged)."""


class Shutdown:
    """SIGINT/SIGTERM → ask every registered server to finish in-flight requests and stop.

    Installed first thing, before any server or store exists, so no signal can arrive while
    the default (process-killing) handler is still in place; servers registered after a
    signal are told to stop at once.
    """

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self._servers: list[uvicorn.Server] = []
        self._hooks: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._running: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request)

    def request(self) -> None:
        """Stop every server (as a signal does) and run the stop hooks."""
        first = not self.requested.is_set()
        self.requested.set()
        for server in self._servers:
            server.should_exit = True
        if first:
            for hook in self._hooks:
                self._start(hook)

    def on_request(self, hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `hook` when a stop is requested (e.g. to answer long-polls, so in-flight
        requests end within the graceful shutdown); at once when one already was."""
        self._hooks.append(hook)
        if self.requested.is_set():
            self._start(hook)

    def _start(self, hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.get_running_loop().create_task(hook())
        self._running.add(task)  # a reference, until done
        task.add_done_callback(self._running.discard)

    def register(self, server: uvicorn.Server) -> uvicorn.Server:
        """Stop `server` with the others; at once when a stop was already requested."""
        self._servers.append(server)
        server.should_exit = self.requested.is_set()
        return server


def uvicorn_server(
    app: Any, host: str, port: int, http: type[asyncio.Protocol] | str = "httptools"
) -> EmbeddedServer:
    """A uvicorn server for `app` without its own logging or signal ownership; `http` is the
    protocol (an edge passes `EdgeHttpProtocol`)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        http=http,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=30,
    )
    return EmbeddedServer(config)


async def start_server(server: uvicorn.Server, label: str) -> asyncio.Task[None]:
    """Start serving; print `<label> listening on http://HOST:PORT` once bound."""
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done() and not server.started:
        try:
            task.result()
        except ListenFailed as exc:  # uvicorn logged why ("[Errno 98] ... already in use")
            raise click.ClickException(f"{label} failed to start: {exc}") from None
        raise click.ClickException(f"{label} failed to start")
    for srv in server.servers:
        for sock in srv.sockets:
            host, port = sock.getsockname()[:2]
            click.echo(f"{label} listening on {http_url(host, port)}")
    return task


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server is bound to."""
    return int(server.servers[0].sockets[0].getsockname()[1])
