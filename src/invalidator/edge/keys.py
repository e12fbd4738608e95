"""What a viewer request forwards to the origin and how it is keyed, per cache behavior.

- **Cache key**: (distribution, path, query, variant). Path and query are the request's raw
  spelling normalized as RFC 3986 §6.2.2 allows: a percent-encoded unreserved character is
  decoded, other percent-encodings get uppercase hex, and bytes outside the URI character set
  (spaces, non-ASCII, controls, `#`, a lone `%`) are percent-encoded. So `/%61bc` and `/abc`
  are one object, while `/a%2Fb` and `/a/b`, or `?a=1%26b=2` and `?a=1&b=2`, are two; a
  path's dot segments are removed (`/x/../a` is `/a`). The origin is sent the same normalized
  spelling. Only the query parameters the behavior keys on
  are in the key (all, none, or a whitelist, in the order received). The variant holds the
  values of the keyed headers, the keyed cookies and the normalized `Accept-Encoding`.
- **Forwarded headers** (CloudFront's table for legacy ForwardedValues, "HTTP request headers
  and CloudFront behavior"): headers it removes by default (`Accept`, `Accept-Language`,
  `Authorization`, `Referer`, ...) reach the origin only when the behavior names them, and then
  they are keyed; `User-Agent` becomes `Amazon CloudFront`; `Accept-Encoding` is normalized to
  `gzip`/`br`; `Cookie` carries only the forwarded cookies, sorted by name. A cache policy
  forwards only what it (and its origin request policy) names. `Headers: *` forwards
  everything, and then nothing is cached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import unquote

from invalidator.domain.cache_policies import NONE, WHITELIST
from invalidator.domain.serving import CacheBehavior, Selection

CLOUDFRONT_USER_AGENT = "Amazon CloudFront"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_URI_CHARS = r"A-Za-z0-9\-._~!$&'()*+,;=:@/?"  # unreserved, sub-delims, ":@/?" (no "#")
_NEEDS_WORK = re.compile(rf"[^{_URI_CHARS}]")
_TOKEN = re.compile(rf"%([0-9A-Fa-f]{{2}})|[^{_URI_CHARS}]")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding",
                        "upgrade"})  # fmt: skip
# Removed by CloudFront unless the behavior forwards (and so keys on) them.
_REMOVED_BY_DEFAULT = frozenset({"accept", "accept-charset", "accept-language", "authorization",
                                 "expect", "referer", "x-forwarded-proto",
                                 "x-http-method-override", "x-real-ip"})  # fmt: skip
# Always forwarded: they describe a request body.
_BODY_HEADERS = frozenset({"content-length", "content-type", "content-encoding", "content-md5",
                           "content-language"})  # fmt: skip
# Set by the edge itself, whatever the viewer sent.
_EDGE_SET = frozenset({"host", "via", "x-forwarded-for", "cookie", "accept-encoding",
                       "user-agent"})  # fmt: skip
CONDITIONAL = frozenset({"if-none-match", "if-modified-since", "if-match",
                         "if-unmodified-since", "if-range", "range"})  # fmt: skip


def normalize(raw: str) -> str:
    """The RFC 3986 normalized spelling of a raw path or query (latin-1 decoded bytes)."""
    if _NEEDS_WORK.search(raw) is None:
        return raw
    return _TOKEN.sub(_normalized_token, raw)


def normalize_path(raw: str) -> str:
    """A raw path (starting with `/`) normalized (`normalize`), then without dot segments
    (after `%2E` was decoded): `/x/../a` is `/a`, as an HTTP client resolves it on the way to
    the origin, so the key is the object the origin serves (else a viewer could cache `/a`
    under a key that no invalidation of `/a` names)."""
    return remove_dot_segments(normalize(raw))


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for a path starting with `/`: `/a/./b/../c` is `/a/c`."""
    if "/." not in path:  # a dot segment always follows a slash
        return path
    kept: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")  # `/a/b/..` is `/a/`: the last segment named a directory
    return "/" + "/".join(kept)


def _normalized_token(match: re.Match[str]) -> str:
    pair = match.group(1)
    if pair is not None:
        byte = int(pair, 16)
        return chr(byte) if byte in _UNRESERVED else f"%{pair.upper()}"
    return "".join(f"%{b:02X}" for b in match.group(0).encode("latin-1"))


def select_query(query: str, selection: Selection) -> str:
    """The parameters of a (normalized) query that `selection` chooses, in order."""
    if selection.mode != WHITELIST or not query:
        return "" if selection.mode == NONE else query
    kept = [p for p in query.split("&") if selection.lists(unquote(p.partition("=")[0]))]
    return "&".join(kept)


def select_cookies(header: str | None, selection: Selection) -> str:
    """The chosen cookies of a `Cookie` header, sorted by name ("" when none)."""
    if not header or selection.mode == NONE:
        return ""
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and selection.selects(name):
            pairs.append((name, value))
    pairs.sort(key=lambda pair: pair[0])
    return "; ".join(f"{n}={v}" for n, v in pairs)


_ENCODINGS: dict[str, str] = {}


def normalized_accept_encoding(value: str | None) -> str:
    """CloudFront's normalized `Accept-Encoding`: `br,gzip`, `br`, `gzip` or "" (remembered)."""
    if not value:
        return ""
    known = _ENCODINGS.get(value)
    if known is not None:
        return known
    tokens = set()
    for part in value.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "br") and params.replace(" ", "") not in ("q=0", "q=0.0"):
            tokens.add(coding.strip())
    result = ",".join(sorted(tokens))
    if len(_ENCODINGS) < 1024:
        _ENCODINGS[value] = result
    return result


def variant_key(behavior: CacheBehavior, headers: Mapping[str, str]) -> str:
    """The part of the cache key taken from request headers and cookies ("" when none)."""
    encoding = normalized_accept_encoding(headers.get("accept-encoding"))
    if behavior.forward_all_headers or not (behavior.compress or behavior.keys_on_request):
        return ""
    if not behavior.keys_on_request:
        return encoding
    parts = [encoding] if behavior.compress else []
    parts.extend(f"{name}:{headers.get(name, '')}" for name in behavior.header_key)
    if behavior.cookie_key.mode != NONE:
        parts.append(select_cookies(headers.get("cookie"), behavior.cookie_key))
    return "\n".join(parts)


def _forwards(behavior: CacheBehavior, name: str) -> bool:
    """Whether a viewer header other than those the edge sets itself reaches the origin."""
    if name in behavior.header_key or behavior.header_forward.selects(name):
        return True
    if name in _BODY_HEADERS:
        return True
    return (
        behavior.viewer_headers
        and name not in _REMOVED_BY_DEFAULT
        and not name.startswith("x-edge-")
    )


def forwarded_value(behavior: CacheBehavior, name: str, headers: Mapping[str, str]) -> str | None:
    """The value the origin is sent for header `name` (lowercased), None when not sent."""
    if behavior.forward_all_headers:
        return headers.get(name)
    if name == "cookie":
        return select_cookies(headers.get(name), cookie_selection(behavior)) or None
    if name == "user-agent" and not _keyed_or_extra(behavior, name):
        return CLOUDFRONT_USER_AGENT
    if name == "accept-encoding" and not _keyed_or_extra(behavior, name):
        encoding = normalized_accept_encoding(headers.get(name)) if behavior.compress else ""
        return encoding or None
    if name in _EDGE_SET and name not in behavior.header_key:
        return None
    return headers.get(name) if _forwards(behavior, name) else None


def _keyed_or_extra(behavior: CacheBehavior, name: str) -> bool:
    return name in behavior.header_key or behavior.header_forward.selects(name)


def cookie_selection(behavior: CacheBehavior) -> Selection:
    """The cookies forwarded to the origin: those keyed plus those an origin request policy adds."""
    return behavior.cookie_key.union(behavior.cookie_forward)


def origin_headers(
    behavior: CacheBehavior,
    pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    *,
    cacheable: bool,
) -> list[tuple[str, str]]:
    """The viewer headers (lowercased `pairs`, folded `headers`) the origin is sent.

    Hop-by-hop headers (and those `Connection` lists) never are; for a fetch that fills the
    cache the viewer's conditional, Range and Content-Length headers are not either (the edge
    asks for the full object, with its own validators when revalidating). Host, Via and
    X-Forwarded-For are the caller's.
    """
    listed = {t.strip() for t in headers.get("connection", "").lower().split(",") if t.strip()}
    dropped = HOP_BY_HOP | listed | {"host", "via", "x-forwarded-for"}
    if cacheable:
        dropped = dropped | CONDITIONAL | {"content-length"}  # a GET without a body
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if name in dropped:
            continue
        if (
            behavior.forward_all_headers
            or (name not in _EDGE_SET and _forwards(behavior, name))
            or (name in _EDGE_SET and name in behavior.header_key)
        ):
            out.append((name, value))
    if not behavior.forward_all_headers:
        for name in ("cookie", "accept-encoding", "user-agent"):
            if name in behavior.header_key:
                continue  # forwarded as received, above
            sent = forwarded_value(behavior, name, headers)
            if sent is not None:
                out.append((name, sent))
    return out


def with_edge_headers(
    behavior: CacheBehavior,
    headers: list[tuple[str, str]],
    viewer: Mapping[str, str],
    client_ip: str | None,
    via: str,
) -> list[tuple[str, str]]:
    """`origin_headers` plus what the edge sets: the viewer's Host when the behavior keys on it,
    the origin's custom headers (replacing the viewer's), Via and X-Forwarded-For appended to."""
    if "host" in behavior.header_key and "host" in viewer:
        headers = [*headers, ("host", viewer["host"])]
    custom = {name.lower() for name, _ in behavior.origin_headers}
    out = [(n, v) for n, v in headers if n not in custom]
    out.extend(behavior.origin_headers)
    previous = viewer.get("via")
    out.append(("via", f"{previous}, {via}" if previous else via))
    if client_ip:
        forwarded = viewer.get("x-forwarded-for")
        out.append(("x-forwarded-for", f"{forwarded}, {client_ip}" if forwarded else client_ip))
    return out


class ForwardedView(Mapping[str, str]):
    """The request headers as the origin sees them, computed per name on first use.

    `Vary` is matched against these: the origin can only have varied on what it was sent.
    """

    __slots__ = ("_behavior", "_headers", "_memo")

    def __init__(self, behavior: CacheBehavior, headers: Mapping[str, str]) -> None:
        self._behavior = behavior
        self._headers = headers
        self._memo: dict[str, str | None] | None = None  # made on first use: hits rarely do

    def __getitem__(self, name: str) -> str:
        memo = self._memo
        if memo is None:
            memo = self._memo = {}
        if name not in memo:
            memo[name] = forwarded_value(self._behavior, name, self._headers)
        value = memo[name]
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._headers if forwarded_value(self._behavior, n, self._headers))

    def __len__(self) -> int:
        return sum(1 for _ in self)
