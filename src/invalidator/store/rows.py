"""Mapping between domain objects and table rows, shared by the SQL stores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from invalidator.domain.models import AccessKey, Distribution, Invalidation, InvalidationStatus

DISTRIBUTION_COLUMNS = (
    "id, caller_reference, domain_name, aliases, origin_url, tag_header, enabled, "
    "created_at, modified_at, etag, config, tags"
)
INVALIDATION_COLUMNS = (
    "id, distribution_id, seq, caller_reference, paths, status, create_time, complete_time, pos"
)
ACCESS_KEY_COLUMNS = (
    "access_key_id, secret_access_key, distributions, created_at, revoked, description"
)


def time_text(at: datetime) -> str:
    """A sortable, timezone-explicit text form."""
    return at.isoformat(timespec="microseconds")


def distribution_params(d: Distribution) -> tuple[Any, ...]:
    """Column values in DISTRIBUTION_COLUMNS order."""
    return (
        d.id,
        d.caller_reference,
        d.domain_name,
        json.dumps(list(d.aliases)),
        d.origin_url,
        d.tag_header,
        int(d.enabled),
        time_text(d.created_at),
        time_text(d.modified_at),
        d.etag,
        json.dumps(d.config),
        json.dumps([list(t) for t in d.tags]),
    )


def distribution_from_row(row: Sequence[Any]) -> Distribution:
    """A Distribution from a row in DISTRIBUTION_COLUMNS order."""
    return Distribution(
        id=row[0],
        caller_reference=row[1],
        domain_name=row[2],
        aliases=tuple(json.loads(row[3])),
        origin_url=row[4],
        tag_header=row[5],
        enabled=bool(row[6]),
        created_at=datetime.fromisoformat(row[7]),
        modified_at=datetime.fromisoformat(row[8]),
        etag=row[9],
        config=json.loads(row[10]) if row[10] else {},
        tags=tuple((k, v) for k, v in json.loads(row[11])),
    )


def invalidation_from_row(row: Sequence[Any]) -> Invalidation:
    """An Invalidation from a row in INVALIDATION_COLUMNS order."""
    return Invalidation(
        id=row[0],
        distribution_id=row[1],
        seq=row[2],
        caller_reference=row[3],
        paths=tuple(json.loads(row[4])),
        status=InvalidationStatus(row[5]),
        create_time=datetime.fromisoformat(row[6]),
        complete_time=None if row[7] is None else datetime.fromisoformat(row[7]),
        pos=row[8],
    )


def access_key_params(key: AccessKey) -> tuple[Any, ...]:
    """Column values in ACCESS_KEY_COLUMNS order."""
    return (
        key.access_key_id,
        key.secret_access_key,
        None if key.distributions is None else json.dumps(sorted(key.distributions)),
        time_text(key.created_at),
        int(key.revoked),
        key.description,
    )


def access_key_from_row(row: Sequence[Any]) -> AccessKey:
    """An AccessKey from a row in ACCESS_KEY_COLUMNS order."""
    return AccessKey(
        access_key_id=row[0],
        secret_access_key=row[1],
        distributions=None if row[2] is None else frozenset(json.loads(row[2])),
        created_at=datetime.fromisoformat(row[3]),
        revoked=bool(row[4]),
        description=row[5],
    )
