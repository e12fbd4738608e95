"""Run standalone `invalidator edge` processes for end-to-end tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from tests.support.child import kill, wait_for_output
from tests.support.server import ServerProcess, server_env
from tests.support.signing import SignedClient

_LISTENING = re.compile(r"invalidator edge listening on (http://\S+)")


@dataclass
class EdgeProcess:
    """One standalone edge following `control_plane`, listening on `listen` (HOST:PORT)."""

    control_plane: str
    listen: str = "127.0.0.1:0"
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    output: list[str] = field(default_factory=list)

    def spawn(self) -> EdgeProcess:
        """Start the process (see `wait_ready`)."""
        cmd = [sys.executable, "-m", "invalidator", "edge", "--control-plane",
               self.control_plane, "--listen", self.listen, *self.extra_args]  # fmt: skip
        self.output = []
        self.url = ""
        self.proc = subprocess.Popen(
            cmd, env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        return self

    def wait_ready(self, timeout: float = 20.0) -> EdgeProcess:
        """Wait for the listening line; keep draining the output afterwards."""
        assert self.proc is not None

        def ready(line: str) -> bool:
            found = _LISTENING.search(line)
            if found:
                self.url = found.group(1)
                self.listen = self.url.removeprefix("http://")
            return bool(found)

        wait_for_output(self.proc, self.output, ready, timeout, "edge")
        return self

    def kill(self) -> None:
        """SIGKILL: no deregistration, the lease just runs out."""
        kill(self.proc)

    def freeze(self) -> None:
        """SIGSTOP: the process stands still (as a suspended host would), its sockets open."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: it runs on from where it stood."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self) -> int:
        """SIGTERM (a clean stop deregisters); returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


@dataclass
class Stalled:
    """A control plane whose only edge is frozen while holding a live lease."""

    server: ServerProcess
    edge: EdgeProcess
    api: SignedClient

    def thaw(self) -> None:
        """Let the edge run again (it catches up and acknowledges)."""
        assert self.edge.proc is not None
        self.edge.proc.send_signal(signal.SIGCONT)

    def status(self, dist_id: str, inv_id: str) -> str:
        """The invalidation's Status as GetInvalidation reports it."""
        got = self.api.send("GET", f"/2020-05-31/distribution/{dist_id}/invalidation/{inv_id}")
        assert got.status_code == 200, got.text
        return got.text.split("<Status>")[1].split("</Status>")[0]
