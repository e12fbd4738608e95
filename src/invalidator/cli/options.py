"""Shared CLI plumbing: settings flags generated from the Settings model, store access."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from invalidator.settings import Settings, SettingsError, load_settings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_HELP = {
    "host": "Address the API listens on (serve), or reaches it at (client commands).",
    "port": "Port of the API (0 picks a free one).",
    "data_dir": "Directory holding the SQLite database.",
    "public_url": "Externally visible base URL used in Location headers.",
    "domain_suffix": "Domain under which distributions get their domain names.",
    "account_id": "Account id shown in ARNs.",
    "log_level": "debug, info, warning or error.",
    "max_body_bytes": "Largest request body accepted (BatchTooLarge above).",
    "body_timeout": (
        "Seconds a request's headers, and then its body, may take to arrive (RequestTimeout after)."
    ),
    "max_batch_paths": "Most paths in one invalidation batch.",
    "max_in_progress_files": "Most file paths in progress per distribution.",
    "max_in_progress_wildcards": "Most wildcard paths in progress per distribution.",
    "rate_limit": "Requests per second allowed per access key (0: unlimited).",
    "rate_burst": "Burst size for the per-key rate limit.",
    "access_key_id": "Access key id to ensure (server) or to sign with (clients).",
    "secret_access_key": "Secret of that access key.",
    "endpoint_url": "API endpoint for client commands (default: http://HOST:PORT).",
    "create_wait": "Seconds CreateInvalidation waits for completion before answering 201.",
    "lease_seconds": "Edge lease length; an edge without a lease serves nothing from cache.",
    "heartbeat_seconds": "Most seconds between edge heartbeats (at most a third of the lease).",
    "edge_port": "Port of the built-in edge (-1: no built-in edge; 0: pick a free port).",
    "edge_host": "Address of the built-in edge (default: the API's host).",
    "control_plane": "Control plane URL a standalone edge connects to.",
    "listen": "HOST:PORT a standalone edge listens on.",
    "edge_name": "Label of an edge in listings (default: edge-HOST-PORT for `invalidator edge`, "
    "builtin-HOST-PORT for serve's built-in edge); not an identity.",
    "cache_max_bytes": "Memory bound of an edge's cache (LRU eviction).",
    "cache_max_object_bytes": "Largest object an edge caches (larger ones stream through).",
    "origin_timeout": "Seconds an edge waits for its origin (504 after).",
}


def settings_options(*names: str) -> Callable[[F], F]:
    """Add `--config` and one flag per named setting; flags default to None (not given)."""

    def decorate(func: F) -> F:
        defaults = Settings()
        for name in reversed(names):
            kind = type(getattr(defaults, name))
            func = click.option(
                "--" + name.replace("_", "-"),
                name,
                type=kind,
                default=None,
                help=_HELP[name],
            )(func)
        return click.option(
            "--config",
            "config",
            type=click.Path(dir_okay=False),
            default=None,
            help="TOML config file (also INVALIDATOR_CONFIG).",
        )(func)

    return decorate


ALL_SETTINGS = tuple(f.name for f in dataclasses.fields(Settings))
_EDGE_ONLY = ("control_plane", "listen", "endpoint_url")
SERVE_SETTINGS = tuple(name for name in ALL_SETTINGS if name not in _EDGE_ONLY)
EDGE_SETTINGS = (
    "control_plane", "listen", "edge_name", "access_key_id", "secret_access_key", "log_level",
    "cache_max_bytes", "cache_max_object_bytes", "origin_timeout",
    "heartbeat_seconds", "body_timeout",
)  # fmt: skip
STORE_SETTINGS = ("data_dir", "domain_suffix")
CLIENT_SETTINGS = ("data_dir", "endpoint_url", "access_key_id", "secret_access_key", "host", "port")


def settings_from(flags: dict[str, Any]) -> Settings:
    """Settings from the flags given plus environment and config file."""
    try:
        return load_settings(flags)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def run_async(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command body to completion."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(func(*args, **kwargs))

    return wrapper
