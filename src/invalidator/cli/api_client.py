"""A small CloudFront API client for our own CLI: SigV4-signed HTTP, the same wire format.

It talks to a server over the network, or in-process to an app built on the local store
(through `httpx.ASGITransport`), so the CLI is a client of the API either way.

Whatever goes wrong on the way is one `ApiError` with a one-line message: an error response
(its code and message), an answer that is not the API's (an HTML error page of a proxy, a
server that is no invalidator), or no answer at all (nothing listening, a timeout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import click
import httpx

from invalidator.api.auth.sigv4 import signed_headers
from invalidator.api.versions import LATEST_VERSION
from invalidator.api.wire.invalidation_xml import invalidation_batch_document
from invalidator.api.wire.shapes import ShapeModel
from invalidator.api.wire.xmlparse import parse_xml
from invalidator.api.wire.xmltree import XmlElement, XmlWriter, cloudfront_namespace
from invalidator.domain.errors import MalformedXML
from invalidator.settings import is_http_url

_SNIPPET = 120


class ApiError(click.ClickException):
    """A failed API call: an error response (`code`, HTTP `status`), an answer that is not
    the API's (`code` ""), or no answer at all (`status` 0). A ClickException, so a command
    that lets it through prints its one line and exits 1."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} ({status}): {message}" if code else message)
        self.status = status
        self.code = code


def _snippet(response: httpx.Response) -> str:
    """The start of a body, on one line, for an error message."""
    text = " ".join(response.content[: _SNIPPET * 4].decode("utf-8", "replace").split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if not text:
        return "an empty body"
    return repr(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))


@dataclass(frozen=True)
class InvalidationView:
    """An invalidation as the API shows it."""

    id: str
    status: str
    create_time: str
    caller_reference: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """A parsed response: root element and headers."""

    root: XmlElement
    headers: httpx.Headers


def _text(element: XmlElement | None) -> str:
    return "" if element is None else element.text.strip()


def _child(element: XmlElement, tag: str) -> XmlElement:
    return element.find(tag) or XmlElement(tag)


def _invalidation(root: XmlElement) -> InvalidationView:
    batch = _child(root, "InvalidationBatch")
    items = _child(_child(batch, "Paths"), "Items")
    return InvalidationView(
        id=_text(root.find("Id")),
        status=_text(root.find("Status")),
        create_time=_text(root.find("CreateTime")),
        caller_reference=_text(batch.find("CallerReference")),
        paths=tuple(p.text for p in items.find_all("Path")),
    )


class CloudFrontClient:
    """Signed requests to an invalidator (or CloudFront-compatible) endpoint."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._key = access_key_id
        self._secret = secret
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._model = ShapeModel.load()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
        headers: dict[str, str] | None,
    ) -> httpx.Response:
        """Sign and send; no answer at all is an ApiError naming the endpoint."""
        if not is_http_url(self._endpoint):
            raise ApiError(
                0, "", f"invalid endpoint URL {self._endpoint!r}: use http(s)://HOST[:PORT]"
            )
        url = self._endpoint + path + (f"?{query}" if query else "")
        send = signed_headers(
            method, self._endpoint, path, query, body, self._key, self._secret, headers
        )
        try:
            return await self._http.request(method, url, content=body, headers=send)
        except httpx.TimeoutException as exc:
            raise ApiError(0, "", f"no answer from {self._endpoint} in time ({exc})") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            reason = str(exc) or type(exc).__name__
            raise ApiError(0, "", f"cannot reach the API at {self._endpoint}: {reason}") from exc

    def _foreign(self, response: httpx.Response, what: str) -> ApiError:
        status = response.status_code
        return ApiError(
            status, "", f"HTTP {status} from {self._endpoint} is not {what}: {_snippet(response)}"
        )

    def _error(self, response: httpx.Response) -> ApiError:
        """The ApiError of an error response, CloudFront's envelope or not."""
        try:
            error = parse_xml(response.content).find("Error")
        except MalformedXML:
            error = None
        code = _text(error.find("Code")) if error is not None else ""
        if error is None or not code:
            return self._foreign(response, "a CloudFront error document")
        return ApiError(response.status_code, code, _text(error.find("Message")))

    async def request(
        self,
        method: str,
        path: str,
        query: str = "",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send a signed request; the parsed XML answer or ApiError."""
        response = await self._send(method, path, query, body, headers)
        if response.status_code >= 400:
            raise self._error(response)
        try:
            root = parse_xml(response.content) if response.content else XmlElement("Empty")
        except MalformedXML as exc:
            raise self._foreign(response, "a CloudFront XML answer") from exc
        return Answer(root, response.headers)

    async def request_json(self, method: str, path: str, query: str = "") -> Any:
        """A signed request to one of our JSON endpoints."""
        response = await self._send(method, path, query, b"", None)
        if response.status_code >= 400:
            raise self._error(response)
        try:
            return response.json()
        except ValueError as exc:
            raise self._foreign(response, "an invalidator JSON answer") from exc

    # -- invalidations -------------------------------------------------------------------

    async def create_invalidation(
        self, distribution_id: str, paths: list[str], caller_reference: str
    ) -> InvalidationView:
        """CreateInvalidation."""
        body = invalidation_batch_document(tuple(paths), caller_reference, LATEST_VERSION)
        answer = await self.request("POST", self._inv_path(distribution_id), body=body)
        return _invalidation(answer.root)

    async def get_invalidation(
        self, distribution_id: str, invalidation_id: str
    ) -> InvalidationView:
        """GetInvalidation."""
        path = self._inv_path(distribution_id) + "/" + quote(invalidation_id, safe="")
        return _invalidation((await self.request("GET", path)).root)

    async def list_invalidations(self, distribution_id: str) -> list[tuple[str, str, str]]:
        """Every invalidation (id, create time, status), following NextMarker."""
        found: list[tuple[str, str, str]] = []
        marker = ""
        while True:
            query = f"Marker={quote(marker, safe='')}&MaxItems=100" if marker else "MaxItems=100"
            root = (await self.request("GET", self._inv_path(distribution_id), query)).root
            for summary in _child(root, "Items").find_all("InvalidationSummary"):
                found.append(
                    (
                        _text(summary.find("Id")),
                        _text(summary.find("CreateTime")),
                        _text(summary.find("Status")),
                    )
                )
            marker = _text(root.find("NextMarker"))
            if not marker:
                return found

    # -- distributions -------------------------------------------------------------------

    def _config_body(self, config: dict[str, Any]) -> bytes:
        w = XmlWriter()
        self._model.serialize(
            config,
            "DistributionConfig",
            w,
            "DistributionConfig",
            cloudfront_namespace(LATEST_VERSION),
        )
        return w.to_bytes()

    def _distribution(self, answer: Answer) -> dict[str, Any]:
        return self._model.parse(answer.root, "Distribution", "distribution")

    async def create_distribution(self, config: dict[str, Any]) -> dict[str, Any]:
        """CreateDistribution: the Distribution structure."""
        answer = await self.request(
            "POST", f"/{LATEST_VERSION}/distribution", body=self._config_body(config)
        )
        return self._distribution(answer)

    async def get_distribution(self, distribution_id: str) -> tuple[dict[str, Any], str]:
        """GetDistribution: the Distribution structure and its ETag."""
        answer = await self.request("GET", self._dist_path(distribution_id))
        return self._distribution(answer), answer.headers.get("etag", "")

    async def update_distribution(
        self, distribution_id: str, config: dict[str, Any], etag: str
    ) -> tuple[dict[str, Any], str]:
        """UpdateDistribution with If-Match: the new Distribution and ETag."""
        answer = await self.request(
            "PUT",
            self._dist_path(distribution_id) + "/config",
            body=self._config_body(config),
            headers={"if-match": etag},
        )
        return self._distribution(answer), answer.headers.get("etag", "")

    async def delete_distribution(self, distribution_id: str, etag: str) -> None:
        """DeleteDistribution with If-Match."""
        await self.request("DELETE", self._dist_path(distribution_id), headers={"if-match": etag})

    async def list_distributions(self) -> list[dict[str, Any]]:
        """Every distribution summary, following NextMarker."""
        found: list[dict[str, Any]] = []
        marker = ""
        while True:
            query = f"Marker={quote(marker, safe='')}&MaxItems=100" if marker else "MaxItems=100"
            answer = await self.request("GET", f"/{LATEST_VERSION}/distribution", query)
            page = self._model.parse(answer.root, "DistributionList", "distributionList")
            found.extend(page.get("Items") or [])  # type: ignore[arg-type]
            marker = str(page.get("NextMarker") or "")
            if not marker:
                return found

    @staticmethod
    def _dist_path(distribution_id: str) -> str:
        return f"/{LATEST_VERSION}/distribution/{quote(distribution_id, safe='')}"

    def _inv_path(self, distribution_id: str) -> str:
        return self._dist_path(distribution_id) + "/invalidation"
