"""How an edge reaches the control plane: the ControlPlaneLink port and its HTTP adapter.

The built-in edge of `invalidator serve` uses an in-process link to the coordinator
(`invalidator.propagation.local_link`); standalone edges use `HttpLink`, SigV4-signed like
any other client of the API.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from invalidator.api.auth.sigv4 import signed_headers
from invalidator.api.wire.edge_json import dump, event_from_json, serving_from_json
from invalidator.domain.models import Event, LeaseGrant
from invalidator.domain.serving import ServingConfig

PREFIX = "/_invalidator/edge"


class LinkError(Exception):
    """The control plane could not be reached or refused the call."""

    def __init__(self, message: str, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ControlPlaneLink(Protocol):
    """The edge's view of the control plane."""

    async def register(
        self, name: str, url: str, cursor: int | None, stamp: str = ""
    ) -> LeaseGrant:
        """Register; `cursor` None means the cache is empty (start at the head). `stamp`: the
        stamp of the event at `cursor`, when known (see Event)."""
        ...

    async def heartbeat(self, edge_id: str, cursor: int, stamp: str = "") -> LeaseGrant:
        """Renew the lease, acknowledging every event up to `cursor` (whose event has
        `stamp`, when known)."""
        ...

    async def deregister(self, edge_id: str) -> None:
        """Leave the fleet cleanly."""
        ...

    async def events(self, after: int, wait: float) -> tuple[list[Event], int, str | None]:
        """Events after `after` (long-poll up to `wait` s), the current head, and the stamp
        of the event at `after` ("" when there is none there; None when `after` is 0 or the
        control plane does not say)."""
        ...

    async def distributions(self) -> list[ServingConfig]:
        """Every distribution's serving config."""
        ...

    async def distribution(self, distribution_id: str) -> ServingConfig | None:
        """One distribution's serving config, or None when it no longer exists."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _grant(data: dict[str, Any]) -> LeaseGrant:
    return LeaseGrant(
        edge_id=str(data["edge_id"]),
        lease_seconds=float(data["lease_seconds"]),
        head=int(data["head"]),
        cursor=int(data["cursor"]),
        epoch=str(data.get("epoch", "")),  # absent from an older control plane
        lapsed=bool(data.get("lapsed", False)),
        foreign=bool(data.get("foreign", False)),
    )


class HttpLink:
    """ControlPlaneLink over the control plane's `/_invalidator/edge` endpoints."""

    def __init__(
        self, base_url: str, access_key_id: str, secret: str, timeout: float = 5.0
    ) -> None:
        self._base = base_url.rstrip("/")
        self._key = access_key_id
        self._secret = secret
        self._timeout = timeout
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    async def _call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: Any = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        content = dump(body) if body is not None else b""
        extra = {"content-type": "application/json"} if content else None
        headers = signed_headers(
            method, self._base, path, query, content, self._key, self._secret, extra
        )
        url = self._base + path + (f"?{query}" if query else "")
        try:
            response = await self._http.request(
                method, url, content=content, headers=headers, timeout=timeout or self._timeout
            )
        except httpx.HTTPError as exc:
            raise LinkError(f"control plane unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            code = ""
            text = response.text
            if "<Code>" in text:
                code = text.split("<Code>", 1)[1].split("</Code>", 1)[0]
            raise LinkError(
                f"control plane answered {response.status_code} {code}", code, response.status_code
            )
        data = response.json()
        if not isinstance(data, dict):
            raise LinkError("control plane answered a non-object")
        return data

    async def register(
        self, name: str, url: str, cursor: int | None, stamp: str = ""
    ) -> LeaseGrant:
        """POST register."""
        body = {"name": name, "url": url, "cursor": cursor, "stamp": stamp}
        return _grant(await self._call("POST", PREFIX + "/register", body=body))

    async def heartbeat(self, edge_id: str, cursor: int, stamp: str = "") -> LeaseGrant:
        """POST heartbeat."""
        body = {"edge_id": edge_id, "cursor": cursor, "stamp": stamp}
        return _grant(await self._call("POST", PREFIX + "/heartbeat", body=body))

    async def deregister(self, edge_id: str) -> None:
        """POST deregister."""
        await self._call("POST", PREFIX + "/deregister", body={"edge_id": edge_id})

    async def events(self, after: int, wait: float) -> tuple[list[Event], int, str | None]:
        """GET events (long poll)."""
        data = await self._call(
            "GET",
            PREFIX + "/events",
            f"after={after}&wait_ms={int(wait * 1000)}",
            timeout=wait + self._timeout,
        )
        anchor = data.get("anchor")  # absent from an older control plane
        events = [event_from_json(e) for e in data["events"]]
        return events, int(data["head"]), None if anchor is None else str(anchor)

    async def distributions(self) -> list[ServingConfig]:
        """GET distributions."""
        data = await self._call("GET", PREFIX + "/distributions")
        return [serving_from_json(d) for d in data["distributions"]]

    async def distribution(self, distribution_id: str) -> ServingConfig | None:
        """GET one distribution."""
        try:
            return serving_from_json(
                await self._call("GET", f"{PREFIX}/distributions/{distribution_id}")
            )
        except LinkError as exc:
            if exc.code == "NoSuchDistribution":
                return None
            raise

    async def aclose(self) -> None:
        """Close the pool."""
        await self._http.aclose()
