"""The edges' endpoints on the control plane (`/_invalidator/edge/...`, JSON, SigV4-signed).

Standalone edges register, long-poll the event log, heartbeat (acks ride on heartbeats) and
read serving configs here. Only keys allowed on every distribution may act as edges or list
them. These routes are exempt from the per-key rate limit: a throttled heartbeat would lapse
a lease and send the whole fleet's traffic to the origins.
"""

from __future__ import annotations

from invalidator.api.http import Request, Response
from invalidator.api.routing import Call, Handler, Route, route
from invalidator.api.wire.edge_json import (
    MalformedJSON,
    dump,
    event_to_json,
    is_position,
    load_object,
    serving_to_json,
)
from invalidator.api.wire.numbers import bounded_int
from invalidator.domain.errors import AccessDenied, InvalidArgument, NoSuchDistribution
from invalidator.domain.models import LeaseGrant
from invalidator.domain.ports import Store
from invalidator.domain.serving import serving_config_of
from invalidator.propagation.coordinator import Coordinator

PREFIX = "/_invalidator/edge"
MAX_WAIT = 30.0


def _json(value: object, status: int = 200) -> Response:
    return Response(status, dump(value), content_type="application/json")


def _grant(grant: LeaseGrant) -> Response:
    return _json(
        {
            "edge_id": grant.edge_id,
            "lease_seconds": grant.lease_seconds,
            "head": grant.head,
            "cursor": grant.cursor,
            "epoch": grant.epoch,
            "lapsed": grant.lapsed,
            "foreign": grant.foreign,
        }
    )


_INT64_MAX = 2**63 - 1


def _stamp(body: dict[str, object]) -> str:
    """The optional `stamp` of the event at the edge's cursor (absent from older edges)."""
    stamp = body.get("stamp", "")
    if not isinstance(stamp, str) or len(stamp) > 64:
        raise MalformedJSON("stamp must be a string of at most 64 characters.")
    return stamp


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query().get(name)
    if raw is None:
        return default
    value = bounded_int(raw, 0, _INT64_MAX) if raw[:1] not in "+-" else None
    if value is None:  # also thousands of digits (int() refuses them) or a non-ASCII digit
        raise InvalidArgument(f"{name} must be a non-negative integer below 2**63.")
    return value


class EdgeOperations:
    """register, heartbeat, deregister, events, distributions, list."""

    def __init__(self, coordinator: Coordinator, store: Store) -> None:
        self._coordinator = coordinator
        self._store = store

    def routes(self) -> list[Route]:
        """This family's routes (unversioned)."""

        def edge(method: str, path: str, operation: str, handler: Handler) -> Route:
            return route(
                method, PREFIX + path, operation, handler, versioned=False, throttled=False
            )

        return [
            edge("POST", "/register", "EdgeRegister", self.register),
            edge("POST", "/heartbeat", "EdgeHeartbeat", self.heartbeat),
            edge("POST", "/deregister", "EdgeDeregister", self.deregister),
            edge("GET", "/events", "EdgeEvents", self.events),
            edge("GET", "/distributions", "EdgeDistributions", self.distributions),
            edge("GET", "/distributions/{dist}", "EdgeDistribution", self.distribution),
            route("GET", PREFIX + "s", "ListEdges", self.list_edges, versioned=False),
        ]  # fmt: skip

    @staticmethod
    def _require_fleet_key(call: Call, action: str = "act as an edge") -> None:
        if call.key.distributions is not None:
            raise AccessDenied(
                f"User: {call.key.access_key_id} is not authorized to {action}: "
                "that needs a key allowed on every distribution."
            )

    async def register(self, call: Call) -> Response:
        """An edge starts (or restarts): it gets an id, a lease and its starting cursor."""
        self._require_fleet_key(call)
        body = load_object(call.request.body)
        name, url, cursor = body.get("name"), body.get("url", ""), body.get("cursor")
        if not isinstance(name, str) or not name or not isinstance(url, str):
            raise MalformedJSON("register needs a name and a url.")
        if len(name) > 256 or len(url) > 2048:
            raise InvalidArgument("An edge's name is at most 256 characters, its url 2048.")
        if cursor is not None and not is_position(cursor):
            raise MalformedJSON("cursor must be a non-negative integer below 2**63, or null.")
        stamp = _stamp(body)
        return _grant(await self._coordinator.register(name, url, cursor, stamp=stamp))

    async def heartbeat(self, call: Call) -> Response:
        """Renew the lease and acknowledge everything up to `cursor`."""
        self._require_fleet_key(call)
        body = load_object(call.request.body)
        edge_id, cursor = body.get("edge_id"), body.get("cursor")
        if not isinstance(edge_id, str) or not is_position(cursor):
            raise MalformedJSON("heartbeat needs edge_id and a non-negative integer cursor.")
        return _grant(await self._coordinator.heartbeat(edge_id, cursor, _stamp(body)))

    async def deregister(self, call: Call) -> Response:
        """A clean stop."""
        self._require_fleet_key(call)
        edge_id = load_object(call.request.body).get("edge_id")
        if not isinstance(edge_id, str):
            raise MalformedJSON("deregister needs edge_id.")
        await self._coordinator.deregister(edge_id)
        return _json({})

    async def events(self, call: Call) -> Response:
        """Events after `after`, long-polling up to `wait` seconds."""
        self._require_fleet_key(call)
        after = _int(call.request, "after", 0)
        wait = min(float(_int(call.request, "wait_ms", 0)) / 1000.0, MAX_WAIT)
        if self._coordinator.is_stopping:  # shutting down: no new long-poll may hold it up
            wait = 0.0
        found, head, anchor = await self._coordinator.events(after, wait)
        events = [event_to_json(e) for e in found]
        return _json({"events": events, "head": head, "anchor": anchor})

    async def distributions(self, call: Call) -> Response:
        """Every distribution's serving config."""
        self._require_fleet_key(call)
        configs = [
            serving_to_json(serving_config_of(d)) for d in await self._store.list_distributions()
        ]
        return _json({"distributions": configs, "head": self._coordinator.head})

    async def distribution(self, call: Call) -> Response:
        """One distribution's serving config."""
        self._require_fleet_key(call)
        found = await self._store.get_distribution(call.params["dist"])
        if found is None:
            raise NoSuchDistribution()
        return _json(serving_to_json(serving_config_of(found)))

    async def list_edges(self, call: Call) -> Response:
        """Each edge session with its lease and progress (for `invalidator edges list`); the
        fleet's names and addresses are for keys allowed on every distribution only."""
        self._require_fleet_key(call, "list the edge fleet")
        head = self._coordinator.head
        rows = [
            {
                "edge_id": lease.edge_id,
                "name": lease.name,
                "url": lease.url,
                "cursor": lease.cursor,
                "behind": max(0, head - lease.cursor),
                "lease": "live" if live else "expired",
                "lease_seconds_left": round(left, 3),
                "heartbeats": lease.heartbeats,
            }
            for lease, live, left in self._coordinator.edges()
        ]
        return _json({"edges": rows, "head": head})
