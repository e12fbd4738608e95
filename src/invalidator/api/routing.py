"""The route table: (method, path pattern) → operation, with the API version checked."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from invalidator.api.http import Request, Response
from invalidator.api.versions import API_VERSIONS, LATEST_VERSION
from invalidator.domain.errors import MethodNotAllowed, NoSuchResource
from invalidator.domain.models import AccessKey

_VERSION_PREFIX = re.compile(r"^/(\d{4}-\d{2}-\d{2})(/.*)$")


@dataclass
class Call:
    """An authenticated request bound to its operation."""

    request: Request
    version: str
    operation: str
    params: dict[str, str]
    key: AccessKey
    base_url: str


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """One operation's address. `distribution_param` names the path parameter to authorize."""

    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler
    distribution_param: str | None = None
    versions: frozenset[str] = API_VERSIONS
    versioned: bool = True  # False: an internal route matched on the whole path
    throttled: bool = True  # False: exempt from the per-key rate limit (the edge protocol)
    public: bool = False  # True: answered without authentication (the metrics endpoint)


@dataclass(frozen=True)
class Match:
    """A matched route with its path parameters and API version."""

    route: Route
    params: dict[str, str]
    version: str


def route(
    method: str,
    pattern: str,
    operation: str,
    handler: Handler,
    *,
    distribution_param: str | None = None,
    versions: frozenset[str] = API_VERSIONS,
    versioned: bool = True,
    throttled: bool = True,
    public: bool = False,
) -> Route:
    """A route whose `pattern` is the path after `/{version}` (or the whole path when not
    `versioned`), with `{name}` segments."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
    return Route(
        method,
        re.compile(f"^{regex}$"),
        operation,
        handler,
        distribution_param,
        versions,
        versioned,
        throttled,
        public,
    )


class Router:
    """Finds the route for a request; unknown paths are NoSuchResource, wrong methods 405."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = routes

    def version_of(self, path: str) -> str:
        """The API version named by the path, or the latest when there is none."""
        found = _VERSION_PREFIX.match(path)
        if found and found.group(1) in API_VERSIONS:
            return found.group(1)
        return LATEST_VERSION

    def match(self, method: str, raw_path: str) -> Match:
        """The route for this method and path as sent (percent-encoded): segments are
        decoded one by one, so an encoded `/` (`%2F`) stays inside its segment, as botocore
        encodes an Id, instead of splitting it in two."""
        if "%" not in raw_path:
            return self._match(method, raw_path, raw_path, decode=False)
        segments = [unquote(segment) for segment in raw_path.split("/")]
        decoded = "/".join(segments)
        if not any("/" in segment for segment in segments):
            return self._match(method, decoded, decoded, decode=False)
        # match with `%` and `/` of segments escaped again; the parameters decoded after
        escaped = "/".join(seg.replace("%", "%25").replace("/", "%2F") for seg in segments)
        return self._match(method, escaped, decoded, decode=True)

    def _match(self, method: str, path: str, shown: str, *, decode: bool) -> Match:
        internal = [r for r in self._routes if not r.versioned and r.pattern.match(path)]
        if internal:
            for candidate in internal:
                if candidate.method == method:
                    m = candidate.pattern.match(path)
                    assert m is not None
                    return Match(candidate, _params(m, decode), LATEST_VERSION)
            raise MethodNotAllowed(_allowed(internal, head_for_get=False))
        found = _VERSION_PREFIX.match(path)
        if not found or found.group(1) not in API_VERSIONS:
            raise NoSuchResource(f"No resource at {shown[:200]}")
        version, rest = found.group(1), found.group(2)
        matched: list[Route] = []
        for candidate in self._routes:
            m = candidate.pattern.match(rest)
            if m is None or not candidate.versioned or version not in candidate.versions:
                continue
            matched.append(candidate)
            if candidate.method == method or (candidate.method == "GET" and method == "HEAD"):
                return Match(candidate, _params(m, decode), version)
        if matched:
            raise MethodNotAllowed(_allowed(matched))
        raise NoSuchResource(f"No resource at {shown[:200]}")


def _params(found: re.Match[str], decode: bool) -> dict[str, str]:
    params = found.groupdict()
    return {k: unquote(v) for k, v in params.items()} if decode else params


def _allowed(routes: list[Route], head_for_get: bool = True) -> tuple[str, ...]:
    """The methods of these routes, for a 405's `Allow` (HEAD wherever GET is, on the
    versioned routes: the internal ones match their method exactly)."""
    methods = {r.method for r in routes}
    if head_for_get and "GET" in methods:
        methods.add("HEAD")
    return tuple(sorted(methods))
