"""Rules for accepting an invalidation batch: size, quantity, idempotency, in-progress limits."""

from __future__ import annotations

from dataclasses import dataclass

from invalidator.domain.errors import (
    BatchTooLarge,
    InconsistentQuantities,
    InvalidArgument,
    InvalidationBatchAlreadyExists,
    TooManyInvalidationsInProgress,
)
from invalidator.domain.models import InProgressCounts, Invalidation
from invalidator.domain.paths import ItemKind, PathItem, parse_item


@dataclass(frozen=True)
class Limits:
    """Per-distribution limits (CloudFront's defaults); configurable per deployment."""

    max_batch_paths: int = 3000
    max_in_progress_files: int = 3000
    max_in_progress_wildcards: int = 15


@dataclass(frozen=True)
class ValidatedBatch:
    """A batch whose items passed validation, with its counts for the limits."""

    caller_reference: str
    paths: tuple[str, ...]
    items: tuple[PathItem, ...]

    @property
    def file_paths(self) -> int:
        """Exact paths and tags (each costs one file path)."""
        return sum(1 for item in self.items if item.kind is not ItemKind.WILDCARD)

    @property
    def wildcard_paths(self) -> int:
        """Wildcard paths."""
        return sum(1 for item in self.items if item.kind is ItemKind.WILDCARD)


def validate_batch(
    caller_reference: str,
    quantity: int,
    paths: tuple[str, ...],
    *,
    tags_allowed: bool,
    limits: Limits,
) -> ValidatedBatch:
    """Check a batch on its own (no state): quantity, size, every item."""
    if quantity != len(paths):
        raise InconsistentQuantities(
            f"The specified quantity of Paths ({quantity}) does not match the actual "
            f"quantity supplied ({len(paths)})."
        )
    if not paths:
        raise InvalidArgument("An invalidation batch must contain at least one path.")
    if len(paths) > limits.max_batch_paths:
        raise BatchTooLarge()
    if not caller_reference:
        raise InvalidArgument("CallerReference must not be empty.")
    items = tuple(parse_item(p, tags_allowed=tags_allowed) for p in paths)
    return ValidatedBatch(caller_reference=caller_reference, paths=paths, items=items)


def admit(
    batch: ValidatedBatch,
    existing: Invalidation | None,
    in_progress: InProgressCounts,
    limits: Limits,
) -> Invalidation | None:
    """Decide, inside the store's transaction, whether the batch becomes a new invalidation.

    Returns the existing invalidation for an idempotent replay (same CallerReference, same
    set of paths), None when a new one may be created; raises when the batch is refused.
    """
    if existing is not None:
        if set(existing.paths) == set(batch.paths):
            return existing
        raise InvalidationBatchAlreadyExists()
    if in_progress.wildcard_paths + batch.wildcard_paths > limits.max_in_progress_wildcards:
        raise TooManyInvalidationsInProgress(
            "Processing your request will cause you to exceed the maximum number of "
            "in-progress wildcard invalidations."
        )
    if in_progress.file_paths + batch.file_paths > limits.max_in_progress_files:
        raise TooManyInvalidationsInProgress()
    return None
