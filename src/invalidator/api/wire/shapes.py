"""A model-driven XML codec for CloudFront's Distribution API shapes.

The shapes come from `cloudfront_shapes.json`, extracted from botocore's CloudFront model by
`scripts/extract_shapes.py` (botocore is not needed at run time). `ShapeModel` turns an
`XmlElement` tree into plain values and plain values back into XML:

    structure -> dict keyed by member name      list -> list
    string, enum, timestamp -> str              integer, long -> int
    boolean -> bool ("true" / "false" only)

Parsing accepts any child order, and raises the errors CloudFront
raises: `MalformedXML` for unknown elements, missing required members and unreadable numbers or
booleans; `InconsistentQuantities` when a `Quantity` disagrees with the size of its `Items`;
`InvalidArgument` for a value outside an enum. Serializing writes members in model order,
omits absent members, and omits an empty `Items` (CloudFront writes
`<Aliases><Quantity>0</Quantity></Aliases>`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from invalidator.api.wire.distribution_defaults import fill_distribution_config_defaults
from invalidator.api.wire.numbers import bounded_int
from invalidator.api.wire.xmltree import XmlElement, XmlWriter
from invalidator.domain.errors import InconsistentQuantities, InvalidArgument, MalformedXML

__all__ = [
    "Member",
    "Operation",
    "Shape",
    "ShapeModel",
    "fill_distribution_config_defaults",
]

SHAPES_RESOURCE = "cloudfront_shapes.json"
_INTEGER = re.compile(r"-?[0-9]+")
_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_NOT_VALID = MalformedXML.default_message.rstrip(".")
_SCALARS = frozenset({"string", "integer", "long", "boolean", "timestamp"})


@dataclass(frozen=True, slots=True)
class Member:
    """A structure member or a list's element: its shape and how it appears in XML."""

    name: str
    shape: str
    xml_name: str
    location: str | None = None  # "header", "uri", "querystring": outside the XML body
    flattened: bool = False
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Shape:
    """One shape of the model; only the fields its `type` uses are set."""

    name: str
    type: str
    members: tuple[Member, ...] = ()  # structure, in model order
    required: frozenset[str] = frozenset()
    member: Member | None = None  # list
    enum: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    by_xml_name: Mapping[str, Member] = field(default_factory=dict)  # body members only

    @property
    def counts_items(self) -> bool:
        """Whether this structure has both `Quantity` and `Items` (their sizes must agree)."""
        return "Quantity" in self.by_xml_name and "Items" in self.by_xml_name


@dataclass(frozen=True, slots=True)
class Operation:
    """An operation's HTTP binding and its input and output shapes."""

    name: str  # the model's key, e.g. "CreateDistribution"
    wire_name: str  # e.g. "CreateDistribution2020_05_31"
    method: str
    request_uri: str
    response_code: int
    input: str | None
    output: str | None
    input_payload: str | None
    output_payload: str | None


def _member(name: str, raw: Mapping[str, Any]) -> Member:
    namespace = raw.get("xmlNamespace")
    return Member(
        name=name,
        shape=raw["shape"],
        xml_name=raw.get("locationName", name),
        location=raw.get("location"),
        flattened=bool(raw.get("flattened", False)),
        namespace=namespace["uri"] if namespace else None,
    )


def _shape(name: str, raw: Mapping[str, Any]) -> Shape:
    raw_members = raw.get("members", {})
    members = tuple(_member(m, raw_members[m]) for m in raw.get("memberOrder", raw_members))
    element = _member("member", raw["member"]) if "member" in raw else None
    return Shape(
        name=name,
        type=raw["type"],
        members=members,
        required=frozenset(raw.get("required", ())),
        member=element,
        enum=tuple(raw.get("enum", ())),
        min=raw.get("min"),
        max=raw.get("max"),
        by_xml_name={m.xml_name: m for m in members if m.location is None},
    )


def _operation(name: str, raw: Mapping[str, Any]) -> Operation:
    http = raw["http"]
    return Operation(
        name=name,
        wire_name=raw["name"],
        method=http["method"],
        request_uri=http["requestUri"],
        response_code=int(http.get("responseCode", 200)),
        input=raw.get("input"),
        output=raw.get("output"),
        input_payload=raw.get("inputPayload"),
        output_payload=raw.get("outputPayload"),
    )


def _lower_first(name: str) -> str:
    """A member name as AWS validation messages spell it: `CallerReference` -> `callerReference`."""
    return name[:1].lower() + name[1:]


def _clip(text: str, limit: int = 64) -> str:
    """Client input quoted in an error message, cut short."""
    return text if len(text) <= limit else text[:limit] + "..."


def _null_error(path: str) -> MalformedXML:
    return MalformedXML(
        f"1 validation error detected: Value null at '{path}' failed to satisfy constraint: "
        "Member must not be null"
    )


class ShapeModel:
    """The CloudFront shapes and operations, and the codec that reads and writes them."""

    def __init__(self, shapes: Mapping[str, Shape], operations: Mapping[str, Operation]) -> None:
        self._shapes = dict(shapes)
        self._operations = dict(operations)

    @classmethod
    def load(cls) -> ShapeModel:
        """Read the packaged `cloudfront_shapes.json` (call once, keep the instance)."""
        text = resources.files(__package__).joinpath(SHAPES_RESOURCE).read_text("utf-8")
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShapeModel:
        """Build a model from the JSON document `scripts/extract_shapes.py` writes."""
        shapes = {name: _shape(name, raw) for name, raw in data["shapes"].items()}
        operations = {name: _operation(name, raw) for name, raw in data["operations"].items()}
        return cls(shapes, operations)

    def shape(self, name: str) -> Shape:
        """A shape by name (KeyError if the model lacks it)."""
        return self._shapes[name]

    def operation(self, name: str) -> Operation:
        """An operation by the model's name, e.g. `CreateDistribution` (KeyError if unknown)."""
        return self._operations[name]

    def payload(self, operation: str, direction: str) -> Member | None:
        """The body member of an operation's "input" or "output": its shape, root tag, namespace."""
        op = self._operations[operation]
        container, payload = (
            (op.input, op.input_payload) if direction == "input" else (op.output, op.output_payload)
        )
        if container is None or payload is None:
            return None
        return next(m for m in self._shapes[container].members if m.name == payload)

    # --- parsing -------------------------------------------------------------------------------

    def parse(self, element: XmlElement, shape: str, path: str) -> dict[str, object]:
        """Read a structure element; `path` names it in error messages (`distributionConfig`)."""
        spec = self._shapes[shape]
        if spec.type != "structure":
            raise TypeError(f"{shape} is a {spec.type}, not a structure")
        return self._parse_structure(element, spec, path)

    def _parse_value(self, element: XmlElement, shape: Shape, path: str) -> object:
        if shape.type == "structure":
            return self._parse_structure(element, shape, path)
        if shape.type == "list":
            return self._parse_list(element.children, shape, path)
        if element.children:
            raise MalformedXML(f"{_NOT_VALID}: '{path}' must not contain elements.")
        return self._parse_scalar(element.text, shape, path)

    def _parse_structure(self, element: XmlElement, shape: Shape, path: str) -> dict[str, object]:
        result: dict[str, object] = {}
        flattened: dict[Member, list[XmlElement]] = {}
        for child in element.children:
            member = shape.by_xml_name.get(child.tag)
            if member is None:
                raise MalformedXML(
                    f"{_NOT_VALID}: unexpected element <{_clip(child.tag)}> in '{path}'."
                )
            if member.flattened:
                flattened.setdefault(member, []).append(child)
                continue
            if member.name in result:
                raise MalformedXML(f"{_NOT_VALID}: <{child.tag}> appears twice in '{path}'.")
            child_path = f"{path}.{_lower_first(member.name)}"
            result[member.name] = self._parse_value(child, self._shapes[member.shape], child_path)
        for member, elements in flattened.items():
            member_path = f"{path}.{_lower_first(member.name)}"
            result[member.name] = self._parse_list(
                elements, self._shapes[member.shape], member_path
            )
        for member in shape.members:
            if (
                member.name in shape.required
                and member.location is None
                and member.name not in result
            ):
                raise _null_error(f"{path}.{_lower_first(member.name)}")
        if shape.counts_items:
            self._check_quantity(result)
        return result

    @staticmethod
    def _check_quantity(result: Mapping[str, object]) -> None:
        quantity = result.get("Quantity")
        items = result.get("Items")
        size = len(items) if isinstance(items, list) else 0
        if quantity is not None and quantity != size:
            raise InconsistentQuantities()

    def _parse_list(self, children: Sequence[XmlElement], shape: Shape, path: str) -> list[object]:
        element = shape.member
        if element is None:
            raise TypeError(f"list shape {shape.name} has no member")
        element_shape = self._shapes[element.shape]
        values: list[object] = []
        for index, child in enumerate(children, start=1):
            if child.tag != element.xml_name:
                raise MalformedXML(
                    f"{_NOT_VALID}: unexpected element <{_clip(child.tag)}> in '{path}', "
                    f"expected <{element.xml_name}>."
                )
            values.append(self._parse_value(child, element_shape, f"{path}.{index}.member"))
        return values

    @staticmethod
    def _parse_scalar(text: str, shape: Shape, path: str) -> object:
        if shape.type in _BOUNDS:
            value = text.strip()
            low, high = _BOUNDS[shape.type]
            number = bounded_int(value, low, high) if _INTEGER.fullmatch(value) else None
            if number is None:
                raise MalformedXML(f"{_NOT_VALID}: '{path}' must be an integer.")
            return number
        if shape.type == "boolean":
            value = text.strip()
            if value not in ("true", "false"):
                raise MalformedXML(f"{_NOT_VALID}: '{path}' must be true or false.")
            return value == "true"
        if shape.type not in _SCALARS:
            raise TypeError(f"shape {shape.name} has unsupported type {shape.type}")
        if shape.enum:
            value = text.strip()
            if value not in shape.enum:
                raise InvalidArgument(
                    f"1 validation error detected: Value '{_clip(value)}' at '{path}' failed to "
                    f"satisfy constraint: Member must satisfy enum value set: "
                    f"[{', '.join(shape.enum)}]"
                )
            return value
        return text

    # --- serializing ---------------------------------------------------------------------------

    def serialize(
        self,
        value: Mapping[str, object],
        shape: str,
        writer: XmlWriter,
        tag: str,
        namespace: str | None = None,
    ) -> None:
        """Write a structure as `<tag>`; the namespace, if any, goes on this (root) element."""
        spec = self._shapes[shape]
        if spec.type != "structure":
            raise TypeError(f"{shape} is a {spec.type}, not a structure")
        self._write_structure(value, spec, writer, tag, namespace)

    def _write_value(self, value: object, shape: Shape, writer: XmlWriter, tag: str) -> None:
        if shape.type == "structure":
            if not isinstance(value, Mapping):
                raise TypeError(f"{shape.name} needs a mapping, got {type(value).__name__}")
            self._write_structure(value, shape, writer, tag, None)
        elif shape.type == "list":
            writer.open(tag)
            self._write_items(value, shape, writer)
            writer.close(tag)
        else:
            writer.leaf(tag, _scalar_text(value, shape))

    def _write_structure(
        self,
        value: Mapping[str, object],
        shape: Shape,
        writer: XmlWriter,
        tag: str,
        namespace: str | None,
    ) -> None:
        unknown = set(value) - {m.name for m in shape.members}
        if unknown:
            raise ValueError(f"{shape.name} has no member(s) {sorted(unknown)}")
        writer.open(tag, namespace)
        for member in shape.members:
            item = value.get(member.name)
            if item is None or member.location is not None:
                continue
            if member.name == "Items" and shape.counts_items and item == []:
                continue  # CloudFront style: <Quantity>0</Quantity> and no <Items/>
            member_shape = self._shapes[member.shape]
            if member.flattened:
                self._write_items(item, member_shape, writer, member.xml_name)
            else:
                self._write_value(item, member_shape, writer, member.xml_name)
        writer.close(tag)

    def _write_items(
        self, value: object, shape: Shape, writer: XmlWriter, tag: str | None = None
    ) -> None:
        element = shape.member
        if element is None or isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise TypeError(f"{shape.name} needs a list, got {type(value).__name__}")
        element_shape = self._shapes[element.shape]
        for item in value:
            self._write_value(item, element_shape, writer, tag or element.xml_name)


def _scalar_text(value: object, shape: Shape) -> str:
    """The XML text of a scalar; a wrong Python type is a bug of ours, hence TypeError."""
    kind = shape.type
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if kind in _BOUNDS and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if kind == "timestamp" and isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if kind in ("string", "timestamp") and isinstance(value, str):
        return value
    raise TypeError(f"{shape.name} ({kind}) cannot hold {type(value).__name__} {value!r}")
