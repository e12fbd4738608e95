"""Access key rules: creation, the bootstrap key, revocation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from invalidator.domain.ids import IdSource, new_access_key_id, new_secret
from invalidator.domain.models import AccessKey


def new_access_key(
    ids: IdSource,
    now: datetime,
    distributions: frozenset[str] | None = None,
    description: str = "",
) -> AccessKey:
    """A fresh key pair, allowed on every distribution or on the listed ones."""
    return AccessKey(
        access_key_id=new_access_key_id(ids),
        secret_access_key=new_secret(),
        distributions=distributions,
        created_at=now,
        description=description,
    )


def configured_key(access_key_id: str, secret: str, now: datetime) -> AccessKey:
    """The key pair named by configuration (INVALIDATOR_ACCESS_KEY_ID/SECRET), all distributions."""
    return AccessKey(
        access_key_id=access_key_id,
        secret_access_key=secret,
        distributions=None,
        created_at=now,
        description="from configuration",
    )


def revoked(key: AccessKey) -> AccessKey:
    """The key, revoked."""
    return replace(key, revoked=True)
