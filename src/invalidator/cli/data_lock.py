"""One `invalidator serve` per data directory: an exclusive lock held for the process lifetime.

Two control planes on one store would each complete invalidations by their own view of the
leases: the second one, which no edge heartbeats to, would find every lease expired and
report Completed without any edge acknowledging. `serve` takes `flock(LOCK_EX)` on
`<data_dir>/serve.lock` before opening the store; a second one fails within half a second (a
CLI command's nudge, which holds the lock shared for a moment, is waited out). The lock is the
kernel's: it goes when the process does, also when it is killed, so a stale file never blocks
a restart. The in-process CLI commands take no lock: they never complete invalidations.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import click

from invalidator.store.sqlite import make_data_dir

LOCK_NAME = "serve.lock"


class DataDirLocked(click.ClickException):
    """Another serve holds the data directory (exit status 1, no traceback)."""


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[Path]:
    """Hold the data directory's serve lock for the duration; DataDirLocked if taken."""
    path = data_dir / LOCK_NAME
    try:
        make_data_dir(data_dir)  # as the store makes it
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise click.ClickException(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        if not _lock_exclusive(fd):
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise DataDirLocked(
                f"another `invalidator serve` (pid {holder}) is using the data directory "
                f"{data_dir}; stop it first, or give this one its own --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _lock_exclusive(fd: int, patience: float = 0.5) -> bool:
    """LOCK_EX, retried for `patience` seconds: a CLI command's `nudge_server` holds LOCK_SH
    for a moment (and must not make a starting serve give up); a serve holds it for good."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def nudge_server(data_dir: Path) -> bool:
    """Tell the `serve` holding `data_dir` (if any) that the store changed, so it picks the
    change up now rather than at its next 50 ms look; True when one was told.

    SIGUSR1 to the pid in the lock file, only while that file is locked (a stale pid of a
    dead server, or of an unrelated process since, is never signalled).
    """
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a server runs
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            if holder.isdigit():
                with contextlib.suppress(OSError):
                    os.kill(int(holder), signal.SIGUSR1)
                    return True
        return False
    finally:
        os.close(fd)
