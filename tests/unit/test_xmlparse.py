"""The hardened request-body parser: bytes in, `XmlElement` or `MalformedXML` out."""

from __future__ import annotations

import contextlib
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invalidator.api.wire.invalidation_xml import (
    invalidation_batch_document,
    read_invalidation_batch,
)
from invalidator.api.wire.xmlparse import TooManyElements, parse_xml
from invalidator.api.wire.xmltree import XmlElement, XmlWriter, cloudfront_namespace, xml_text
from invalidator.domain.errors import BatchTooLarge, MalformedXML

NS = cloudfront_namespace("2020-05-31")
SEED_NS = cloudfront_namespace("2013-05-12")

BATCH = (
    f'<InvalidationBatch xmlns="{NS}">'
    "<Paths><Quantity>2</Quantity><Items><Path>/a b.jpg</Path><Path>/img/*</Path></Items></Paths>"
    "<CallerReference>ref-1</CallerReference>"
    "</InvalidationBatch>"
).encode()


def paths_of(root: XmlElement) -> list[str]:
    """The Path texts of an InvalidationBatch, in order."""
    paths = root.find("Paths")
    assert paths is not None
    items = paths.find("Items")
    return [] if items is None else [p.text for p in items.find_all("Path")]


def leaf(root: XmlElement, *tags: str) -> str:
    """The stripped text of the element at this path of local names."""
    node: XmlElement | None = root
    for tag in tags:
        assert node is not None
        node = node.find(tag)
    assert node is not None
    return node.text.strip()


def reject(body: bytes, **limits: int) -> MalformedXML:
    """Parse a body that must be rejected; return the error."""
    with pytest.raises(MalformedXML) as info:
        parse_xml(body, **limits)
    return info.value


def boto3_body(paths: list[str], caller_reference: str) -> bytes:
    """The body botocore's own rest-xml serializer produces for CreateInvalidation."""
    botocore_session = pytest.importorskip("botocore.session")
    serialize = pytest.importorskip("botocore.serialize")
    model = botocore_session.get_session().get_service_model("cloudfront")
    request = serialize.create_serializer("rest-xml").serialize_to_request(
        {
            "DistributionId": "EDFDVBD6EXAMPLE",
            "InvalidationBatch": {
                "Paths": {"Quantity": len(paths), "Items": paths},
                "CallerReference": caller_reference,
            },
        },
        model.operation_model("CreateInvalidation"),
    )
    body: bytes = request["body"]
    return body


# --- what real clients send ------------------------------------------------------------------


def test_boto3_body_round_trips() -> None:
    """A body serialized by botocore (no declaration) parses to its paths and reference."""
    paths = ["/a b.jpg", "/img/*", "/ünïcödé/€.png", "/q?x=1&y=<2>"]
    root = parse_xml(boto3_body(paths, "ref & co"))
    assert (root.tag, root.namespace) == ("InvalidationBatch", NS)
    assert paths_of(root) == paths
    assert leaf(root, "Paths", "Quantity") == "4"
    assert leaf(root, "CallerReference") == "ref & co"


def test_aws_cli_order_caller_reference_first() -> None:
    """The AWS CLI's order (CallerReference before Paths) parses with children in that order."""
    body = (
        f'<InvalidationBatch xmlns="{NS}"><CallerReference>cli-1700000000-1</CallerReference>'
        "<Paths><Quantity>1</Quantity><Items><Path>/index.html</Path></Items></Paths>"
        "</InvalidationBatch>"
    ).encode()
    root = parse_xml(body)
    assert [c.tag for c in root.children] == ["CallerReference", "Paths"]
    assert paths_of(root) == ["/index.html"]


def test_js_sdk_v3_body_with_declaration() -> None:
    """The JS SDK v3's XML declaration with encoding UTF-8 is accepted."""
    body = b'<?xml version="1.0" encoding="UTF-8"?>' + BATCH
    root = parse_xml(body)
    assert root.tag == "InvalidationBatch"
    assert paths_of(root) == ["/a b.jpg", "/img/*"]


def test_seed_client_indented_body() -> None:
    """A pretty-printed seed-era body keeps whitespace as text; stripped leaves are exact."""
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<InvalidationBatch xmlns="{SEED_NS}">
  <Paths>
    <Quantity>1</Quantity>
    <Items>
      <Path>/a.jpg</Path>
    </Items>
  </Paths>
  <CallerReference>20120301090001</CallerReference>
</InvalidationBatch>
""".encode()
    root = parse_xml(body)
    assert root.namespace == SEED_NS
    assert root.text.strip() == ""
    assert paths_of(root) == ["/a.jpg"]
    assert leaf(root, "CallerReference") == "20120301090001"


def test_empty_path_list() -> None:
    """`<Paths><Quantity>0</Quantity></Paths>` parses to a Paths element without Items."""
    root = parse_xml(
        b"<InvalidationBatch><Paths><Quantity>0</Quantity></Paths>"
        b"<CallerReference>r</CallerReference></InvalidationBatch>"
    )
    assert paths_of(root) == []


def test_large_batch_parses() -> None:
    """A 3,000-path batch (~170 KB) parses into all its paths (its speed is in bench/)."""
    items = "".join(
        f"<Path>/images/some/long/path/segment/file-{i:05d}.jpg</Path>" for i in range(3000)
    )
    body = (
        f'<InvalidationBatch xmlns="{NS}"><Paths><Quantity>3000</Quantity><Items>{items}</Items>'
        "</Paths><CallerReference>big</CallerReference></InvalidationBatch>"
    ).encode()
    root = parse_xml(body)
    assert len(paths_of(root)) == 3000


# --- namespaces ------------------------------------------------------------------------------


def test_missing_namespace_is_empty_string() -> None:
    """Without xmlns the tag is the plain name and the namespace is ""."""
    root = parse_xml(b"<InvalidationBatch><CallerReference>r</CallerReference></InvalidationBatch>")
    assert (root.tag, root.namespace) == ("InvalidationBatch", "")
    assert root.children[0].namespace == ""


@pytest.mark.parametrize("namespace", [SEED_NS, NS, "urn:anything"])
def test_any_default_namespace(namespace: str) -> None:
    """Any default namespace is reported as-is and inherited by children; tags stay local."""
    root = parse_xml(
        f'<InvalidationBatch xmlns="{namespace}"><Paths/></InvalidationBatch>'.encode()
    )
    assert (root.tag, root.namespace) == ("InvalidationBatch", namespace)
    assert (root.children[0].tag, root.children[0].namespace) == ("Paths", namespace)


def test_namespace_with_a_space_is_rejected_not_mis_split() -> None:
    """A namespace URI holding the internal separator (a space) is MalformedXML, never mis-split."""
    reject(b'<InvalidationBatch xmlns="http://example.com/x y"/>')


def test_prefixed_namespace_gives_local_names() -> None:
    """A prefixed element is reported by local name and URI, not by prefix."""
    root = parse_xml(
        f'<cf:InvalidationBatch xmlns:cf="{NS}"><cf:Paths/></cf:InvalidationBatch>'.encode()
    )
    assert (root.tag, root.namespace) == ("InvalidationBatch", NS)
    assert root.find("Paths") is not None


def test_namespace_undeclared_on_child() -> None:
    """`xmlns=""` on a child puts it back in no namespace."""
    root = parse_xml(f'<a xmlns="{NS}"><b xmlns=""/></a>'.encode())
    assert root.children[0].namespace == ""


def test_unbound_prefix_is_malformed() -> None:
    """An element with an undeclared prefix is MalformedXML."""
    reject(b"<cf:InvalidationBatch/>")


# --- text --------------------------------------------------------------------------------------


def test_predefined_entities_and_character_references() -> None:
    """The five predefined entities and decimal/hex character references are decoded."""
    root = parse_xml(b"<a>&lt;&gt;&amp;&apos;&quot;&#233;&#x1F600;</a>")
    assert root.text == "<>&'\"é\U0001f600"


def test_cdata_comments_and_processing_instructions() -> None:
    """CDATA counts as text; comments and processing instructions are dropped."""
    root = parse_xml(
        b"<?pi before?><!-- c --><a>x<!-- c -->y<![CDATA[<z>&]]><?pi in?>w</a><!-- c -->"
    )
    assert root.text == "xy<z>&w"


def test_mixed_content_text_is_concatenated_as_is() -> None:
    """An element's text is the concatenation of its direct text pieces, whitespace kept."""
    root = parse_xml(b"<a> one <b>inner</b> two\n<c/>three </a>")
    assert root.text == " one  two\nthree "
    assert root.children[0].text == "inner"


def test_attributes_are_ignored() -> None:
    """Attributes neither fail nor leak into the tree."""
    root = parse_xml(b'<a x="1" y="&lt;"><b z="2">t</b></a>')
    assert root == XmlElement("a", "", "", [XmlElement("b", "", "t", [])])


def test_xinclude_is_not_processed() -> None:
    """An XInclude element is just an element: nothing is fetched or inlined."""
    root = parse_xml(
        b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd"/></a>'
    )
    assert root.text == ""
    assert root.children == [XmlElement("include", "http://www.w3.org/2001/XInclude")]


# --- entities, DTDs, XXE -------------------------------------------------------------------------


def test_xxe_file_entity_rejected_and_not_read(tmp_path: Path) -> None:
    """An external file entity is MalformedXML and its contents never reach the result."""
    secret = tmp_path / "secret-6f1c2e.txt"
    secret.write_text("TOP-SECRET-6f1c2e")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<InvalidationBatch><CallerReference>&xxe;</CallerReference></InvalidationBatch>"
    ).encode()
    error = reject(body)
    assert "TOP-SECRET" not in error.message


def test_xxe_etc_passwd_system_doctype_rejected() -> None:
    """A DOCTYPE with a SYSTEM identifier is MalformedXML."""
    reject(b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>')


def test_xxe_http_entity_rejected_without_connecting() -> None:
    """External http entities (general and parameter) are rejected; no connection is attempted."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.dtd"
        bodies = [
            f'<!DOCTYPE r [<!ENTITY x SYSTEM "{url}">]><r>&x;</r>',
            f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}"> %p;]><r/>',
            f'<!DOCTYPE r PUBLIC "-//X//Y" "{url}"><r/>',
        ]
        for body in bodies:
            assert "document type declarations are not allowed" in reject(body.encode()).message
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_billion_laughs_rejected_before_expansion() -> None:
    """The billion-laughs entity bomb is refused at its DTD, before any entity expands."""
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]><lolz>&lol9;</lolz>'
    )
    assert "document type declarations are not allowed" in reject(body.encode()).message


def test_quadratic_blowup_rejected_before_expansion() -> None:
    """One large entity referenced many times (quadratic blowup) is refused at its DTD."""
    body = (
        '<!DOCTYPE r [<!ENTITY a "' + "x" * 50_000 + '">]><r>' + "&a;" * 50_000 + "</r>"
    ).encode()
    assert "document type declarations are not allowed" in reject(body).message


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE r><r/>",
        b'<!DOCTYPE r [<!ENTITY e "v">]><r/>',
        b'<!DOCTYPE r [<!NOTATION n SYSTEM "x"><!ENTITY u SYSTEM "x" NDATA n>]><r/>',
        b"<r/><!DOCTYPE r>",
    ],
)
def test_any_doctype_rejected(body: bytes) -> None:
    """Any DOCTYPE, even an empty or unused one, is MalformedXML."""
    reject(body)


def test_undefined_entity_rejected() -> None:
    """A reference to an undeclared entity is MalformedXML."""
    reject(b"<r>&nbsp;</r>")


# --- not well-formed ---------------------------------------------------------------------------


def test_every_truncation_is_malformed() -> None:
    """Every strict prefix of a document (even mid-character) is MalformedXML; the whole parses."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<InvalidationBatch xmlns="{NS}"><Paths><Quantity>1</Quantity><Items>'
        "<Path>/café/&amp;€.jpg</Path></Items></Paths><CallerReference>r</CallerReference>"
        "<!-- done --><![CDATA[x]]></InvalidationBatch>"
    ).encode()
    for end in range(len(body)):
        with pytest.raises(MalformedXML):
            parse_xml(body[:end])
    assert paths_of(parse_xml(body)) == ["/café/&€.jpg"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b'<?xml version="1.0"?>',
        b"<!-- only a comment -->",
        b"just text",
        b"<a>",
        b"<a></b>",
        b"<a><b></a></b>",
        b"<a/><b/>",
        b"<a/>junk",
        b"junk<a/>",
        b"<a/>&amp;",
        b"<a>x</a>\x00",
        b"<a>\x01</a>",
        b'<a x="1" x="2"/>',
        b"<1a/>",
        b"<a>&#0;</a>",
        b"<a>&#xD800;</a>",
        b'<?xml version="1.0"?><?xml version="1.0"?><a/>',
        b' <?xml version="1.0"?><a/>',
    ],
)
def test_not_well_formed(body: bytes) -> None:
    """Not-well-formed documents (empty, unclosed, junk, text outside the root, ...) fail."""
    reject(body)


def test_whitespace_around_root_is_fine() -> None:
    """Whitespace before and after the root element is allowed."""
    assert parse_xml(b"\n  <a>t</a>\n\n").text == "t"


def test_error_message_is_short_and_does_not_echo_input() -> None:
    """An error message is short and never repeats the input."""
    junk = "<a>" + "QQQQ" * 10_000 + "</b>"
    error = reject(junk.encode())
    assert error.code == "MalformedXML"
    assert "QQQQ" not in error.message
    assert len(error.message) < 200
    assert "line 1" in error.message


# --- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<a>caf\xe9</a>",  # Latin-1
        b"<a>\xc0\xaf</a>",  # overlong encoding of "/"
        b"<a>\xed\xa0\x80</a>",  # UTF-16 surrogate encoded as UTF-8
        b"<a>\xf4\x90\x80\x80</a>",  # beyond U+10FFFF
        b"<a>\xe2\x82</a>",  # truncated sequence
        b"<a>\xff\xfe</a>",
    ],
)
def test_invalid_utf8_rejected(body: bytes) -> None:
    """Bytes that are not valid UTF-8 are MalformedXML."""
    reject(body)


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16", "windows-1252", "latin1", "UTF-32"])
def test_other_declared_encodings_rejected(encoding: str) -> None:
    """An encoding declaration other than UTF-8 or US-ASCII is MalformedXML, naming it."""
    error = reject(f'<?xml version="1.0" encoding="{encoding}"?><a>x</a>'.encode())
    assert encoding in error.message


@pytest.mark.parametrize("encoding", ["UTF-8", "utf-8", "US-ASCII", "us-ascii", "ASCII"])
def test_utf8_and_ascii_declarations_accepted(encoding: str) -> None:
    """UTF-8 and US-ASCII declarations (any case) are accepted."""
    body = f'<?xml version="1.0" encoding="{encoding}"?><a>x&#233;</a>'.encode()
    assert parse_xml(body).text == "xé"


def test_ascii_declaration_with_non_ascii_bytes_rejected() -> None:
    """A document declaring US-ASCII must not contain non-ASCII bytes."""
    reject('<?xml version="1.0" encoding="US-ASCII"?><a>é</a>'.encode())


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_documents_rejected(codec: str) -> None:
    """UTF-16/UTF-32 documents, with or without byte order mark or declaration, are rejected."""
    reject("<a>x</a>".encode(codec))
    reject(f'<?xml version="1.0" encoding="{codec}"?><a>x</a>'.encode(codec))


def test_utf8_byte_order_mark_accepted() -> None:
    """A UTF-8 byte order mark before the document is accepted."""
    assert parse_xml(b"\xef\xbb\xbf<a>\xc3\xa9</a>").text == "é"


# --- limits --------------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """A document of `depth` nested elements."""
    return b"<a>" * depth + b"</a>" * depth


def test_depth_at_limit_parses() -> None:
    """Exactly max_depth levels (root is level 1) parse."""
    root = parse_xml(nested(32))
    levels = 1
    while root.children:
        root = root.children[0]
        levels += 1
    assert levels == 32
    assert parse_xml(nested(3), max_depth=3).tag == "a"


def test_depth_over_limit_rejected() -> None:
    """One level more than max_depth is MalformedXML."""
    reject(nested(33))
    reject(nested(4), max_depth=3)


def test_very_deep_nesting_rejected_at_the_depth_limit() -> None:
    """A million nested open tags are refused at the depth limit, without recursion."""
    assert "nested deeper than 32 levels" in reject(b"<a>" * 1_000_000).message


def test_element_count_limit() -> None:
    """max_elements elements parse; one more is MalformedXML."""
    body = b"<r>" + b"<p/>" * 9 + b"</r>"
    assert len(parse_xml(body, max_elements=10).children) == 9
    reject(b"<r>" + b"<p/>" * 10 + b"</r>", max_elements=10)


def test_huge_number_of_elements_rejected() -> None:
    """A flood of elements beyond the default limit is refused at the element limit."""
    body = b"<r>" + b"<p/>" * 1_000_000 + b"</r>"
    assert "100000" in reject(body).message


def test_text_limit_counts_the_whole_document() -> None:
    """Text content up to max_text characters parses; beyond it, over all elements, fails."""
    assert parse_xml(b"<r><a>12345</a><b>67890</b></r>", max_text=10).children[1].text == "67890"
    reject(b"<r><a>12345</a><b>678901</b></r>", max_text=10)


def test_text_is_bounded_only_by_the_body_by_default() -> None:
    """Without max_text, a document with millions of characters of text parses whole."""
    assert len(parse_xml(b"<r>" + b"x" * 5_000_000 + b"</r>").text) == 5_000_000


def test_too_many_elements_names_the_element_and_stays_malformed_xml() -> None:
    """The element that oversteps max_elements is named; the AWS code is still MalformedXML."""
    with pytest.raises(TooManyElements) as info:
        parse_xml(b"<r>" + b"<p/>" * 5 + b"<q/></r>", max_elements=6)
    assert info.value.tag == "q"
    assert info.value.code == "MalformedXML"
    assert info.value.status == 400


def batch_body(paths: list[str]) -> bytes:
    """An InvalidationBatch with these paths, written by our own writer."""
    return invalidation_batch_document(tuple(paths), "ref", "2020-05-31")


def test_batch_with_long_paths_is_read_whole() -> None:
    """3,000 paths of 400 characters (1.2 M characters of text) are one batch, not MalformedXML."""
    paths = [f"/{i:04d}/" + "p" * 394 for i in range(3000)]
    batch = read_invalidation_batch(batch_body(paths), 3000)
    assert batch.paths == tuple(paths) and batch.quantity == 3000


def test_path_flood_beyond_the_element_limit_is_batch_too_large() -> None:
    """100,001 short paths overstep the parser's element limit with a Path: BatchTooLarge."""
    with pytest.raises(BatchTooLarge):
        read_invalidation_batch(batch_body(["/a"] * 100_001), 3000)


def test_element_limit_of_a_batch_grows_with_max_paths() -> None:
    """With batches of up to 200,000 paths allowed, 150,000 paths parse (the domain counts)."""
    assert len(read_invalidation_batch(batch_body(["/a"] * 150_000), 200_000).paths) == 150_000


def test_non_path_flood_in_a_batch_stays_malformed_xml() -> None:
    """A flood of elements that are not Paths is MalformedXML, not BatchTooLarge."""
    body = b"<InvalidationBatch><Paths>" + b"<Q/>" * 100_001 + b"</Paths></InvalidationBatch>"
    with pytest.raises(MalformedXML) as info:
        read_invalidation_batch(body, 3000)
    assert info.value.code == "MalformedXML"


# --- what we write --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("/plain/path.jpg", "/plain/path.jpg"),
        ("a&b<c>d", "a&amp;b&lt;c&gt;d"),
        ("no\x01ctl\x1f", "no\\u0001ctl\\u001f"),
        ("cr\r\nlf\ttab", "cr&#13;\nlf\ttab"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("\ufffe\uffff", "\\ufffe\\uffff"),
        ("c1 \x85 nbsp \xa0 emoji \U0001f600", "c1 \x85 nbsp \xa0 emoji \U0001f600"),
    ],
)
def test_written_text_is_always_well_formed(text: str, written: str) -> None:
    """Markup is escaped, CR kept as &#13;, characters XML 1.0 forbids become visible \\uXXXX."""
    assert xml_text(text) == written
    w = XmlWriter()
    w.leaf("Message", text)
    parsed = parse_xml(w.to_bytes())
    assert parsed.text == written.replace("&amp;", "&").replace("&lt;", "<").replace(
        "&gt;", ">"
    ).replace("&#13;", "\r")


@given(st.text(st.characters(exclude_categories=())))
def test_any_text_written_parses_back(text: str) -> None:
    """Whatever text a document holds, what we write is well-formed XML."""
    w = XmlWriter()
    w.leaf("t", text)
    parse_xml(w.to_bytes())


# --- robustness ----------------------------------------------------------------------------------


def test_parser_is_reentrant_across_threads() -> None:
    """Concurrent calls from many threads each get their own, correct tree."""
    bodies = [boto3_body([f"/t{i}/{j}" for j in range(50)], f"ref-{i}") for i in range(32)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        roots = list(pool.map(parse_xml, bodies))
    for i, root in enumerate(roots):
        assert leaf(root, "CallerReference") == f"ref-{i}"
        assert paths_of(root) == [f"/t{i}/{j}" for j in range(50)]


@settings(max_examples=300)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_malformed_xml(body: bytes) -> None:
    """Arbitrary bytes either parse or raise MalformedXML with a short message, nothing else."""
    try:
        parse_xml(body)
    except MalformedXML as exc:
        assert len(exc.message) < 200


XMLISH = st.text(alphabet="<>/!?&#;[]-=\"' axyzI:\n\xe9\U0001f600", max_size=200)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([BATCH.decode(), "<!DOCTYPE a>", "&a;", "]]>"]) | XMLISH))
def test_xml_like_text_only_raises_malformed_xml(parts: list[str]) -> None:
    """XML-looking fragments either parse or raise MalformedXML, nothing else."""
    try:
        parse_xml("".join(parts).encode())
    except MalformedXML as exc:
        assert len(exc.message) < 200


@given(st.data())
def test_mutated_batches_only_raise_malformed_xml(data: st.DataObject) -> None:
    """A real batch with bytes deleted, replaced or inserted parses or raises MalformedXML."""
    body = bytearray(BATCH)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        if action == "delete":
            del body[at]
        else:
            byte = data.draw(st.integers(0, 255))
            if action == "replace":
                body[at] = byte
            else:
                body.insert(at, byte)
    with contextlib.suppress(MalformedXML):
        parse_xml(bytes(body))


# --- a batch's members: leaves hold text only, every element in the root's namespace -------

_PATHS = "<Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths>"


@pytest.mark.parametrize(
    "body",
    [
        f"<InvalidationBatch>{_PATHS.replace('/a', '/c<x/>d')}"
        "<CallerReference>r</CallerReference></InvalidationBatch>",
        f"<InvalidationBatch>{_PATHS}"
        "<CallerReference>R-a<b>HIDDEN</b>-z</CallerReference></InvalidationBatch>",
        f"<InvalidationBatch>{_PATHS.replace('1<', '1<Extra>5</Extra><')}"
        "<CallerReference>r</CallerReference></InvalidationBatch>",
    ],
    ids=["path", "caller-reference", "quantity"],
)
def test_a_leaf_holding_elements_is_malformed(body: str) -> None:
    """`<Path>/c<x/>d</Path>` would be read as `/cd`, two CallerReferences could read alike:
    a member that must be text but holds elements is MalformedXML, never half-read."""
    with pytest.raises(MalformedXML, match="must not contain elements"):
        read_invalidation_batch(body.encode(), 3000)


@pytest.mark.parametrize(
    "body",
    [
        f'<InvalidationBatch xmlns="{NS}"><Paths><Quantity>1</Quantity><Items>'
        '<x:Path xmlns:x="urn:other">/a</x:Path></Items></Paths>'
        "<CallerReference>r</CallerReference></InvalidationBatch>",
        f'<InvalidationBatch xmlns="{NS}">{_PATHS}'
        '<CallerReference xmlns="">r</CallerReference></InvalidationBatch>',
        f"<InvalidationBatch>{_PATHS}"
        f'<CallerReference xmlns="{NS}">r</CallerReference></InvalidationBatch>',
    ],
    ids=["foreign-path", "no-namespace-under-cloudfront", "cloudfront-under-none"],
)
def test_an_element_outside_the_roots_namespace_is_malformed(body: str) -> None:
    """An element of another namespace is not the member its local name says."""
    with pytest.raises(MalformedXML, match="is in the namespace"):
        read_invalidation_batch(body.encode(), 3000)


def test_quantity_with_leading_zeros_is_its_value() -> None:
    """`00000000001` is 1 (the length guard counts significant digits)."""
    body = f"<InvalidationBatch>{_PATHS.replace('>1<', '>00000000001<')}"
    body += "<CallerReference>r</CallerReference></InvalidationBatch>"
    assert read_invalidation_batch(body.encode(), 3000).quantity == 1


def test_a_prefixed_batch_in_the_cloudfront_namespace_is_read() -> None:
    """The same namespace by prefix on every element is the same document."""
    body = (
        f'<cf:InvalidationBatch xmlns:cf="{NS}"><cf:Paths><cf:Quantity>1</cf:Quantity>'
        "<cf:Items><cf:Path>/a</cf:Path></cf:Items></cf:Paths>"
        "<cf:CallerReference>r</cf:CallerReference></cf:InvalidationBatch>"
    )
    assert read_invalidation_batch(body.encode(), 3000).paths == ("/a",)
