"""InvalidationBatch in, Invalidation and InvalidationList out (every API version)."""

from __future__ import annotations

from dataclasses import dataclass

from invalidator.api.wire.numbers import bounded_int
from invalidator.api.wire.timestamps import format_timestamp
from invalidator.api.wire.xmlparse import DEFAULT_MAX_ELEMENTS, TooManyElements, parse_xml
from invalidator.api.wire.xmltree import (
    XmlElement,
    XmlWriter,
    check_request_namespace,
    cloudfront_namespace,
)
from invalidator.domain.errors import BatchTooLarge, MalformedXML
from invalidator.domain.models import Invalidation, InvalidationPage

_INT32_MAX = 2**31 - 1
_BATCH_STRUCTURE = 64  # elements of a batch besides its paths (InvalidationBatch, Paths, ...)


@dataclass(frozen=True)
class BatchInput:
    """The request body of CreateInvalidation, as sent."""

    caller_reference: str
    quantity: int
    paths: tuple[str, ...]


def _null(member: str) -> MalformedXML:
    return MalformedXML(
        f"1 validation error detected: Value null at '{member}' failed to satisfy "
        "constraint: Member must not be null"
    )


def _only(parent: XmlElement, members: tuple[str, ...]) -> None:
    """MalformedXML for a child that is not one of `members`, or one of them twice (the
    second `Paths` would otherwise be dropped without a word)."""
    seen: set[str] = set()
    for child in parent.children:
        if child.tag not in members:
            raise MalformedXML(f"Unexpected element {child.tag[:64]!r} in {parent.tag}.")
        if child.tag in seen:
            raise MalformedXML(f"Element {child.tag!r} appears more than once in {parent.tag}.")
        seen.add(child.tag)


def _text(element: XmlElement, member: str) -> str:
    """A leaf member's text; MalformedXML when it holds elements (whose text would
    otherwise be dropped, or run together with the member's own)."""
    if element.children:
        raise MalformedXML(
            f"1 validation error detected: '{member}' must not contain elements "
            f"(found <{element.children[0].tag[:64]}>)."
        )
    return element.text


def parse_invalidation_batch(root: XmlElement) -> BatchInput:
    """Read an InvalidationBatch element (children in any order)."""
    if root.tag != "InvalidationBatch":
        raise MalformedXML(
            f"Unexpected root element {root.tag[:64]!r}; expected InvalidationBatch."
        )
    complaint = check_request_namespace(root)
    if complaint is not None:
        raise MalformedXML(complaint)
    _only(root, ("Paths", "CallerReference"))
    caller = root.find("CallerReference")
    if caller is None:
        raise _null("invalidationBatch.callerReference")
    paths_el = root.find("Paths")
    if paths_el is None:
        raise _null("invalidationBatch.paths")
    quantity_el = paths_el.find("Quantity")
    if quantity_el is None:
        raise _null("invalidationBatch.paths.quantity")
    text = _text(quantity_el, "invalidationBatch.paths.quantity").strip()
    quantity = bounded_int(text, -_INT32_MAX - 1, _INT32_MAX)  # the model's Quantity: int32
    if quantity is None:
        raise MalformedXML(
            f"1 validation error detected: Value '{text[:32]}' at "
            "'invalidationBatch.paths.quantity' failed to satisfy constraint: "
            "Member must be a valid integer"
        )
    _only(paths_el, ("Quantity", "Items"))
    paths: list[str] = []
    items_el = paths_el.find("Items")
    if items_el is not None:
        for item in items_el.children:
            if item.tag != "Path":
                raise MalformedXML(f"Unexpected element {item.tag[:64]!r} in Paths/Items.")
            paths.append(_text(item, "invalidationBatch.paths.items.path"))
    caller_reference = _text(caller, "invalidationBatch.callerReference")
    return BatchInput(caller_reference=caller_reference, quantity=quantity, paths=tuple(paths))


def read_invalidation_batch(body: bytes, max_paths: int) -> BatchInput:
    """Parse a CreateInvalidation body; a flood of `Path` elements is `BatchTooLarge`.

    The element limit (memory) is the parser's default or, when batches may hold more paths,
    room for `max_paths` of them. A batch that still oversteps it with a `Path` has more paths
    than any batch may: BatchTooLarge (413) as for any batch over `max_paths`, whatever its
    size, rather than MalformedXML. Batches of up to the limit are counted by the domain.
    """
    max_elements = max(DEFAULT_MAX_ELEMENTS, max_paths + _BATCH_STRUCTURE)
    try:
        root = parse_xml(body, max_elements=max_elements)
    except TooManyElements as exc:
        if exc.tag == "Path":
            raise BatchTooLarge() from exc
        raise
    return parse_invalidation_batch(root)


def _write_batch(w: XmlWriter, paths: tuple[str, ...], caller_reference: str) -> None:
    w.open("Paths")
    w.leaf("Quantity", str(len(paths)))
    if paths:
        w.open("Items")
        for path in paths:
            w.leaf("Path", path)
        w.close("Items")
    w.close("Paths")
    w.leaf("CallerReference", caller_reference)


def _write_invalidation_body(w: XmlWriter, inv: Invalidation) -> None:
    w.leaf("Id", inv.id)
    w.leaf("Status", inv.status.value)
    w.leaf("CreateTime", format_timestamp(inv.create_time))
    w.open("InvalidationBatch")
    _write_batch(w, inv.paths, inv.caller_reference)
    w.close("InvalidationBatch")


def invalidation_batch_document(
    paths: tuple[str, ...], caller_reference: str, version: str
) -> bytes:
    """The `<InvalidationBatch>` request document (what our own clients send)."""
    w = XmlWriter()
    w.open("InvalidationBatch", cloudfront_namespace(version))
    _write_batch(w, paths, caller_reference)
    w.close("InvalidationBatch")
    return w.to_bytes()


def invalidation_document(inv: Invalidation, version: str) -> bytes:
    """The `<Invalidation>` document."""
    w = XmlWriter()
    w.open("Invalidation", cloudfront_namespace(version))
    _write_invalidation_body(w, inv)
    w.close("Invalidation")
    return w.to_bytes()


def invalidation_list_document(page: InvalidationPage, version: str) -> bytes:
    """The `<InvalidationList>` document."""
    w = XmlWriter()
    w.open("InvalidationList", cloudfront_namespace(version))
    if page.marker:
        w.leaf("Marker", page.marker)
    else:
        w.empty("Marker")
    if page.next_marker is not None:
        w.leaf("NextMarker", page.next_marker)
    w.leaf("MaxItems", str(page.max_items))
    w.leaf("IsTruncated", "true" if page.is_truncated else "false")
    w.leaf("Quantity", str(len(page.items)))
    if page.items:
        w.open("Items")
        for inv in page.items:
            w.open("InvalidationSummary")
            w.leaf("Id", inv.id)
            w.leaf("CreateTime", format_timestamp(inv.create_time))
            w.leaf("Status", inv.status.value)
            w.close("InvalidationSummary")
        w.close("Items")
    w.close("InvalidationList")
    return w.to_bytes()
