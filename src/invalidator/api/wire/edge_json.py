"""The edge protocol's JSON bodies (our own, internal endpoints; not a CloudFront API)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TypeGuard

from invalidator.domain.errors import MalformedXML
from invalidator.domain.models import Event, EventKind
from invalidator.domain.serving import ServingConfig


class MalformedJSON(MalformedXML):
    """A malformed edge-protocol body (reported with the MalformedXML code family)."""


def dump(value: Any) -> bytes:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":")).encode()


def load_object(body: bytes) -> dict[str, Any]:
    """A JSON object body, or MalformedJSON."""
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON("The body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise MalformedJSON("The body must be a JSON object.")
    try:  # `"\ud800"` decodes to a lone surrogate, which no store can hold as text
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedJSON("The body holds a string that is not valid Unicode.") from exc
    return value


def is_position(value: object) -> TypeGuard[int]:
    """A log position or cursor: an int (not a bool) that a 64-bit column holds."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def serving_to_json(config: ServingConfig) -> dict[str, Any]:
    """A ServingConfig as JSON."""
    return asdict(config)


def serving_from_json(data: dict[str, Any]) -> ServingConfig:
    """A ServingConfig from JSON (every cache behavior too, not only the flat fields)."""
    return ServingConfig.from_dict(data)


def event_to_json(event: Event) -> dict[str, Any]:
    """An Event as JSON."""
    return {
        "pos": event.pos,
        "kind": event.kind.value,
        "distribution_id": event.distribution_id,
        "paths": list(event.paths),
        "stamp": event.stamp,
    }


def event_from_json(data: dict[str, Any]) -> Event:
    """An Event from JSON."""
    return Event(
        pos=int(data["pos"]),
        kind=EventKind(data["kind"]),
        distribution_id=str(data["distribution_id"]),
        paths=tuple(str(p) for p in data["paths"]),
        stamp=str(data.get("stamp", "")),  # absent from an older control plane
    )
