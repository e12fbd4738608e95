"""Running ASGI apps under uvicorn inside our own event loop (several per process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import click
import uvicorn

from invalidator.settings import http_url

_log = logging.getLogger("invalidator.server")


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
        stop the whole loop with a traceback. The cause uvicorn logged ("[Errno 98] ...
        address already in use") is kept for the one-line error."""
        causes = _Recorder()
        uvicorn_log = logging.getLogger("uvicorn.error")
        uvicorn_log.addHandler(causes)
        try:
            await super().startup(sockets=sockets)
        except SystemExit:
            where = f"cannot listen on {self.config.host}:{self.config.port}"
            reason = f": {causes.messages[-1]}" if causes.messages else ""
            raise ListenFailed(where + reason) from None
        finally:
            uvicorn_log.removeHandler(causes)


class _Recorder(logging.Handler):
    """Keeps the messages of the records it sees (error and above)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])


class ListenFailed(Exception):
    """A server could not bind its address (the reason was logged)."""


class Shutdown:
    """SIGINT/SIGTERM/SIGHUP → ask every registered server to finish in-flight requests and
    stop; a second signal stops them without waiting for those (every acknowledged write is
    already on disk). SIGHUP is left alone when it is ignored (under `nohup`).

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
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signum == signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN:
                continue  # started under nohup: a hang-up must not stop it
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request)

    def request(self) -> None:
        """Stop every server (as a signal does) and run the stop hooks; when a stop was
        already requested, stop without waiting for in-flight requests."""
        first = not self.requested.is_set()
        self.requested.set()
        for server in self._servers:
            server.should_exit = True
            if not first:
                server.force_exit = True
        if first:
            _log.info("stopping: finishing the requests in flight")
            for hook in self._hooks:
                self._start(hook)
        else:
            _log.warning("stopping now: requests in flight are not waited for")

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
    app: Any,
    host: str,
    port: int,
    http: type[asyncio.Protocol] | str = "httptools",
    longest_request: float = 10.0,
) -> EmbeddedServer:
    """A uvicorn server for `app` without its own logging or signal ownership; `http` is the
    protocol (an edge passes `EdgeHttpProtocol`). A stop waits for the requests in flight up
    to `longest_request` seconds and one more (the longest a request can take by its own
    timeouts: a trickled body, a slow origin), so each gets its own answer, not a cut."""
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
        timeout_graceful_shutdown=max(10, int(longest_request) + 1),
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
