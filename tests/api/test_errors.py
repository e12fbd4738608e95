"""Every error code of spec §5, provoked against a real server process, envelope checked."""

from __future__ import annotations

import re
import resource
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from invalidator.domain.ids import RandomIds
from invalidator.domain.models import Invalidation
from invalidator.runtime import build_control_plane, ensure_access_key
from invalidator.settings import Settings
from invalidator.store.sqlite import SqliteStore
from tests.support.envelope import assert_error
from tests.support.server import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    ServerProcess,
    add_distribution,
)
from tests.support.signing import SignedClient, batch_xml, sign_headers

StartServer = Callable[..., ServerProcess]
NOT_WELL_FORMED = re.compile(r"The XML document you provided was not well-formed: .+\.")
INVALID_PATHS = "Your request contains one or more invalid invalidation paths."
NO_RETRIES = Config(retries={"total_max_attempts": 1})


# --- request shape -------------------------------------------------------------------------


def test_missing_body(api: SignedClient, dist_id: str) -> None:
    """A POST without a body is MissingBody (400) with AWS's message."""
    assert_error(
        api.create(dist_id, b""),
        400,
        "MissingBody",
        "This operation requires a body. Ensure that the body is present and the "
        "Content-Type header is set.",
    )


def test_not_well_formed_is_malformed_xml(api: SignedClient, dist_id: str) -> None:
    """A body that is not well-formed XML is MalformedXML (400)."""
    assert_error(
        api.create(dist_id, b"<InvalidationBatch><Paths>"), 400, "MalformedXML", NOT_WELL_FORMED
    )


def test_wrong_root_is_malformed_xml(api: SignedClient, dist_id: str) -> None:
    """A root other than InvalidationBatch is MalformedXML naming the root."""
    assert_error(
        api.create(dist_id, b"<DistributionConfig/>"),
        400,
        "MalformedXML",
        "Unexpected root element 'DistributionConfig'; expected InvalidationBatch.",
    )


def test_missing_caller_reference_is_validator_style(api: SignedClient, dist_id: str) -> None:
    """No CallerReference: MalformedXML in AWS validator style."""
    body = b"<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths></InvalidationBatch>"  # noqa: E501
    assert_error(
        api.create(dist_id, body),
        400,
        "MalformedXML",
        "1 validation error detected: Value null at 'invalidationBatch.callerReference' "
        "failed to satisfy constraint: Member must not be null",
    )


@pytest.mark.parametrize("quantity", ["two", "1.0", "", "0x1"])
def test_non_integer_quantity_is_malformed_xml(
    api: SignedClient, dist_id: str, quantity: str
) -> None:
    """A Quantity that is not an integer is MalformedXML naming the value."""
    assert_error(
        api.create(dist_id, batch_xml(["/a"], "q", quantity=quantity)),
        400,
        "MalformedXML",
        f"1 validation error detected: Value '{quantity}' at 'invalidationBatch.paths.quantity' "
        "failed to satisfy constraint: Member must be a valid integer",
    )


def test_quantity_mismatch_is_inconsistent_quantities(api: SignedClient, dist_id: str) -> None:
    """Quantity 3 with two paths: InconsistentQuantities with CloudFront's message."""
    assert_error(
        api.create(dist_id, batch_xml(["/a", "/b"], "m", quantity=3)),
        400,
        "InconsistentQuantities",
        "The specified quantity of Paths (3) does not match the actual quantity supplied (2).",
    )
    assert api.count(dist_id) == 0


def test_empty_batch_is_invalid_argument(api: SignedClient, dist_id: str) -> None:
    """`<Paths><Quantity>0</Quantity></Paths>` is InvalidArgument (our rule)."""
    assert_error(
        api.create(dist_id, batch_xml([], "empty")),
        400,
        "InvalidArgument",
        "An invalidation batch must contain at least one path.",
    )


# --- paths and tags ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "a.jpg",
        "img/*",
        "/a*b",
        "/img/*/x.png",
        "/" + "a" * 4000,
        "/a\tb",
        "/a\nb",
        "/a&#13;b",
        "/a\x7fb",
        "/a\x80b",
        "/a\x85b",
        "/a\x9fb",
        "",
    ],
    ids=[
        "no-slash",
        "wildcard-no-slash",
        "star-middle",
        "star-segment",
        "4001-chars",
        "tab",
        "newline",
        "carriage-return",
        "del",
        "c1-first",
        "c1-next-line",
        "c1-last",
        "empty",
    ],
)
def test_invalid_paths(api: SignedClient, dist_id: str, path: str) -> None:
    """Paths breaking spec §4 (slash, wildcard, length, control characters) are refused."""
    body = batch_xml([path], "bad").replace(b"&amp;#13;", b"&#13;")
    assert_error(api.create(dist_id, body), 400, "InvalidArgument", INVALID_PATHS)
    assert api.count(dist_id) == 0


def test_path_limits_are_inclusive(api: SignedClient, dist_id: str) -> None:
    """A 4,000-character path and a trailing `*` are valid (the refusals above are exact)."""
    paths = ["/" + "a" * 3999, "/img*", "/*"]
    response = api.create(dist_id, batch_xml(paths, "edge"))
    assert response.status_code == 201, response.text


def test_tag_without_tag_header_is_invalid_argument(api: SignedClient, dist_id: str) -> None:
    """A tag on a distribution without a cache tag header is InvalidArgument."""
    assert_error(
        api.create(dist_id, batch_xml(["#product-42"], "t")),
        400,
        "InvalidArgument",
        "Cache tag invalidations require a distribution with a cache tag header "
        "(CacheTagConfig.HeaderName).",
    )


@pytest.mark.parametrize(
    "tag",
    ["#a,b", "#a*", "#" + "t" * 257, "#a b", "#caf\u00e9", "#a\x7f", "#"],
    ids=["comma", "wildcard", "257-chars", "space", "non-ascii", "del", "empty"],
)
def test_bad_tags_are_invalid_argument(server: ServerProcess, api: SignedClient, tag: str) -> None:
    """Tags with a comma, a wildcard, > 256 chars or non-printable characters are refused."""
    dist = server.create_distribution(tag_header="x-cache-tags")
    message = (
        f"Invalid cache tag {tag[:64]!r}: a tag is 1 to 256 printable ASCII characters "
        "without commas or wildcards."
    )
    assert_error(api.create(dist.id, batch_xml([tag], "t")), 400, "InvalidArgument", message)
    assert api.count(dist.id) == 0


def test_valid_tags_accepted_with_tag_header(server: ServerProcess) -> None:
    """On a distribution naming a tag header, valid tags (up to 256 chars) are accepted."""
    dist = server.create_distribution(tag_header="x-cache-tags")
    items = ["#Product-42", "#" + "t" * 256, "/also/a/path"]
    created = server.client().create_invalidation(
        DistributionId=dist.id,
        InvalidationBatch={"Paths": {"Quantity": 3, "Items": items}, "CallerReference": "tags"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == items


# --- listing -------------------------------------------------------------------------------


@pytest.mark.parametrize("max_items", ["abc", "0", "000", "-1", "1.5", "%C2%B2", "%D9%A1", "1e3"])
def test_bad_max_items_is_invalid_argument(api: SignedClient, dist_id: str, max_items: str) -> None:
    """MaxItems that is not a positive (ASCII) integer is InvalidArgument."""
    assert_error(
        api.list(dist_id, f"MaxItems={max_items}"),
        400,
        "InvalidArgument",
        "MaxItems must be a positive integer.",
        operation="ListInvalidations",
    )


@pytest.mark.parametrize(
    ("max_items", "answered"),
    [("1000", 100), ("99999999999999999999", 100), ("9" * 5000, 100), ("0042", 42)],
    ids=["1000", "20-digits", "5000-digits", "leading-zeros"],
)
def test_large_max_items_is_capped(
    api: SignedClient, dist_id: str, max_items: str, answered: int
) -> None:
    """Any all-digit MaxItems is accepted: over 100 (however many digits) it is capped at 100."""
    listed = api.list(dist_id, f"MaxItems={max_items}")
    assert listed.status_code == 200, listed.text
    assert f"<MaxItems>{answered}</MaxItems>".encode() in listed.content
    distributions = api.send("GET", f"/2020-05-31/distribution?MaxItems={max_items}")
    assert distributions.status_code == 200, distributions.text
    assert f"<MaxItems>{answered}</MaxItems>".encode() in distributions.content


def test_c1_control_characters_are_refused_also_via_boto3(server: ServerProcess) -> None:
    """A path with U+0085 (NEXT LINE) is InvalidArgument through boto3; U+00A0 is a fine path."""
    dist = server.create_distribution()
    cf = server.client(config=NO_RETRIES)
    with pytest.raises(ClientError) as err:
        cf.create_invalidation(
            DistributionId=dist.id,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": ["/a\x85b"]},
                "CallerReference": "c1",
            },
        )
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert err.value.response["Error"]["Message"] == INVALID_PATHS
    ok = cf.create_invalidation(
        DistributionId=dist.id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/a\xa0b"]}, "CallerReference": "nb"},
    )
    assert ok["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/a\xa0b"]


def test_unknown_marker_is_invalid_argument(api: SignedClient, dist_id: str) -> None:
    """A Marker that is no invalidation of this distribution is InvalidArgument."""
    assert_error(
        api.list(dist_id, "Marker=INOPE0000000000"),
        400,
        "InvalidArgument",
        "The marker 'INOPE0000000000' is not valid for this list.",
        operation="ListInvalidations",
    )


# --- lookups and idempotency ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["2020-05-31", "2013-05-12", "2012-05-05"])
def test_no_such_distribution(api: SignedClient, version: str) -> None:
    """Unknown distribution: NoSuchDistribution (404) on create, list and get, any version."""
    base = f"/{version}/distribution/ENOPE000000000/invalidation"
    message = "The specified distribution does not exist."
    assert_error(
        api.create("ENOPE000000000", batch_xml(["/a"], "x", version=version), version),
        404,
        "NoSuchDistribution",
        message,
        version=version,
    )
    for path, operation in ((base, "ListInvalidations"), (base + "/IX", "GetInvalidation")):
        assert_error(
            api.send("GET", path),
            404,
            "NoSuchDistribution",
            message,
            version=version,
            operation=operation,
        )


def test_streaming_distributions_have_no_invalidations(api: SignedClient, dist_id: str) -> None:
    """The seed's streaming-distribution invalidation resource is NoSuchDistribution (404) on
    create, list and get, even for the id of a web distribution."""
    base = f"/2013-05-12/streaming-distribution/{dist_id}/invalidation"
    for method, path, body, operation in (
        ("POST", base, batch_xml(["/a"], "s", version="2013-05-12"), "CreateInvalidation"),
        ("GET", base, b"", "ListInvalidations"),
        ("GET", base + "/IX", b"", "GetInvalidation"),
    ):
        assert_error(
            api.send(method, path, body),
            404,
            "NoSuchDistribution",
            "The specified distribution does not exist.",
            version="2013-05-12",
            operation=operation,
        )


def test_no_such_invalidation(server: ServerProcess, api: SignedClient, dist_id: str) -> None:
    """An unknown id, or another distribution's id, is NoSuchInvalidation (404)."""
    other = server.create_distribution().id
    created = api.create(other, batch_xml(["/a"], "x"))
    assert created.status_code == 201
    foreign = re.search(rb"<Id>(I\w+)</Id>", created.content)
    assert foreign is not None
    for inv_id in ("INOPE000000000", foreign.group(1).decode()):
        assert_error(
            api.send("GET", f"/2020-05-31/distribution/{dist_id}/invalidation/{inv_id}"),
            404,
            "NoSuchInvalidation",
            "The specified invalidation does not exist.",
            operation="GetInvalidation",
        )


def test_caller_reference_reuse_is_409(api: SignedClient, dist_id: str) -> None:
    """The same CallerReference with other paths: InvalidationBatchAlreadyExists (409)."""
    assert api.create(dist_id, batch_xml(["/a"], "ref")).status_code == 201
    assert_error(
        api.create(dist_id, batch_xml(["/b"], "ref")),
        409,
        "InvalidationBatchAlreadyExists",
        "The CallerReference you attempted to create the invalidation with is already in use.",
    )
    assert api.count(dist_id) == 1


def test_unknown_route_and_method(api: SignedClient, dist_id: str) -> None:
    """Unknown resources are NoSuchResource (404), wrong methods MethodNotAllowed (405)."""
    assert_error(
        api.send("GET", "/2020-05-31/nothing-here"),
        404,
        "NoSuchResource",
        "No resource at /2020-05-31/nothing-here",
    )
    assert_error(
        api.send("DELETE", f"/2020-05-31/distribution/{dist_id}/invalidation"),
        405,
        "MethodNotAllowed",
        "The requested method is not allowed for this resource.",
    )


# --- limits --------------------------------------------------------------------------------


def test_batch_over_3000_paths_is_413(api: SignedClient, dist_id: str) -> None:
    """3,001 paths in one batch: BatchTooLarge (413); 3,000 are accepted."""
    paths = [f"/p/{i}" for i in range(3001)]
    assert_error(
        api.create(dist_id, batch_xml(paths, "big")),
        413,
        "BatchTooLarge",
        "Invalidation batch specified is too large.",
    )
    assert api.count(dist_id) == 0
    assert api.create(dist_id, batch_xml(paths[:3000], "ok")).status_code == 201


def test_body_over_size_limit_is_413_fast(start_server: StartServer) -> None:
    """A body over --max-body-bytes is BatchTooLarge (413) at once; nothing is written."""
    srv = start_server(args=["--max-body-bytes", "1000"])
    dist = srv.create_distribution()
    body = batch_xml([f"/p/{i:04}" for i in range(100)], "big")
    assert len(body) > 1000
    with SignedClient(srv.url) as api:
        started = time.monotonic()
        response = api.create(dist.id, body)
        assert time.monotonic() - started < 1.0
        assert_error(
            response, 413, "BatchTooLarge", "The request body exceeds the limit of 1000 bytes."
        )
        assert api.count(dist.id) == 0
        assert api.create(dist.id, batch_xml(["/small"], "ok")).status_code == 201


def test_too_many_in_progress_wildcards_and_files(start_server: StartServer) -> None:
    """A batch over the in-progress limits: TooManyInvalidationsInProgress, both variants."""
    srv = start_server(args=["--max-in-progress-wildcards", "1", "--max-in-progress-files", "2"])
    dist = srv.create_distribution()
    with SignedClient(srv.url) as api:
        assert_error(
            api.create(dist.id, batch_xml(["/a*", "/b*"], "w")),
            400,
            "TooManyInvalidationsInProgress",
            "Processing your request will cause you to exceed the maximum number of "
            "in-progress wildcard invalidations.",
        )
        assert_error(
            api.create(dist.id, batch_xml(["/a", "/b", "/c"], "f")),
            400,
            "TooManyInvalidationsInProgress",
            "Processing your request will cause you to exceed the maximum number of "
            "in-progress invalidations.",
        )
        assert api.count(dist.id) == 0
        assert api.create(dist.id, batch_xml(["/a", "/b", "/c*"], "fits")).status_code == 201
    with pytest.raises(ClientError) as err:
        srv.client(config=NO_RETRIES).create_invalidation(
            DistributionId=dist.id,
            InvalidationBatch={
                "Paths": {"Quantity": 2, "Items": ["/x*", "/y*"]},
                "CallerReference": "boto",
            },
        )
    assert err.value.response["Error"]["Code"] == "TooManyInvalidationsInProgress"


def test_throttling(start_server: StartServer) -> None:
    """Over the per-key rate (1/s, burst 2): Throttling (400) "Rate exceeded", then refilled."""
    srv = start_server(INVALIDATOR_RATE_LIMIT="1", INVALIDATOR_RATE_BURST="2")
    dist = srv.create_distribution()
    cf = srv.client(config=NO_RETRIES)  # built first: the bucket refills while botocore loads
    with SignedClient(srv.url) as api:
        assert [api.list(dist.id).status_code for _ in range(2)] == [200, 200]
        assert_error(
            api.list(dist.id), 400, "Throttling", "Rate exceeded", operation="ListInvalidations"
        )
        with pytest.raises(ClientError) as err:
            cf.list_invalidations(DistributionId=dist.id)
        assert err.value.response["Error"] == {
            "Type": "Sender",
            "Code": "Throttling",
            "Message": "Rate exceeded",
        }
        time.sleep(1.1)
        assert api.list(dist.id).status_code == 200


# --- our faults ----------------------------------------------------------------------------


def test_store_unwritable_is_service_unavailable(start_server: StartServer) -> None:
    """When the store cannot write: ServiceUnavailable (503, Receiver); a retry then works.

    The server runs as root here, so file permissions cannot stop it; a file size limit of
    1 byte (RLIMIT_FSIZE, soft) on the server process makes every SQLite write fail instead.
    """
    srv = start_server()
    dist = srv.create_distribution()
    assert srv.proc is not None
    pid = srv.proc.pid
    body = batch_xml(["/a"], "retry-me")
    with SignedClient(srv.url) as api:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        try:
            assert_error(
                api.create(dist.id, body),
                503,
                "ServiceUnavailable",
                "CloudFront encountered an internal error. Please try again.",
                fault="Receiver",
            )
        finally:
            infinity = resource.RLIM_INFINITY
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (infinity, infinity))
        assert api.count(dist.id) == 0
        assert api.create(dist.id, body).status_code == 201
        assert api.count(dist.id) == 1


class _ExplodingStore(SqliteStore):
    """A store whose listing fails with an unexpected exception (a bug, not an outage)."""

    async def list_invalidations(
        self, distribution_id: str, before_id: str | None, limit: int
    ) -> list[Invalidation] | None:
        raise RuntimeError("secret internals: /etc/shadow")


async def test_unexpected_exception_is_internal_error(tmp_path: Path) -> None:
    """An unexpected exception is InternalError (500, Receiver) without any traceback text."""
    dist = await add_distribution(tmp_path)
    settings = Settings(
        data_dir=str(tmp_path), access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY
    )
    plane = build_control_plane(settings, store=_ExplodingStore(settings.database_path))
    url = f"http://testserver/2020-05-31/distribution/{dist.id}/invalidation"
    try:
        await ensure_access_key(plane.store, settings, plane.clock, RandomIds())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=plane.app)) as http:
            response = await http.get(url, headers=sign_headers("GET", url))
    finally:
        await plane.stop()
    for leak in (b"secret internals", b"RuntimeError", b"Traceback", b".py"):
        assert leak not in response.content
    assert_error(
        response,
        500,
        "InternalError",
        "CloudFront encountered an internal error. Please try again.",
        fault="Receiver",
        operation="ListInvalidations",
    )
