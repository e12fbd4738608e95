"""CloudFront's timestamp format: ISO 8601 UTC with milliseconds and `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(at: datetime) -> str:
    """`2019-12-05T18:24:51.407Z`."""
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
