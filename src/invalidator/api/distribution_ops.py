"""The Distribution API (2020-05-31 shapes; also served on the older versions' URIs)."""

from __future__ import annotations

import re

from invalidator.api.authn import authorize
from invalidator.api.http import Response
from invalidator.api.routing import Call, Route, route
from invalidator.api.versions import API_VERSIONS
from invalidator.api.wire.distribution_xml import DistributionWire
from invalidator.domain.distribution_service import DistributionService, DistributionView
from invalidator.domain.errors import AccessDenied, InvalidArgument, NoSuchResource

DISTRIBUTION_VERSIONS = frozenset(v for v in API_VERSIONS if v >= "2013-05-12")
TAGGING_VERSIONS = frozenset(v for v in API_VERSIONS if v >= "2016-11-25")
# The model's ResourceARN pattern; what matches it names a CloudFront resource of some account.
_CLOUDFRONT_ARN = re.compile(r"arn:aws(-cn)?:cloudfront::([0-9]+):(.*)")
_DISTRIBUTION = re.compile(r"distribution/([A-Z0-9]+)")


class DistributionOperations:
    """One short method per operation."""

    def __init__(
        self, service: DistributionService, wire: DistributionWire, account_id: str
    ) -> None:
        self._service = service
        self._wire = wire
        self._account_id = account_id

    def routes(self) -> list[Route]:
        """This family's routes."""
        v, t = DISTRIBUTION_VERSIONS, TAGGING_VERSIONS
        return [
            route("POST", "/distribution", "CreateDistribution", self.create_distribution,
                  versions=v),
            route("GET", "/distribution", "ListDistributions", self.list_distributions, versions=v),
            route("GET", "/distribution/{dist}", "GetDistribution", self.get_distribution,
                  distribution_param="dist", versions=v),
            route("DELETE", "/distribution/{dist}", "DeleteDistribution", self.delete_distribution,
                  distribution_param="dist", versions=v),
            route("GET", "/distribution/{dist}/config", "GetDistributionConfig",
                  self.get_distribution_config, distribution_param="dist", versions=v),
            route("PUT", "/distribution/{dist}/config", "UpdateDistribution",
                  self.update_distribution, distribution_param="dist", versions=v),
            route("POST", "/tagging", "TagResource", self.tagging, versions=t),
            route("GET", "/tagging", "ListTagsForResource", self.list_tags, versions=t),
        ]  # fmt: skip

    def _location(self, call: Call, distribution_id: str) -> str:
        return f"{call.base_url}/{call.version}/distribution/{distribution_id}"

    def _distribution(self, view: DistributionView, call: Call, status: int = 200) -> Response:
        headers = [("etag", view.distribution.etag)]
        if status == 201:
            headers.append(("location", self._location(call, view.distribution.id)))
        return Response(status, self._wire.distribution(view, call.version), headers)

    async def create_distribution(self, call: Call) -> Response:
        """201 with the new (or replayed) distribution, Location and ETag."""
        if call.key.distributions is not None:
            raise AccessDenied(
                f"User: {call.key.access_key_id} is not authorized to perform: "
                f"cloudfront:CreateDistribution on resource: "
                f"arn:aws:cloudfront::{self._account_id}:distribution/*"
            )
        if "WithTags" in call.request.query():
            config, tags = self._wire.parse_config_with_tags(call.request.body)
        else:
            config, tags = self._wire.parse_config(call.request.body), ()
        view, _ = await self._service.create_distribution(config, tags)
        return self._distribution(view, call, 201)

    async def get_distribution(self, call: Call) -> Response:
        """200 with the distribution and its ETag."""
        return self._distribution(await self._service.get_distribution(call.params["dist"]), call)

    async def get_distribution_config(self, call: Call) -> Response:
        """200 with the config and its ETag."""
        view = await self._service.get_distribution(call.params["dist"])
        return Response(
            200, self._wire.config(view, call.version), [("etag", view.distribution.etag)]
        )

    async def update_distribution(self, call: Call) -> Response:
        """200 with the updated distribution and its new ETag."""
        config = self._wire.parse_config(call.request.body)
        view = await self._service.update_distribution(
            call.params["dist"], config, call.request.header("if-match")
        )
        return self._distribution(view, call)

    async def delete_distribution(self, call: Call) -> Response:
        """204 once a disabled distribution is gone."""
        await self._service.delete_distribution(
            call.params["dist"], call.request.header("if-match")
        )
        return Response(204)

    async def list_distributions(self, call: Call) -> Response:
        """200 with one page of the distributions this key may see."""
        query = call.request.query()
        page = await self._service.list_distributions(
            query.get("Marker", ""), query.get("MaxItems"), call.key.distributions
        )
        return Response(200, self._wire.distribution_list(page, call.version))

    def _resource(self, call: Call, operation: str | None = None) -> str:
        """The distribution id a tagging call's `Resource` ARN names.

        InvalidArgument when it is not a CloudFront ARN; AccessDenied for another account's
        resource (as IAM answers); NoSuchResource for another partition or a resource type we
        do not hold (only distributions take tags here).
        """
        resource = call.request.query().get("Resource", "")
        found = _CLOUDFRONT_ARN.fullmatch(resource)
        if not found:
            raise InvalidArgument(f"The resource {resource[:200]!r} is not a valid CloudFront ARN.")
        partition_cn, account, name = found.groups()
        operation = operation or call.operation
        if account != self._account_id:
            raise AccessDenied(
                f"User: {call.key.access_key_id} is not authorized to perform: "
                f"cloudfront:{operation} on resource: {resource[:200]}"
            )
        distribution = _DISTRIBUTION.fullmatch(name)
        if partition_cn or not distribution:
            raise NoSuchResource()
        distribution_id = distribution.group(1)
        authorize(call.key, operation, distribution_id, self._account_id)
        return distribution_id

    async def tagging(self, call: Call) -> Response:
        """TagResource (`?Operation=Tag`) and UntagResource (`?Operation=Untag`): 204."""
        operation = call.request.query().get("Operation")
        if operation not in ("Tag", "Untag"):
            raise InvalidArgument("The Operation parameter must be Tag or Untag.")
        distribution_id = self._resource(call, f"{operation}Resource")
        if operation == "Tag":
            await self._service.tag_resource(
                distribution_id, self._wire.parse_tags(call.request.body)
            )
        else:
            await self._service.untag_resource(
                distribution_id, self._wire.parse_tag_keys(call.request.body)
            )
        return Response(204)

    async def list_tags(self, call: Call) -> Response:
        """200 with the distribution's tags."""
        tags = await self._service.list_tags(self._resource(call))
        return Response(200, self._wire.tags(tags, call.version))
