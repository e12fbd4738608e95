"""Child processes that announce themselves on their output: read until they are ready, then
keep draining the pipe (so a chatty process never blocks) and keep the lines for messages."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

MAX_LINES = 10_000


def wait_for_output(
    proc: subprocess.Popen[str],
    output: list[str],
    ready: Callable[[str], bool],
    timeout: float,
    what: str,
) -> None:
    """Append `proc`'s lines to `output` until `ready(line)` says it has all it waits for; from
    then on a daemon thread keeps draining. When the output ends or `timeout` runs out first,
    SIGKILL and raise RuntimeError("WHAT did not start", with the output)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if ready(line):
            threading.Thread(target=_drain, args=(proc, output), daemon=True).start()
            return
    kill(proc)
    raise RuntimeError(f"{what} did not start:\n" + "".join(output))


def _drain(proc: subprocess.Popen[str], output: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if len(output) < MAX_LINES:
            output.append(line)


def kill(proc: subprocess.Popen[str] | None) -> None:
    """SIGKILL a process still running, and reap it."""
    if proc and proc.poll() is None:
        proc.kill()
        proc.wait(10)
