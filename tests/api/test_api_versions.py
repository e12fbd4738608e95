"""Every API version from 2012-05-05 to 2020-05-31 serves create, get and list (spec §1)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from invalidator.api.versions import API_VERSIONS
from invalidator.api.wire.xmltree import cloudfront_namespace
from tests.support.server import ServerProcess
from tests.support.signing import SignedClient, batch_xml


def _root(body: bytes, version: str, tag: str) -> ET.Element:
    """The parsed document, checked to be `tag` in the version's namespace."""
    root = ET.fromstring(body)
    assert root.tag == f"{{{cloudfront_namespace(version)}}}{tag}", root.tag
    return root


def test_the_version_list_spans_2012_to_2020() -> None:
    """The served versions are the 27 from 2012-05-05 to 2020-05-31 (the list tested below)."""
    assert len(API_VERSIONS) == 27
    assert min(API_VERSIONS) == "2012-05-05" and max(API_VERSIONS) == "2020-05-31"


@pytest.mark.parametrize("version", sorted(API_VERSIONS))
def test_create_get_list_on_every_version(
    server: ServerProcess, api: SignedClient, dist_id: str, version: str
) -> None:
    """Each version answers with its own namespace and a Location under its own URI."""
    base = f"/{version}/distribution/{dist_id}/invalidation"
    body = batch_xml(["/v.txt", "/v/*"], f"ref-{version}", version=version)
    created = api.create(dist_id, body, version=version)
    assert created.status_code == 201, created.text
    ns = f"{{{cloudfront_namespace(version)}}}"
    inv_id = _root(created.content, version, "Invalidation").findtext(f"{ns}Id")
    assert inv_id
    assert created.headers["location"] == f"{server.url}{base}/{inv_id}"

    got = api.send("GET", f"{base}/{inv_id}")
    assert got.status_code == 200, got.text
    root = _root(got.content, version, "Invalidation")
    assert root.findtext(f"{ns}Id") == inv_id
    paths = root.findall(f"{ns}InvalidationBatch/{ns}Paths/{ns}Items/{ns}Path")
    assert [p.text for p in paths] == ["/v.txt", "/v/*"]
    assert root.findtext(f"{ns}InvalidationBatch/{ns}CallerReference") == f"ref-{version}"

    listed = api.list(dist_id, version=version)
    assert listed.status_code == 200, listed.text
    summaries = _root(listed.content, version, "InvalidationList").findall(
        f"{ns}Items/{ns}InvalidationSummary"
    )
    assert [s.findtext(f"{ns}Id") for s in summaries] == [inv_id]

    missing = api.send("GET", f"{base}/INOPE0000000000")
    assert missing.status_code == 404
    _root(missing.content, version, "ErrorResponse")
