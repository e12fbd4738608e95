"""Per-access-key rate limiting (token bucket); off unless configured."""

from __future__ import annotations

import time
from collections.abc import Callable

from invalidator.domain.errors import Throttling


class RateLimiter:
    """Allows `rate` requests a second per key with bursts up to `burst`."""

    def __init__(
        self, rate: float, burst: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._now = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key_id: str) -> None:
        """Take a token for the key or raise Throttling."""
        now = self._now()
        tokens, last = self._buckets.get(key_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1:
            self._buckets[key_id] = (tokens, now)
            raise Throttling()
        self._buckets[key_id] = (tokens - 1, now)
