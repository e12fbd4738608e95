"""Distribution API bodies, read and written through the model-driven shape codec."""

from __future__ import annotations

from typing import Any

from invalidator.api.wire.distribution_defaults import fill_distribution_config_defaults
from invalidator.api.wire.shapes import ShapeModel
from invalidator.api.wire.xmlparse import parse_xml
from invalidator.api.wire.xmltree import XmlWriter, check_request_namespace, cloudfront_namespace
from invalidator.domain.distribution_service import DistributionPage, DistributionView
from invalidator.domain.errors import MalformedXML, MissingBody

# DistributionSummary repeats these DistributionConfig members.
_SUMMARY_FROM_CONFIG = (
    "Aliases", "Origins", "OriginGroups", "DefaultCacheBehavior", "CacheBehaviors",
    "CustomErrorResponses", "Comment", "PriceClass", "Enabled", "ViewerCertificate",
    "Restrictions", "WebACLId", "HttpVersion", "IsIPV6Enabled", "AliasICPRecordals",
    "ConnectionMode", "AnycastIpListId", "ViewerMtlsConfig", "ConnectionFunctionAssociation",
)  # fmt: skip


def arn_of(distribution_id: str, account_id: str) -> str:
    """The distribution's ARN."""
    return f"arn:aws:cloudfront::{account_id}:distribution/{distribution_id}"


class DistributionWire:
    """Parses request bodies and renders responses of the Distribution API."""

    def __init__(self, model: ShapeModel, account_id: str) -> None:
        self._model = model
        self._account_id = account_id

    def _root(self, body: bytes, tag: str) -> Any:
        if not body.strip():
            raise MissingBody()
        root = parse_xml(body)
        if root.tag != tag:
            raise MalformedXML(f"Unexpected root element {root.tag[:64]!r}; expected {tag}.")
        complaint = check_request_namespace(root)
        if complaint is not None:
            raise MalformedXML(complaint)
        return root

    def parse_config(self, body: bytes) -> dict[str, Any]:
        """A DistributionConfig body, with CloudFront's defaults filled in."""
        config = self._model.parse(
            self._root(body, "DistributionConfig"), "DistributionConfig", "distributionConfig"
        )
        return fill_distribution_config_defaults(config)

    def parse_config_with_tags(
        self, body: bytes
    ) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
        """A DistributionConfigWithTags body."""
        parsed = self._model.parse(
            self._root(body, "DistributionConfigWithTags"),
            "DistributionConfigWithTags",
            "distributionConfigWithTags",
        )
        config = fill_distribution_config_defaults(parsed["DistributionConfig"])  # type: ignore[arg-type]
        return config, _tags_of(parsed.get("Tags"))

    def parse_tags(self, body: bytes) -> tuple[tuple[str, str], ...]:
        """A Tags body (TagResource)."""
        return _tags_of(self._model.parse(self._root(body, "Tags"), "Tags", "tags"))

    def parse_tag_keys(self, body: bytes) -> tuple[str, ...]:
        """A TagKeys body (UntagResource)."""
        parsed = self._model.parse(self._root(body, "TagKeys"), "TagKeys", "tagKeys")
        items = parsed.get("Items") or []
        return tuple(str(k) for k in items)  # type: ignore[attr-defined]

    def distribution(self, view: DistributionView, version: str) -> bytes:
        """The `<Distribution>` document."""
        d = view.distribution
        value = {
            "Id": d.id,
            "ARN": arn_of(d.id, self._account_id),
            "Status": view.status,
            "LastModifiedTime": d.modified_at,
            "InProgressInvalidationBatches": view.in_progress_invalidation_batches,
            "DomainName": d.domain_name,
            "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
            "ActiveTrustedKeyGroups": {"Enabled": False, "Quantity": 0},
            "DistributionConfig": d.config,
        }
        w = XmlWriter()
        self._model.serialize(
            value, "Distribution", w, "Distribution", cloudfront_namespace(version)
        )
        return w.to_bytes()

    def config(self, view: DistributionView, version: str) -> bytes:
        """The `<DistributionConfig>` document."""
        w = XmlWriter()
        self._model.serialize(
            view.distribution.config,
            "DistributionConfig",
            w,
            "DistributionConfig",
            cloudfront_namespace(version),
        )
        return w.to_bytes()

    def distribution_list(self, page: DistributionPage, version: str) -> bytes:
        """The `<DistributionList>` document."""
        summaries = []
        for view in page.items:
            d = view.distribution
            summary: dict[str, Any] = {
                "Id": d.id,
                "ARN": arn_of(d.id, self._account_id),
                "ETag": d.etag,
                "Status": view.status,
                "LastModifiedTime": d.modified_at,
                "DomainName": d.domain_name,
            }
            summary.update({k: d.config[k] for k in _SUMMARY_FROM_CONFIG if k in d.config})
            summary["Staging"] = bool(d.config.get("Staging", False))
            summaries.append(summary)
        value: dict[str, Any] = {
            "Marker": page.marker,
            "MaxItems": page.max_items,
            "IsTruncated": page.next_marker is not None,
            "Quantity": len(summaries),
        }
        if page.next_marker is not None:
            value["NextMarker"] = page.next_marker
        if summaries:
            value["Items"] = summaries
        w = XmlWriter()
        self._model.serialize(
            value, "DistributionList", w, "DistributionList", cloudfront_namespace(version)
        )
        return w.to_bytes()

    def tags(self, tags: tuple[tuple[str, str], ...], version: str) -> bytes:
        """The `<Tags>` document."""
        w = XmlWriter()
        value: dict[str, Any] = {"Items": [{"Key": k, "Value": v} for k, v in tags]}
        self._model.serialize(value, "Tags", w, "Tags", cloudfront_namespace(version))
        return w.to_bytes()


def _tags_of(parsed: Any) -> tuple[tuple[str, str], ...]:
    items = (parsed or {}).get("Items") or []
    return tuple((str(t["Key"]), str(t.get("Value", ""))) for t in items)
