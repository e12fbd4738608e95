"""A ControlPlaneLink wrapper that injects faults between an edge and the control plane.

    link = FaultLink(LocalLink(coordinator, store))
    link.cut = True          # every call (and every answer still on its way) fails
    link.parking = True      # calls wait in `link.parked` until a test releases them

A parked call waits twice: before it reaches the control plane ("request") and before its
answer reaches the edge ("response"), so a test (or a scheduler) decides exactly when a
heartbeat arrives and when the edge learns the outcome. `release(call)` lets it go on,
`fail(call)` loses it (the edge sees a LinkError); a call cut or failed after its request was
delivered has still had its effect on the control plane, as a lost answer over TCP would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from invalidator.domain.models import Event, LeaseGrant
from invalidator.domain.serving import ServingConfig
from invalidator.edge.link import ControlPlaneLink, LinkError

T = TypeVar("T")


@dataclass(eq=False)
class ParkedCall:
    """One call held by the link: its operation, phase and the task that made it."""

    operation: str
    phase: str  # "request" (not yet delivered) or "response" (delivered, answer held)
    task: asyncio.Task[object] | None
    released: asyncio.Event = field(default_factory=asyncio.Event)
    failed: bool = False


class FaultLink:
    """ControlPlaneLink around another one: cut, delay or park its calls."""

    def __init__(self, inner: ControlPlaneLink) -> None:
        self.inner = inner
        self.cut = False
        self.parking = False
        self.delay = 0.0  # seconds every call waits before it is delivered
        self.parked: list[ParkedCall] = []
        self.calls: list[str] = []

    def release(self, call: ParkedCall) -> None:
        """Let a parked call go on (it leaves `parked` at once)."""
        if call in self.parked:
            self.parked.remove(call)
        call.released.set()

    def fail(self, call: ParkedCall) -> None:
        """Lose a parked call: the edge gets a LinkError."""
        call.failed = True
        self.release(call)

    def fail_all(self) -> None:
        """Lose every parked call (the control plane went away)."""
        for call in list(self.parked):
            self.fail(call)

    async def _hold(self, operation: str, phase: str) -> None:
        if self.cut:
            raise LinkError(f"link cut ({operation} {phase})")
        if not self.parking:
            return
        call = ParkedCall(operation, phase, asyncio.current_task())
        self.parked.append(call)
        try:
            await call.released.wait()
        finally:
            if call in self.parked:  # cancelled while parked
                self.parked.remove(call)
        if call.failed or self.cut:
            raise LinkError(f"link lost {operation} {phase}")

    async def _call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        self.calls.append(operation)
        if self.delay:
            await asyncio.sleep(self.delay)
        await self._hold(operation, "request")
        result = await make()
        await self._hold(operation, "response")
        return result

    async def register(
        self, name: str, url: str, cursor: int | None, stamp: str = ""
    ) -> LeaseGrant:
        """Forward register."""
        return await self._call("register", lambda: self.inner.register(name, url, cursor, stamp))

    async def heartbeat(self, edge_id: str, cursor: int, stamp: str = "") -> LeaseGrant:
        """Forward heartbeat."""
        return await self._call("heartbeat", lambda: self.inner.heartbeat(edge_id, cursor, stamp))

    async def deregister(self, edge_id: str) -> None:
        """Forward deregister."""
        await self._call("deregister", lambda: self.inner.deregister(edge_id))

    async def events(self, after: int, wait: float) -> tuple[list[Event], int, str | None]:
        """Forward events."""
        return await self._call("events", lambda: self.inner.events(after, wait))

    async def distributions(self) -> list[ServingConfig]:
        """Forward distributions."""
        return await self._call("distributions", self.inner.distributions)

    async def distribution(self, distribution_id: str) -> ServingConfig | None:
        """Forward distribution."""
        return await self._call("distribution", lambda: self.inner.distribution(distribution_id))

    async def aclose(self) -> None:
        """Close the inner link."""
        await self.inner.aclose()
