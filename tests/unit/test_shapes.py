"""The model-driven distribution codec, checked against botocore's own serializer and parser.

Requests are serialized by a real botocore client (captured at `before-send`, nothing goes on
the network) and parsed by our codec; responses are serialized by our codec and parsed by
botocore's RestXMLParser, which must read back exactly what the client sent, with CloudFront's
defaults filled in.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from awscli.customizations.cloudfront import CreateDefaultRootObject, OriginDomainName

from invalidator.api.wire.shapes import ShapeModel, fill_distribution_config_defaults
from invalidator.api.wire.xmlparse import parse_xml
from invalidator.api.wire.xmltree import XmlElement, XmlWriter, cloudfront_namespace
from invalidator.domain.errors import InconsistentQuantities, InvalidArgument, MalformedXML
from tests.support.botocore_capture import (
    botocore_parse,
    missing_required,
    offline_client,
    sent_body,
    without_empty_items,
)
from tests.support.distribution_configs import (
    ACM_ARN,
    CONFIGS,
    CUSTOM_ORIGIN,
    FILLED,
    MINIMAL,
    S3_SITE,
    with_filled,
)

NAMESPACE = cloudfront_namespace("2020-05-31")
EXTRACT_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "extract_shapes.py"
REGENERATE = "regenerate it: .venv/bin/python scripts/extract_shapes.py (then commit the JSON)"


# --- botocore plumbing ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> ShapeModel:
    return ShapeModel.load()


@pytest.fixture(scope="module")
def client() -> Any:
    return offline_client()


def _distribution(config: dict[str, object]) -> dict[str, object]:
    return {
        "Id": "E1EXAMPLE12345",
        "ARN": "arn:aws:cloudfront::123456789012:distribution/E1EXAMPLE12345",
        "Status": "InProgress",
        "LastModifiedTime": "2024-06-01T12:00:00.123Z",
        "InProgressInvalidationBatches": 0,
        "DomainName": "d111111abcdef8.cloudfront.net",
        "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
        "ActiveTrustedKeyGroups": {"Enabled": False, "Quantity": 0},
        "DistributionConfig": config,
    }


def _respond(model: ShapeModel, config: dict[str, object]) -> bytes:
    writer = XmlWriter()
    model.serialize(_distribution(config), "Distribution", writer, "Distribution", NAMESPACE)
    return writer.to_bytes()


def _cli_params(domain: str, root_object: str | None = None) -> dict[str, Any]:
    """The parameters `aws cloudfront create-distribution --origin-domain-name ...` builds."""

    class _Argument:
        required = True

    table: dict[str, Any] = {"distribution-config": _Argument()}
    params: dict[str, Any] = {}
    OriginDomainName(table).add_to_params(params, domain)
    CreateDefaultRootObject(table).add_to_params(params, root_object)
    return params


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("operation", ["create_distribution", "update_distribution"])
def test_botocore_request_round_trips(
    client: Any, model: ShapeModel, name: str, operation: str
) -> None:
    """A config botocore sends parses to itself and reads back through botocore, defaults filled."""
    config = copy.deepcopy(CONFIGS[name])
    extra = (
        {"Id": "E1EXAMPLE12345", "IfMatch": "E2QWRUHEXAMPLE"} if operation.startswith("u") else {}
    )
    body = sent_body(client, operation, DistributionConfig=config, **extra)
    root = parse_xml(body)
    assert root.tag == "DistributionConfig"
    parsed = model.parse(root, "DistributionConfig", "distributionConfig")
    assert parsed == config
    filled = fill_distribution_config_defaults(parsed)
    read_back = botocore_parse(client, "GetDistribution", _respond(model, filled))
    assert read_back["Distribution"]["DistributionConfig"] == without_empty_items(filled)
    assert read_back["Distribution"]["Id"] == "E1EXAMPLE12345"


def test_get_distribution_config_envelope(client: Any, model: ShapeModel) -> None:
    """A bare <DistributionConfig> response (GetDistributionConfig) reads back through botocore."""
    filled = fill_distribution_config_defaults(CUSTOM_ORIGIN)
    member = model.payload("GetDistributionConfig", "output")
    assert member is not None
    writer = XmlWriter()
    model.serialize(filled, member.shape, writer, member.xml_name, NAMESPACE)
    read_back = botocore_parse(client, "GetDistributionConfig", writer.to_bytes())
    assert read_back["DistributionConfig"] == filled


def test_create_distribution_with_tags_round_trips(client: Any, model: ShapeModel) -> None:
    """CreateDistributionWithTags' DistributionConfigWithTags body parses with its tags."""
    tags = {"Items": [{"Key": "team", "Value": "edge"}, {"Key": "empty"}]}
    body = sent_body(
        client,
        "create_distribution_with_tags",
        DistributionConfigWithTags={"DistributionConfig": MINIMAL, "Tags": tags},
    )
    member = model.payload("CreateDistributionWithTags", "input")
    assert member is not None
    root = parse_xml(body)
    assert (root.tag, member.namespace) == (member.xml_name, NAMESPACE)
    parsed = model.parse(root, member.shape, "distributionConfigWithTags")
    assert parsed == {"DistributionConfig": MINIMAL, "Tags": tags}


def test_tagging_bodies_parse(client: Any, model: ShapeModel) -> None:
    """TagResource and UntagResource bodies parse to their Tags and TagKeys."""
    arn = "arn:aws:cloudfront::123456789012:distribution/E1EXAMPLE12345"
    tags = {"Items": [{"Key": "a", "Value": "1"}]}
    body = sent_body(client, "tag_resource", Resource=arn, Tags=tags)
    assert model.parse(parse_xml(body), "Tags", "tags") == tags
    body = sent_body(client, "untag_resource", Resource=arn, TagKeys={"Items": ["a", "b"]})
    assert model.parse(parse_xml(body), "TagKeys", "tagKeys") == {"Items": ["a", "b"]}


def test_list_distributions_reads_back(client: Any, model: ShapeModel) -> None:
    """An empty and a one-item DistributionList read back through botocore, summaries complete."""
    writer = XmlWriter()
    empty = {"Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": 0, "Items": []}
    model.serialize(empty, "DistributionList", writer, "DistributionList", NAMESPACE)
    assert b"<Items" not in writer.to_bytes()
    read_back = botocore_parse(client, "ListDistributions", writer.to_bytes())
    assert read_back["DistributionList"] == {k: v for k, v in empty.items() if k != "Items"}

    config = fill_distribution_config_defaults(MINIMAL)
    summary_members = {m.name for m in model.shape("DistributionSummary").members}
    summary = {k: v for k, v in _distribution(config).items() if k in summary_members}
    summary |= {k: v for k, v in config.items() if k in summary_members}
    summary["Staging"] = False  # required in a summary, not filled into the config
    one = {**empty, "Quantity": 1, "Items": [summary]}
    writer = XmlWriter()
    model.serialize(one, "DistributionList", writer, "DistributionList", NAMESPACE)
    read_back = botocore_parse(client, "ListDistributions", writer.to_bytes())
    output = client.meta.service_model.operation_model("ListDistributions").output_shape
    assert missing_required(output, read_back, "") == []
    assert read_back["DistributionList"]["Items"][0]["Origins"] == config["Origins"]


@pytest.mark.parametrize(
    ("domain", "root_object"),
    [("example.com", None), ("bucket.s3.amazonaws.com", "index.html")],
)
def test_cli_minimal_config_gets_every_required_member(
    client: Any, model: ShapeModel, domain: str, root_object: str | None
) -> None:
    """The CLI's --origin-domain-name template, filled, reads back with every required member."""
    params = _cli_params(domain, root_object)
    parsed = model.parse(
        parse_xml(sent_body(client, "create_distribution", **params)),
        "DistributionConfig",
        "distributionConfig",
    )
    assert parsed == without_empty_items(params["DistributionConfig"])
    filled = fill_distribution_config_defaults(parsed)
    read_back = botocore_parse(client, "CreateDistribution", _respond(model, filled))
    output = client.meta.service_model.operation_model("CreateDistribution").output_shape
    assert missing_required(output, read_back, "") == []
    config = read_back["Distribution"]["DistributionConfig"]
    assert config["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True
    assert config["DefaultCacheBehavior"]["DefaultTTL"] == 86400


# --- defaults --------------------------------------------------------------------------------


def test_defaults_match_cloudfronts_cli_example() -> None:
    """Filling the CLI's S3 template yields CloudFront's documented response (CLI example 1)."""
    params = _cli_params("bucket.s3.amazonaws.com", "index.html")
    filled = fill_distribution_config_defaults(without_empty_items(params["DistributionConfig"]))
    assert filled["Aliases"] == {"Quantity": 0}
    assert filled["Logging"] == {
        "Enabled": False,
        "IncludeCookies": False,
        "Bucket": "",
        "Prefix": "",
    }
    assert (filled["PriceClass"], filled["HttpVersion"], filled["IsIPV6Enabled"]) == (
        "PriceClass_All",
        "http2",
        True,
    )
    assert filled["Restrictions"] == {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}}
    assert filled["ViewerCertificate"] == {
        "CloudFrontDefaultCertificate": True,
        "SSLSupportMethod": "vip",
        "MinimumProtocolVersion": "TLSv1",
        "CertificateSource": "cloudfront",
    }
    behavior: Any = filled["DefaultCacheBehavior"]
    assert behavior["AllowedMethods"] == {
        "Quantity": 2,
        "Items": ["HEAD", "GET"],
        "CachedMethods": {"Quantity": 2, "Items": ["HEAD", "GET"]},
    }
    assert (behavior["Compress"], behavior["SmoothStreaming"]) == (False, False)
    assert (behavior["MinTTL"], behavior["DefaultTTL"], behavior["MaxTTL"]) == (0, 86400, 31536000)
    assert behavior["ForwardedValues"]["Headers"] == {"Quantity": 0}
    origin: Any = filled["Origins"]
    assert origin["Items"][0]["CustomHeaders"] == {"Quantity": 0}
    assert origin["Items"][0]["ConnectionAttempts"] == 3


@pytest.mark.parametrize("name", CONFIGS)
def test_defaults_are_what_cloudfront_returns(name: str) -> None:
    """Each table config is filled exactly as the hand-written `FILLED` literals say."""
    assert fill_distribution_config_defaults(CONFIGS[name]) == with_filled(
        CONFIGS[name], FILLED[name]
    )


def test_defaults_keep_explicit_values_and_do_not_mutate() -> None:
    """Set members survive filling, the input is untouched, and policy behaviors get no TTLs."""
    original = copy.deepcopy(S3_SITE)
    filled: Any = fill_distribution_config_defaults(S3_SITE)
    assert original == S3_SITE
    assert filled["IsIPV6Enabled"] is False
    assert filled["DefaultCacheBehavior"]["Compress"] is True
    assert "DefaultTTL" not in filled["DefaultCacheBehavior"]
    assert filled["ViewerCertificate"] == {
        **S3_SITE["ViewerCertificate"],
        "CloudFrontDefaultCertificate": False,
        "Certificate": ACM_ARN,
        "CertificateSource": "acm",
    }
    custom = fill_distribution_config_defaults(CUSTOM_ORIGIN)["Origins"]
    assert custom["Items"][1]["CustomOriginConfig"]["OriginReadTimeout"] == 30  # type: ignore[index]


@pytest.mark.parametrize(
    ("sent", "filled"),
    [
        ({"MinTTL": 7}, (7, 86400, 31536000)),
        ({"MinTTL": 100000}, (100000, 100000, 31536000)),
        ({"MinTTL": 40000000}, (40000000, 40000000, 40000000)),
        ({"MinTTL": 0, "DefaultTTL": 50000000}, (0, 50000000, 50000000)),
        ({"MinTTL": 0, "MaxTTL": 60}, (0, 86400, 60)),  # kept as sent (InvalidTTLOrder later)
    ],
)
def test_legacy_ttl_defaults_follow_the_ttls_sent(
    sent: dict[str, int], filled: tuple[int, int, int]
) -> None:
    """Unsent legacy TTLs: max(1 day, MinTTL) and max(1 year, DefaultTTL)."""
    behavior = {
        "TargetOriginId": "o",
        "ViewerProtocolPolicy": "allow-all",
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        **sent,
    }
    config: Any = fill_distribution_config_defaults({**MINIMAL, "DefaultCacheBehavior": behavior})
    got = config["DefaultCacheBehavior"]
    assert (got["MinTTL"], got["DefaultTTL"], got["MaxTTL"]) == filled


def test_defaults_skip_standard_only_fields_for_multi_tenant() -> None:
    """A tenant-only distribution gets no PriceClass or IsIPV6Enabled (standard-only fields)."""
    filled = fill_distribution_config_defaults({**MINIMAL, "ConnectionMode": "tenant-only"})
    assert "PriceClass" not in filled
    assert "IsIPV6Enabled" not in filled


# --- errors ----------------------------------------------------------------------------------


def _config_xml(model: ShapeModel, config: dict[str, Any]) -> XmlElement:
    writer = XmlWriter()
    model.serialize(config, "DistributionConfig", writer, "DistributionConfig", NAMESPACE)
    return parse_xml(writer.to_bytes())


def _parse(model: ShapeModel, body: bytes) -> dict[str, object]:
    return model.parse(parse_xml(body), "DistributionConfig", "distributionConfig")


def test_missing_caller_reference_is_malformed(model: ShapeModel) -> None:
    """A missing required member is MalformedXML in AWS's validator wording."""
    config = {k: v for k, v in MINIMAL.items() if k != "CallerReference"}
    with pytest.raises(MalformedXML) as caught:
        model.parse(_config_xml(model, config), "DistributionConfig", "distributionConfig")
    assert caught.value.message == (
        "1 validation error detected: Value null at 'distributionConfig.callerReference' "
        "failed to satisfy constraint: Member must not be null"
    )


def test_missing_nested_member_names_its_list_position(model: ShapeModel) -> None:
    """A missing member inside a list item is reported at items.N.member."""
    config = copy.deepcopy(MINIMAL)
    del config["Origins"]["Items"][0]["DomainName"]
    with pytest.raises(
        MalformedXML, match=r"'distributionConfig\.origins\.items\.1\.member\.domainName'"
    ):
        model.parse(_config_xml(model, config), "DistributionConfig", "distributionConfig")


@pytest.mark.parametrize(
    "aliases",
    [
        b"<Aliases><Quantity>2</Quantity><Items><CNAME>a.example.com</CNAME></Items></Aliases>",
        b"<Aliases><Quantity>1</Quantity></Aliases>",
        b"<Aliases><Quantity>0</Quantity><Items><CNAME>a.example.com</CNAME></Items></Aliases>",
    ],
)
def test_quantity_must_match_items(model: ShapeModel, aliases: bytes) -> None:
    """A Quantity that disagrees with the number of Items is InconsistentQuantities."""
    body = _minimal_body(model).replace(b"<Comment>", aliases + b"<Comment>")
    with pytest.raises(InconsistentQuantities, match="Quantity and the size of Items"):
        _parse(model, body)


def _minimal_body(model: ShapeModel) -> bytes:
    writer = XmlWriter()
    model.serialize(MINIMAL, "DistributionConfig", writer, "DistributionConfig", NAMESPACE)
    return writer.to_bytes()


@pytest.mark.parametrize("value", [b"yes", b"True", b"1", b""])
def test_bad_boolean_is_malformed(model: ShapeModel, value: bytes) -> None:
    """Booleans are exactly `true` or `false`."""
    body = _minimal_body(model).replace(
        b"<Enabled>true</Enabled>", b"<Enabled>" + value + b"</Enabled>"
    )
    with pytest.raises(MalformedXML, match=r"'distributionConfig\.enabled' must be true or false"):
        _parse(model, body)


@pytest.mark.parametrize("value", [b"eighty", b"1.5", b"", b"99999999999"])
def test_bad_integer_is_malformed(model: ShapeModel, value: bytes) -> None:
    """Integers are decimal digits within 32 bits."""
    body = _minimal_body(model).replace(
        b"<HTTPPort>80</HTTPPort>", b"<HTTPPort>" + value + b"</HTTPPort>"
    )
    with pytest.raises(MalformedXML, match="hTTPPort' must be an integer"):
        _parse(model, body)


def test_unknown_element_is_malformed(model: ShapeModel) -> None:
    """An element the model does not know is MalformedXML, naming where it was found."""
    body = _minimal_body(model).replace(b"<Comment>", b"<Bogus>1</Bogus><Comment>")
    with pytest.raises(MalformedXML, match=r"unexpected element <Bogus> in 'distributionConfig'"):
        _parse(model, body)


def test_wrong_list_element_is_malformed(model: ShapeModel) -> None:
    """A list holds only its member element (CNAME in Aliases)."""
    aliases = b"<Aliases><Quantity>1</Quantity><Items><Alias>a</Alias></Items></Aliases>"
    body = _minimal_body(model).replace(b"<Comment>", aliases + b"<Comment>")
    with pytest.raises(MalformedXML, match="expected <CNAME>"):
        _parse(model, body)


def test_duplicate_member_is_malformed(model: ShapeModel) -> None:
    """A member element given twice is MalformedXML."""
    body = _minimal_body(model).replace(b"<Comment>", b"<Comment>x</Comment><Comment>")
    with pytest.raises(MalformedXML, match="appears twice"):
        _parse(model, body)


def test_bad_enum_is_invalid_argument(model: ShapeModel) -> None:
    """A value outside an enum is InvalidArgument listing the allowed values."""
    body = _minimal_body(model).replace(
        b"<Comment>", b"<PriceClass>PriceClass_999</PriceClass><Comment>"
    )
    with pytest.raises(InvalidArgument) as caught:
        _parse(model, body)
    assert caught.value.message == (
        "1 validation error detected: Value 'PriceClass_999' at 'distributionConfig.priceClass' "
        "failed to satisfy constraint: Member must satisfy enum value set: "
        "[PriceClass_100, PriceClass_200, PriceClass_All, None]"
    )


# --- wire details ----------------------------------------------------------------------------


def test_any_child_order_and_namespace_accepted(model: ShapeModel) -> None:
    """Children in reverse order and without a namespace parse to the same config."""
    element = _config_xml(model, S3_SITE)

    def reverse(node: XmlElement) -> XmlElement:
        children = [reverse(child) for child in reversed(node.children)]
        if node.tag == "Items":  # list order is data; keep it
            children.reverse()
        return XmlElement(node.tag, "", node.text, children)

    parsed = model.parse(reverse(element), "DistributionConfig", "distributionConfig")
    assert parsed == S3_SITE


def test_serialize_writes_model_order_and_omits_empty_items(model: ShapeModel) -> None:
    """Members come out in model order; Quantity 0 goes without Items."""
    writer = XmlWriter()
    model.serialize({"Items": [], "Quantity": 0}, "Aliases", writer, "Aliases")
    assert writer.to_bytes().endswith(b"<Aliases><Quantity>0</Quantity></Aliases>")
    body = _minimal_body(model)
    assert body.index(b"<CallerReference>") < body.index(b"<Origins>") < body.index(b"<Comment>")
    assert body.startswith(
        b'<?xml version="1.0"?>\n<DistributionConfig xmlns="' + NAMESPACE.encode()
    )


def test_serialize_rejects_what_the_model_lacks(model: ShapeModel) -> None:
    """Unknown members and wrongly typed values are our bugs: ValueError / TypeError."""
    with pytest.raises(ValueError, match="no member"):
        model.serialize({"Quantity": 0, "Bogus": 1}, "Aliases", XmlWriter(), "Aliases")
    with pytest.raises(TypeError):
        model.serialize({"Quantity": "0"}, "Aliases", XmlWriter(), "Aliases")
    with pytest.raises(TypeError):
        model.serialize({"Quantity": True}, "Aliases", XmlWriter(), "Aliases")


def test_model_describes_operations(model: ShapeModel) -> None:
    """Operations keep their HTTP binding and payload members (root tag and namespace)."""
    create = model.operation("CreateDistribution")
    assert (create.wire_name, create.method, create.request_uri, create.response_code) == (
        "CreateDistribution2020_05_31",
        "POST",
        "/2020-05-31/distribution",
        201,
    )
    member = model.payload("UpdateDistribution", "input")
    assert member is not None
    assert (member.shape, member.xml_name, member.namespace) == (
        "DistributionConfig",
        "DistributionConfig",
        NAMESPACE,
    )
    assert model.payload("DeleteDistribution", "output") is None
    assert model.operation("ListTagsForResource").output_payload == "Tags"


# --- the packaged model ----------------------------------------------------------------------


def _extract_script() -> Any:
    spec = importlib.util.spec_from_file_location("extract_shapes", EXTRACT_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _not_covered(installed: dict[str, Any], packaged: dict[str, Any]) -> list[str]:
    """What the installed botocore's model has that the packaged one lacks or says otherwise."""
    gaps: list[str] = []
    for name, op in installed["operations"].items():
        if packaged["operations"].get(name) != op:
            gaps.append(f"operation {name}")
    for name, shape in installed["shapes"].items():
        ours = packaged["shapes"].get(name)
        if ours is None:
            gaps.append(f"shape {name}")
            continue
        for key in ("type", "flattened", "payload"):
            if shape.get(key) != ours.get(key):
                gaps.append(f"{name}.{key}")
        if set(ours.get("required", ())) - set(shape.get("required", ())):
            gaps.append(f"{name}.required (we require what botocore may omit)")
        gaps += [
            f"{name} enum value {v!r}"
            for v in shape.get("enum", ())
            if v not in ours.get("enum", ())
        ]
        for key in ("member", "key", "value"):
            if shape.get(key) != ours.get(key):
                gaps.append(f"{name}.{key}")
        for member, spec in shape.get("members", {}).items():
            if ours.get("members", {}).get(member) != spec:
                gaps.append(f"{name}.{member}")
        order = [m for m in ours.get("memberOrder", ()) if m in shape.get("members", {})]
        if order != [m for m in shape.get("memberOrder", ()) if m in ours.get("members", {})]:
            gaps.append(f"{name} member order")
    return gaps


def test_packaged_model_covers_every_installed_botocore() -> None:
    """The packaged shapes cover each installed botocore's (boto3's, AWS CLI's)."""
    script = _extract_script()
    paths = script.installed_model_paths()
    assert any("awscli" not in path.parts for path in paths), paths  # botocore's own is found
    packaged = json.loads(
        resources.files("invalidator.api.wire").joinpath("cloudfront_shapes.json").read_text()
    )
    for path in paths:
        gaps = _not_covered(script.extract(script.load_model(path)), packaged)
        assert not gaps, (
            f"cloudfront_shapes.json is older than {path}; {REGENERATE}. "
            f"Missing or different: {', '.join(gaps[:20])}"
        )


def test_coverage_check_finds_a_missing_member() -> None:
    """The check above is not vacuous: a model without OriginHttpVersion is reported."""
    script = _extract_script()
    installed = script.extract(script.load_model(script.default_model_path()))
    older = copy.deepcopy(installed)
    custom = older["shapes"]["CustomOriginConfig"]
    del custom["members"]["OriginHttpVersion"]
    custom["memberOrder"].remove("OriginHttpVersion")
    older["shapes"]["OriginHttpVersion"]["enum"].remove("http2")
    assert set(_not_covered(installed, older)) == {
        "CustomOriginConfig.OriginHttpVersion",
        "OriginHttpVersion enum value 'http2'",
    }
    assert _not_covered(installed, installed) == []
