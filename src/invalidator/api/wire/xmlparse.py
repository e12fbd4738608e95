"""A hardened, namespace-aware XML parser for request bodies: bytes in, `XmlElement` out.

Built on the standard library's expat binding (C speed, no new dependency), with everything a
request body never needs turned off or turned into `MalformedXML`:

- **No DTDs at all.** Any `<!DOCTYPE` is rejected the moment expat reports it, before an internal
  subset is read, so entity declarations (billion laughs, quadratic blowup), external entities
  (XXE: `file://`, `http://`) and notations never get a chance to be declared, expanded or
  fetched. Entity, notation, external-entity and skipped-entity handlers raise as well, as a
  second line of defence. The five predefined entities and numeric character references work.
- **Encoding: UTF-8 only.** The parser is told the document is UTF-8 whatever it claims. An XML
  declaration may name `UTF-8`, `US-ASCII` (or `ASCII`) or nothing; any other name (UTF-16,
  ISO-8859-1, ...) is rejected rather than silently re-read, and so is a UTF-16/UTF-32 byte order
  mark or a zero byte (expat would otherwise detect UTF-16 by itself). A UTF-8 byte order mark is
  accepted. A document declaring US-ASCII must be pure ASCII (character references may still
  produce any character). Bytes that are not valid UTF-8 are rejected.
- **Limits**: element nesting (`max_depth`) and number of elements (`max_elements`, which bounds
  memory: each element costs ~170 bytes, far more than the 4 bytes `<a/>` takes on the wire).
  Text needs no limit of its own: it is never longer than the body, and the body size is bounded
  before parsing (`max_body_bytes`); `max_text` can still bound it further. Overstepping
  `max_elements` raises `TooManyElements`, a `MalformedXML` that names the element that did it,
  so a caller can tell a flood of list items (a batch too large) from garbage.
- Comments and processing instructions are ignored; attributes are ignored (`xmlns`
  declarations are applied); CDATA sections count as text.

Each element keeps its text content as-is: the concatenation of every text piece directly inside
it, including whitespace between children (callers strip leaves when they read them).

Every failure is a `MalformedXML` whose message names the problem and, for syntax errors, the
line and column; it never echoes the input. A new expat parser is created per call: no global
state, safe to call from any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn
from xml.parsers import expat

from invalidator.api.wire.xmltree import XmlElement
from invalidator.domain.errors import MalformedXML

__all__ = ["TooManyElements", "parse_xml"]

DEFAULT_MAX_ELEMENTS = 100_000

# Names and namespace URIs arrive as "uri<sep>local"; a space cannot occur in an XML name, and
# expat itself rejects a namespace URI that contains the separator.
_NS_SEP = " "
_ALLOWED_ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_ASCII_ENCODINGS = frozenset({"us-ascii", "ascii"})
_FOREIGN_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-16 LE/BE (and UTF-32 LE starts like UTF-16 LE)
_PREFIX = "The XML document you provided was not well-formed"


def _reject(reason: str) -> NoReturn:
    raise MalformedXML(f"{_PREFIX}: {reason}.")


class TooManyElements(MalformedXML):
    """More elements than `max_elements`; `tag` is the local name of the first one too many.

    Its AWS code stays `MalformedXML`; callers that know better translate it.
    """

    def __init__(self, message: str, tag: str) -> None:
        super().__init__(message)
        self.tag = tag

    @property
    def code(self) -> str:
        """The AWS error code."""
        return "MalformedXML"


def _forbidden(what: str) -> Callable[..., NoReturn]:
    """A handler for a construct request bodies must not contain: it rejects the document."""

    def handler(*_args: object) -> NoReturn:
        _reject(f"{what} are not allowed")

    return handler


def _new_parser() -> expat.XMLParserType:
    """A fresh namespace-aware UTF-8 expat parser that rejects every DTD construct."""
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=_NS_SEP)
    parser.buffer_text = True
    parser.buffer_size = 65_536
    parser.ordered_attributes = True  # attributes are ignored; a list is cheaper than a dict
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbidden("document type declarations")
    parser.EntityDeclHandler = _forbidden("entity declarations")
    parser.UnparsedEntityDeclHandler = _forbidden("entity declarations")
    parser.NotationDeclHandler = _forbidden("notation declarations")
    parser.ExternalEntityRefHandler = _forbidden("external entities")
    parser.SkippedEntityHandler = _forbidden("entity references")
    return parser


def _feed(parser: expat.XMLParserType, body: bytes) -> None:
    """Parse the whole body in one call, translating expat's errors into `MalformedXML`."""
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) or "syntax error"
        if reason.startswith("not well-formed ("):  # "not well-formed (invalid token)"
            reason = reason[len("not well-formed (") : -1]
        raise MalformedXML(
            f"{_PREFIX}: {reason} at line {exc.lineno}, column {exc.offset + 1}."
        ) from exc


def parse_xml(
    body: bytes,
    *,
    max_depth: int = 32,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    max_text: int | None = None,
) -> XmlElement:
    """Parse a request body into its root `XmlElement`, or raise `MalformedXML`.

    `max_depth` bounds element nesting (the root is depth 1), `max_elements` the number of
    elements (`TooManyElements` beyond), `max_text` (default: none but the body's own length)
    the total characters of text content in the document.
    """
    # Expat recognises UTF-16 by its byte order mark or its zero bytes even when told UTF-8;
    # NUL is never allowed in XML, so a zero byte means a foreign encoding or garbage.
    if body.startswith(_FOREIGN_BOMS) or b"\x00" in body:
        _reject("only UTF-8 is supported")
    # The handlers are closures over local state (faster than bound methods, and per call).
    stack: list[XmlElement] = []  # open elements, innermost last
    pieces: list[list[str]] = []  # text pieces of each open element, parallel to `stack`
    roots: list[XmlElement] = []
    elements = 0
    text_len = 0

    def xml_decl(_version: str | None, encoding: str | None, _standalone: int) -> None:
        if encoding is None:
            return
        name = encoding.lower()
        if name not in _ALLOWED_ENCODINGS:
            _reject(f'encoding "{encoding[:40]}" is not supported, send UTF-8')
        if name in _ASCII_ENCODINGS and not body.isascii():
            _reject("the document declares US-ASCII but contains non-ASCII bytes")

    def start(name: str, _attributes: object) -> None:
        nonlocal elements
        elements += 1
        namespace, _, local = name.rpartition(_NS_SEP)
        if elements > max_elements:
            raise TooManyElements(f"{_PREFIX}: more than {max_elements} elements.", local)
        if len(stack) >= max_depth:
            _reject(f"elements nested deeper than {max_depth} levels")
        element = XmlElement(local, namespace)
        if stack:
            stack[-1].children.append(element)
        else:
            roots.append(element)
        stack.append(element)
        pieces.append([])

    def end(_name: str) -> None:
        element = stack.pop()
        text = pieces.pop()
        if text:
            element.text = text[0] if len(text) == 1 else "".join(text)

    def character_data(data: str) -> None:
        nonlocal text_len
        text_len += len(data)
        if max_text is not None and text_len > max_text:  # else: never longer than the body
            _reject(f"more than {max_text} characters of text")
        if pieces:  # expat reports no text outside the root; be safe anyway
            pieces[-1].append(data)

    parser = _new_parser()
    parser.XmlDeclHandler = xml_decl
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = character_data
    _feed(parser, body)
    if not roots:  # expat reports "no element found" first; kept for safety
        _reject("no root element")
    return roots[0]
