"""A minimal XML element tree: what the hardened parser produces and the serializers consume.

Namespaces are kept apart from local names because CloudFront clients send any CloudFront doc
namespace, or none, and the operation code only cares about local names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

XML_DECLARATION = '<?xml version="1.0"?>\n'


@dataclass
class XmlElement:
    """One element: local name, namespace URI (or ""), text content and children in order."""

    tag: str
    namespace: str = ""
    text: str = ""
    children: list[XmlElement] = field(default_factory=list)

    def find(self, tag: str) -> XmlElement | None:
        """The first child with this local name, or None."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def find_all(self, tag: str) -> Iterator[XmlElement]:
        """Every child with this local name, in document order."""
        return (child for child in self.children if child.tag == tag)


def cloudfront_namespace(version: str) -> str:
    """The XML namespace CloudFront uses for an API version."""
    return f"http://cloudfront.amazonaws.com/doc/{version}/"


class XmlWriter:
    """Builds an XML document by appending escaped pieces; cheap and allocation-light."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = [XML_DECLARATION]

    def open(self, tag: str, namespace: str | None = None) -> None:
        """Start an element; the root element carries the namespace."""
        if namespace:
            self._parts.append(f'<{tag} xmlns="{namespace}">')
        else:
            self._parts.append(f"<{tag}>")

    def close(self, tag: str) -> None:
        """End an element."""
        self._parts.append(f"</{tag}>")

    def leaf(self, tag: str, text: str) -> None:
        """An element holding only text (escaped)."""
        self._parts.append(f"<{tag}>{escape(text)}</{tag}>")

    def empty(self, tag: str) -> None:
        """An empty element."""
        self._parts.append(f"<{tag}/>")

    def to_bytes(self) -> bytes:
        """The document as UTF-8."""
        return "".join(self._parts).encode("utf-8")
