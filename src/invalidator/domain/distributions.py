"""Distribution rules shared by every way of managing distributions (API and CLI).

A config is checked against CloudFront's rules (`config_rules`) before anything else. Create,
update and delete run their checks inside the store's transaction (the `decide` / `change` /
`check` functions below), so CallerReference idempotency, CNAME uniqueness and ETag
preconditions hold under concurrency too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from invalidator.domain.config_rules import alias_key, check_config
from invalidator.domain.errors import (
    CNAMEAlreadyExists,
    DistributionAlreadyExists,
    DistributionNotDisabled,
    IllegalUpdate,
    InvalidIfMatchVersion,
    InvalidTagging,
    PreconditionFailed,
)
from invalidator.domain.ids import IdSource
from invalidator.domain.models import Distribution
from invalidator.domain.ports import DistributionIndex
from invalidator.domain.serving import serving_config
from invalidator.domain.tag_rules import MAX_TAGS


def new_etag(distribution_id: str, at: datetime, config: Mapping[str, Any]) -> str:
    """A fresh ETag for a distribution version (changes on every update)."""
    seed = f"{distribution_id}:{at.isoformat()}:{sorted(config.items())!r}"
    return "E" + hashlib.sha256(seed.encode()).hexdigest()[:13].upper()


def with_config(distribution: Distribution, config: dict[str, Any], now: datetime) -> Distribution:
    """The distribution carrying `config` (checked against CloudFront's rules first), its
    serving fields re-derived."""
    check_config(config)
    serving = serving_config(distribution.id, distribution.domain_name, config)
    return replace(
        distribution,
        config=config,
        caller_reference=str(config["CallerReference"]),
        aliases=serving.aliases,
        origin_url=serving.origin_url,
        tag_header=serving.tag_header,
        enabled=serving.enabled,
        modified_at=now,
        etag=new_etag(distribution.id, now, config),
    )


def new_distribution(
    *,
    ids: IdSource,
    now: datetime,
    domain_suffix: str,
    config: dict[str, Any],
    tags: tuple[tuple[str, str], ...] = (),
) -> Distribution:
    """A new distribution with a fresh `E…` id and its own domain name under the suffix."""
    distribution_id = ids.new_id("E")
    blank = Distribution(
        id=distribution_id,
        caller_reference="",
        domain_name=f"{distribution_id.lower()}.{domain_suffix.strip('.')}",
        aliases=(),
        origin_url="",
        tag_header=None,
        enabled=False,
        created_at=now,
        modified_at=now,
        etag="",
        config={},
        tags=tuple(sorted(tags)),
    )
    return with_config(blank, config, now)


def check_aliases_free(
    aliases: tuple[str, ...], distribution_id: str, index: DistributionIndex
) -> None:
    """Aliases are unique across distributions, ignoring case and a trailing dot
    (CNAMEAlreadyExists)."""
    wanted = {alias_key(a) for a in aliases}
    for other in index.owning(aliases) if aliases else ():
        if other.id != distribution_id and wanted & {alias_key(a) for a in other.aliases}:
            raise CNAMEAlreadyExists()


def decide_create(candidate: Distribution, index: DistributionIndex) -> Distribution | None:
    """None to create `candidate`; the existing distribution for an identical replay; or raise.

    Identical means the same config and the same tags: CreateDistributionWithTags with other
    tags (or CreateDistribution replaying a WithTags request) is another request to CloudFront.
    """
    other = index.with_caller_reference(candidate.caller_reference)
    if other is not None:
        if other.config == candidate.config and sorted(other.tags) == sorted(candidate.tags):
            return other
        raise DistributionAlreadyExists()
    check_aliases_free(candidate.aliases, candidate.id, index)
    return None


def require_if_match(if_match: str | None, current: Distribution) -> None:
    """InvalidIfMatchVersion when missing, PreconditionFailed when stale."""
    if not if_match or not if_match.strip():
        raise InvalidIfMatchVersion()
    if if_match.strip().strip('"') != current.etag:
        raise PreconditionFailed()


def change_config(
    current: Distribution,
    index: DistributionIndex,
    config: dict[str, Any],
    if_match: str | None,
    now: datetime,
) -> Distribution:
    """UpdateDistribution's rules: If-Match, CallerReference and Staging fixed, aliases free."""
    require_if_match(if_match, current)
    if config.get("CallerReference") != current.caller_reference:
        raise IllegalUpdate("The CallerReference of a distribution cannot be changed.")
    if bool(config.get("Staging", False)) != bool(current.config.get("Staging", False)):
        # A staging distribution is made as one (CopyDistribution --staging) and stays one.
        raise IllegalUpdate("The Staging value of a distribution cannot be changed.")
    updated = with_config(current, config, now)
    check_aliases_free(updated.aliases, current.id, index)
    return updated


def check_deletable(current: Distribution, if_match: str | None, *, deploying: bool) -> None:
    """DeleteDistribution's rules: If-Match, disabled, and that change deployed (`deploying`:
    an edge has not applied the newest config yet, so `Status` reads InProgress), as on
    CloudFront, which refuses the delete until the disabled config reads Deployed."""
    require_if_match(if_match, current)
    if current.enabled:
        raise DistributionNotDisabled()
    if deploying:
        raise DistributionNotDisabled(
            "The distribution you are trying to delete has not been disabled: its last change "
            "is still being deployed (Status InProgress); delete it once Status is Deployed."
        )


def retagged(
    current: Distribution, add: tuple[tuple[str, str], ...], remove: tuple[str, ...]
) -> Distribution:
    """Tags after TagResource (add/replace) or UntagResource (remove keys)."""
    tags = dict(current.tags)
    for key in remove:
        tags.pop(key, None)
    tags.update(add)
    if len(tags) > MAX_TAGS:
        raise InvalidTagging(f"A resource can have at most {MAX_TAGS} tags.")
    return replace(current, tags=tuple(sorted(tags.items())))
