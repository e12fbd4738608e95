"""Serve an ASGI app with a real uvicorn on a free port: in a background thread, or in the
running event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _config(app: Any, **kwargs: Any) -> uvicorn.Config:
    kwargs.setdefault("log_level", "warning")
    kwargs.setdefault("lifespan", "on")
    kwargs.setdefault("interface", "asgi3")
    kwargs.setdefault("proxy_headers", False)
    return uvicorn.Config(app, loop="asyncio", timeout_graceful_shutdown=2, **kwargs)


class ThreadedUvicorn:
    """A uvicorn server running `app` in its own thread and event loop."""

    def __init__(self, app: Any, **config: Any) -> None:
        self._sock = _bound_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(_config(app, **config))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout: float = 10.0) -> ThreadedUvicorn:
        """Start and wait until it accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask it to exit and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(10)
        self._sock.close()


@asynccontextmanager
async def serve_in_loop(app: Any, **config: Any) -> AsyncIterator[str]:
    """Serve `app` in the running loop for the duration of the block; yields its base URL."""
    sock = _bound_socket()
    server = uvicorn.Server(_config(app, **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
