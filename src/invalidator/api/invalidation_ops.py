"""CreateInvalidation, GetInvalidation, ListInvalidations: HTTP ⇄ InvalidationService."""

from __future__ import annotations

from invalidator.api.http import Response
from invalidator.api.routing import Call, Route, route
from invalidator.api.wire.invalidation_xml import (
    invalidation_document,
    invalidation_list_document,
    read_invalidation_batch,
)
from invalidator.domain.errors import MissingBody, NoSuchDistribution
from invalidator.domain.invalidations import InvalidationService

_DIST = "/distribution/{dist}/invalidation"
_STREAMING = "/streaming-distribution/{dist}/invalidation"


async def _no_streaming_distribution(call: Call) -> Response:
    """NoSuchDistribution: invalidations of streaming distributions have no resource."""
    raise NoSuchDistribution()


class InvalidationOperations:
    """One short method per operation."""

    def __init__(self, service: InvalidationService) -> None:
        self._service = service

    def routes(self) -> list[Route]:
        """This family's routes."""
        return [
            route("POST", _DIST, "CreateInvalidation", self.create_invalidation,
                  distribution_param="dist"),
            route("GET", _DIST, "ListInvalidations", self.list_invalidations,
                  distribution_param="dist"),
            route("GET", _DIST + "/{id}", "GetInvalidation", self.get_invalidation,
                  distribution_param="dist"),
            # The seed's streaming distributions were retired (2020): none exists.
            route("POST", _STREAMING, "CreateInvalidation", _no_streaming_distribution,
                  distribution_param="dist"),
            route("GET", _STREAMING, "ListInvalidations", _no_streaming_distribution,
                  distribution_param="dist"),
            route("GET", _STREAMING + "/{id}", "GetInvalidation", _no_streaming_distribution,
                  distribution_param="dist"),
        ]  # fmt: skip

    async def create_invalidation(self, call: Call) -> Response:
        """201 with the (new or replayed) invalidation and its Location."""
        if not call.request.body.strip():
            raise MissingBody()
        batch = read_invalidation_batch(call.request.body, self._service.limits.max_batch_paths)
        dist = call.params["dist"]
        invalidation, _ = await self._service.create_invalidation(
            dist, batch.caller_reference, batch.quantity, batch.paths
        )
        location = (
            f"{call.base_url}/{call.version}/distribution/{dist}/invalidation/{invalidation.id}"
        )
        return Response(
            201, invalidation_document(invalidation, call.version), [("location", location)]
        )

    async def get_invalidation(self, call: Call) -> Response:
        """200 with the invalidation."""
        invalidation = await self._service.get_invalidation(call.params["dist"], call.params["id"])
        return Response(200, invalidation_document(invalidation, call.version))

    async def list_invalidations(self, call: Call) -> Response:
        """200 with one page, newest first."""
        query = call.request.query()
        page = await self._service.list_invalidations(
            call.params["dist"], query.get("Marker", ""), query.get("MaxItems")
        )
        return Response(200, invalidation_list_document(page, call.version))
