"""botocore as the reference client: capture what it sends, parse what we answer.

Requests are serialized by a real botocore client and captured at `before-send` (nothing goes
on the network); response bodies are parsed by botocore's RestXMLParser, exactly as boto3
hands them to callers. `missing_required` walks a parsed value against the model's output
shape so a test can prove no required member is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.parsers import RestXMLParser


class _EmptyBody:
    """The raw stream of the dummy response: no bytes."""

    def stream(self, **_kwargs: object) -> Iterator[bytes]:
        yield b""


def offline_client() -> Any:
    """A botocore CloudFront client whose requests are only ever captured."""
    return botocore.session.get_session().create_client(
        "cloudfront",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        endpoint_url="http://localhost:1",
    )


def sent_body(client: Any, method: str, **params: Any) -> bytes:
    """The body botocore serializes for a call; the call gets an empty 200 instead of a network."""
    captured: list[bytes] = []

    def capture(request: Any, **_kwargs: object) -> AWSResponse:
        body = request.body
        captured.append(body if isinstance(body, bytes) else body.encode("utf-8"))
        return AWSResponse(request.url, 200, {}, _EmptyBody())

    client.meta.events.register_first("before-send.cloudfront", capture)
    try:
        getattr(client, method)(**params)
    finally:
        client.meta.events.unregister("before-send.cloudfront", capture)
    return captured[0]


def botocore_parse(client: Any, operation: str, body: bytes) -> dict[str, Any]:
    """What boto3 hands its caller for this response body."""
    output = client.meta.service_model.operation_model(operation).output_shape
    response = {"status_code": 200, "headers": {}, "body": body}
    parsed: dict[str, Any] = RestXMLParser().parse(response, output)
    parsed.pop("ResponseMetadata", None)
    return parsed


def without_empty_items(value: Any) -> Any:
    """Drop `Items: []` next to `Quantity: 0`: CloudFront (and we) omit it on the wire."""
    if isinstance(value, dict):
        return {
            k: without_empty_items(v)
            for k, v in value.items()
            if not (k == "Items" and v == [] and value.get("Quantity") == 0)
        }
    if isinstance(value, list):
        return [without_empty_items(v) for v in value]
    return value


def missing_required(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every required member absent anywhere in a parsed value, as dotted paths.

    Members bound to headers (ETag, Location) are checked too: boto3 fills them from headers.
    """
    missing: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        missing += [f"{path}.{name}" for name in shape.required_members if name not in value]
        for name, member in shape.members.items():
            if name in value:
                missing += missing_required(member, value[name], f"{path}.{name}")
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            missing += missing_required(shape.member, item, f"{path}[{index}]")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            missing += missing_required(shape.value, item, f"{path}[{key}]")
    return missing


def output_shape(client: Any, operation: str) -> Shape:
    """The model's output shape of an operation (e.g. `GetDistribution`)."""
    shape: Shape = client.meta.service_model.operation_model(operation).output_shape
    return shape
