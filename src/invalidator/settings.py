"""One configuration model: defaults < config file (TOML) < environment < command-line flags.

Every setting has a field here; its environment variable is `INVALIDATOR_` + the field name
in upper case, its config file key the field name, its flag `--` + the name with dashes.
The README's configuration table is checked against this list by a test.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "INVALIDATOR_"


def default_data_dir() -> str:
    """`$XDG_DATA_HOME/invalidator`, else `~/.local/share/invalidator`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "invalidator")


@dataclass(frozen=True)
class Settings:
    """Every knob of a deployment."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = dataclasses.field(default_factory=default_data_dir)
    public_url: str = ""
    domain_suffix: str = "invalidator.localhost"
    account_id: str = "000000000000"
    log_level: str = "info"
    max_body_bytes: int = 4 * 1024 * 1024
    body_timeout: float = 10.0
    max_batch_paths: int = 3000
    max_in_progress_files: int = 3000
    max_in_progress_wildcards: int = 15
    rate_limit: float = 0.0
    rate_burst: float = 50.0
    access_key_id: str = ""
    secret_access_key: str = ""
    endpoint_url: str = ""
    create_wait: float = 0.25
    lease_seconds: float = 5.0
    heartbeat_seconds: float = 1.0
    edge_port: int = 8081
    edge_host: str = ""
    control_plane: str = ""
    listen: str = "127.0.0.1:8082"
    edge_name: str = ""
    cache_max_bytes: int = 256 * 1024 * 1024
    cache_max_object_bytes: int = 8 * 1024 * 1024
    origin_timeout: float = 30.0

    @property
    def database_path(self) -> Path:
        """The SQLite file in the data directory."""
        return Path(self.data_dir) / "invalidator.db"

    def key_pair(self) -> tuple[str, str] | None:
        """The configured (access key id, secret), None when neither is set.

        One without the other is a mistake that must not silently fall back to another key:
        SettingsError (`load_settings` already refuses it).
        """
        half = _half_pair(self.access_key_id, self.secret_access_key)
        if half is not None:
            raise SettingsError(_half_pair_message(*half, {}))
        if self.access_key_id:
            return self.access_key_id, self.secret_access_key
        return None

    @property
    def client_endpoint(self) -> str:
        """Where CLI clients reach the API: `endpoint_url`, else the serve address."""
        if self.endpoint_url:
            return self.endpoint_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return http_url(host, self.port)


def is_http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host and a valid port (if any): one a client
    can send to (`urlsplit` raises for a bad port or IPv6 literal: False)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError when not a number or out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def http_url(host: str, port: int) -> str:
    """`http://host:port`, an IPv6 address in brackets (`http://[::1]:8080`)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SettingsError(ValueError):
    """A setting has a value of the wrong type, or the config file is unreadable."""


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Settings))


def _half_pair(key_id: object, secret: object) -> tuple[str, str] | None:
    """(the one set, the one missing) when only one of the key pair is set, else None."""
    if bool(key_id) == bool(secret):
        return None
    return (
        ("access_key_id", "secret_access_key") if key_id else ("secret_access_key", "access_key_id")
    )


def _half_pair_message(given: str, missing: str, sources: Mapping[str, str]) -> str:
    origin = f" (from {sources[given]})" if given in sources else ""
    return (
        f"setting {given} is set{origin} but {missing} is not: set both "
        f"({ENV_PREFIX}{given.upper()} and {ENV_PREFIX}{missing.upper()}, or the flags), "
        "or neither"
    )


def _coerce(name: str, raw: Any, kind: type) -> Any:
    """`raw` as `kind`: text (the environment, a quoted file value) is parsed; a typed value
    (a flag, a file's number) must already be of the kind (an int is a float too). A file's
    `port = 8080.9`, `port = true` or `data_dir = 42` is refused, not truncated or spelled."""
    bad = SettingsError(f"setting {name}: {raw!r} is not a valid {kind.__name__}")
    if isinstance(raw, bool):  # a bool is an int to Python, never a setting here
        raise bad
    if kind is str:
        if not isinstance(raw, str):
            raise bad
        return raw
    if kind is int and isinstance(raw, int):
        return raw
    if kind is float and isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = kind(raw.strip())
        except ValueError as exc:
            raise bad from exc
    else:
        raise bad
    if kind is float and not math.isfinite(value):
        raise bad
    return value


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Merge the layers; `flags` holds only the flags the user gave (None means not given).

    Every value given is checked, also one a higher layer overrides: a broken config file or
    environment variable is reported now, not on the day its override goes away."""
    env = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = config_file or flags.pop("config", None) or env.get(ENV_PREFIX + "CONFIG")
    given: list[tuple[str, Any, str]] = []  # (name, value, source), lowest layer first
    if path:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from exc
        table = data.get("invalidator", data)
        if not isinstance(table, dict):
            raise SettingsError(f"config file {path}: [invalidator] must be a table")
        if table is not data and len(data) > 1:
            others = ", ".join(repr(k) for k in data if k != "invalidator")
            raise SettingsError(
                f"config file {path}: settings both at the top level ({others}) and under "
                "[invalidator]; put them in one place"
            )
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in SETTING_NAMES:
                raise SettingsError(f"config file {path}: unknown setting {key!r}")
            given.append((name, value, f"config file {path}"))
    for name in SETTING_NAMES:
        if ENV_PREFIX + name.upper() in env:
            given.append((name, env[ENV_PREFIX + name.upper()], ENV_PREFIX + name.upper()))
    for name, value in flags.items():
        if name in SETTING_NAMES:
            given.append((name, value, "--" + name.replace("_", "-")))
    types = {f.name: type(getattr(Settings(), f.name)) for f in fields(Settings)}
    coerced: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, value, source in given:  # a later layer replaces an earlier one
        try:
            coerced[name] = _coerce(name, value, types[name])
        except SettingsError as exc:
            raise SettingsError(f"{exc} (from {source})") from exc.__cause__
        problem = _out_of_range(name, coerced[name])
        if problem is not None:
            raise SettingsError(f"setting {name}: {coerced[name]!r} {problem} (from {source})")
        sources[name] = source
    half = _half_pair(coerced.get("access_key_id"), coerced.get("secret_access_key"))
    if half is not None:
        raise SettingsError(_half_pair_message(*half, sources))
    return Settings(**coerced)


LOG_LEVELS = ("debug", "info", "warning", "error")
_POSITIVE = frozenset({"body_timeout", "lease_seconds", "heartbeat_seconds", "origin_timeout",
                       "max_body_bytes", "max_batch_paths", "max_in_progress_files",
                       "max_in_progress_wildcards", "rate_burst", "cache_max_bytes",
                       "cache_max_object_bytes"})  # fmt: skip
_NOT_NEGATIVE = frozenset({"create_wait", "rate_limit"})
_URLS = frozenset({"public_url"})


def _out_of_range(name: str, value: Any) -> str | None:
    """Why a coerced value cannot work (a port that would wrap, a zero lease), or None."""
    if name == "port" and not 0 <= value <= 65535:
        return "is not a port (0 to 65535; 0 picks a free one)"
    if name == "edge_port" and not -1 <= value <= 65535:
        return "is not a port (0 to 65535; 0 picks a free one, -1 runs no edge)"
    if name in _POSITIVE and not value > 0:
        return "must be greater than 0"
    if name in _NOT_NEGATIVE and not value >= 0:
        return "must not be negative"
    if name == "log_level" and str(value).lower() not in LOG_LEVELS:
        return f"is not a log level ({', '.join(LOG_LEVELS)})"
    if name in _URLS and value and not is_http_url(str(value)):
        return "is not an http(s) URL with a host (it is put in front of every Location)"
    return None
