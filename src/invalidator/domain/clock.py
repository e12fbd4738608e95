"""Time as a dependency: the domain never calls datetime.now() itself.

Two kinds of time: the wall clock (`Clock`, UTC timestamps shown to clients) and the lease
clock (`lease_clock`, elapsed seconds deciding whether a lease is live). Leases are counted
on CLOCK_BOOTTIME where the platform has it (Linux): unlike CLOCK_MONOTONIC (what
`time.monotonic` reads there) it keeps running while the host or VM is suspended, so an edge
that resumes after a suspension finds its lease over instead of serving from cache on a lease
the control plane gave up long ago. Neither clock jumps when the wall clock is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of the current UTC time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _pick_lease_clock() -> Callable[[], float]:
    if hasattr(time, "CLOCK_BOOTTIME"):
        try:
            _boottime()
        except OSError:  # a kernel without it (older than 2.6.39)
            return time.monotonic
        return _boottime
    return time.monotonic


lease_clock: Callable[[], float] = _pick_lease_clock()
"""Seconds on the clock leases are counted with (CLOCK_BOOTTIME, else time.monotonic)."""

LEASE_CLOCK_NAME = "CLOCK_BOOTTIME" if lease_clock is _boottime else "time.monotonic"
"""Which clock `lease_clock` reads (shown by `/_invalidator/metrics`)."""
