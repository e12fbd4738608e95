"""A minimal XML element tree: what the hardened parser produces and the serializers consume.

Namespaces are kept apart from local names because CloudFront clients send any CloudFront doc
namespace, or none, and the operation code only cares about local names.

`XmlWriter` is the one place text enters a document we emit, so it is where every document is
made well-formed: markup characters are escaped, a carriage return is written as `&#13;` (a
parser would otherwise read it as a newline), and a character XML 1.0 does not allow at all (C0
controls other than tab and newlines, lone surrogates, U+FFFE/U+FFFF), which can only come from
echoed client input such as a URL path, is written as the visible text `\\uXXXX`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

XML_DECLARATION = '<?xml version="1.0"?>\n'

# XML 1.0 `Char` is #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _visible_escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def unwritable_char(text: str) -> str | None:
    """The first character of `text` that XML 1.0 cannot carry at all (see the module
    docstring; `xml_text` would write it as visible `\\uXXXX`), or None."""
    found = _NOT_XML_CHAR.search(text)
    return None if found is None else found.group()


def xml_text(text: str) -> str:
    """`text` as well-formed XML character data (see the module docstring)."""
    # The common case, cheaply: every printable character is an XML Char (isprintable() is
    # False for controls, surrogates, noncharacters and U+2028-like separators).
    if text.isprintable() and "&" not in text and "<" not in text and ">" not in text:
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#13;")
    return _NOT_XML_CHAR.sub(_visible_escape, text)


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


_CLOUDFRONT_NAMESPACE = re.compile(r"http://cloudfront\.amazonaws\.com/doc/\d{4}-\d{2}-\d{2}/")


def check_request_namespace(root: XmlElement) -> str | None:
    """None when a request body's root is in no namespace or a CloudFront doc namespace (of
    any version: clients send their own) and every element below it in the root's; else the
    complaint for MalformedXML (an element of another namespace is not the member its local
    name says)."""
    if root.namespace and not _CLOUDFRONT_NAMESPACE.fullmatch(root.namespace):
        return (
            f"The namespace {root.namespace[:100]!r} of {root.tag[:64]!r} is not a CloudFront "
            "namespace (http://cloudfront.amazonaws.com/doc/VERSION/)."
        )
    pending = [root]
    while pending:
        for child in pending.pop().children:
            if child.namespace != root.namespace:
                return (
                    f"The element {child.tag[:64]!r} is in the namespace "
                    f"{child.namespace[:100]!r}, not in that of {root.tag[:64]!r}."
                )
            if child.children:
                pending.append(child)
    return None


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
        """An element holding only text (escaped, made well-formed: see `xml_text`)."""
        self._parts.append(f"<{tag}>{xml_text(text)}</{tag}>")

    def empty(self, tag: str) -> None:
        """An empty element."""
        self._parts.append(f"<{tag}/>")

    def to_bytes(self) -> bytes:
        """The document as UTF-8."""
        return "".join(self._parts).encode("utf-8")
