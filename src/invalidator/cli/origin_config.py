"""A minimal DistributionConfig for an origin URL: what `distribution create --origin` sends."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import click

from invalidator.settings import is_http_url


def config_for_origin(
    origin_url: str,
    aliases: tuple[str, ...] = (),
    tag_header: str | None = None,
    caller_reference: str | None = None,
    comment: str = "",
) -> dict[str, Any]:
    """A custom-origin config forwarding query strings, like the AWS CLI's own template."""
    if not is_http_url(origin_url):
        raise click.UsageError(f"--origin must be an http(s) URL, not {origin_url!r}")
    parts = urlsplit(origin_url)
    port_given = parts.port
    dropped = [what for what, given in (("a user or password", "@" in parts.netloc),
                                        ("a query", "?" in origin_url),
                                        ("a fragment", "#" in origin_url)) if given]  # fmt: skip
    if dropped:  # a distribution's origin is a host, port and path: nothing else would be kept
        raise click.UsageError(f"--origin {origin_url!r} has {' and '.join(dropped)}, which an "
                               "origin cannot hold (scheme, host, port and path only)")  # fmt: skip
    https = parts.scheme == "https"
    port = port_given or (443 if https else 80)
    origin: dict[str, Any] = {
        "Id": "origin-1",
        "DomainName": parts.hostname,
        "OriginPath": parts.path.rstrip("/"),
        "CustomOriginConfig": {
            "HTTPPort": 80 if https else port,
            "HTTPSPort": port if https else 443,
            "OriginProtocolPolicy": "https-only" if https else "http-only",
        },
    }
    config: dict[str, Any] = {
        "CallerReference": caller_reference or f"invalidator-cli-{uuid.uuid4()}",
        "Aliases": {"Quantity": len(aliases), **({"Items": list(aliases)} if aliases else {})},
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "origin-1",
            "ViewerProtocolPolicy": "allow-all",
            "ForwardedValues": {"QueryString": True, "Cookies": {"Forward": "none"}},
            "MinTTL": 0,
        },
        "Comment": comment,
        "Enabled": True,
    }
    if tag_header:
        config["CacheTagConfig"] = {"HeaderName": tag_header}
    return config
