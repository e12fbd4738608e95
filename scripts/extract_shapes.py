"""Extract the CloudFront Distribution API shapes from botocore's model (a dev script).

Reads ``botocore/data/cloudfront/2020-05-31/service-2.json(.gz)`` and writes
``src/invalidator/api/wire/cloudfront_shapes.json``: the operations we serve and the closure of
shapes reachable from their input and output shapes, trimmed to what the XML codec needs. The
output is deterministic (sorted keys, ``indent=1``) so a re-run after a botocore upgrade diffs
cleanly. The server never imports botocore; it reads the JSON written here.

Usage: ``.venv/bin/python scripts/extract_shapes.py [--model PATH] [--output PATH]``
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

API_VERSION = "2020-05-31"

# The operations we serve. botocore keys operations by their unversioned name ("CreateDistribution")
# and keeps the wire name ("CreateDistribution2020_05_31") in the operation's "name" field.
OPERATIONS = (
    "CreateDistribution",
    "CreateDistributionWithTags",
    "GetDistribution",
    "GetDistributionConfig",
    "UpdateDistribution",
    "DeleteDistribution",
    "ListDistributions",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)

SHAPE_KEYS = ("type", "required", "enum", "min", "max", "flattened", "payload")
MEMBER_KEYS = ("shape", "locationName", "location", "flattened", "xmlNamespace")

DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent / "src/invalidator/api/wire/cloudfront_shapes.json"
)


def installed_model_paths() -> list[Path]:
    """The CloudFront models of every installed botocore: the botocore distribution's own and
    the copy the AWS CLI vendors (``awscli/botocore``), when present.

    Found through package metadata, not ``import botocore``: once ``awscli`` is imported, its
    import alias makes ``botocore`` resolve to the vendored copy, which may be older.
    """
    from importlib import metadata

    found: list[Path] = []
    for dist_name, package in (("botocore", "botocore"), ("awscli", "awscli/botocore")):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        folder = Path(str(dist.locate_file(f"{package}/data/cloudfront/{API_VERSION}")))
        for name in ("service-2.json.gz", "service-2.json"):
            if (folder / name).exists():
                found.append(folder / name)
                break
    return found


def default_model_path() -> Path:
    """The botocore distribution's CloudFront model (compressed or not)."""
    paths = installed_model_paths()
    if not paths or "awscli" in paths[0].parts:
        raise FileNotFoundError(f"botocore's cloudfront/{API_VERSION}/service-2.json(.gz)")
    return paths[0]


def load_model(path: Path) -> dict[str, Any]:
    """The botocore service model as a dict."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    model: dict[str, Any] = json.loads(raw)
    return model


def _trim_member(member: dict[str, Any]) -> dict[str, Any]:
    kept = {key: member[key] for key in MEMBER_KEYS if key in member}
    if "xmlNamespace" in kept:
        kept["xmlNamespace"] = {"uri": kept["xmlNamespace"]["uri"]}
    return kept


def _trim_shape(shape: dict[str, Any]) -> dict[str, Any]:
    kept = {key: shape[key] for key in SHAPE_KEYS if key in shape}
    if "members" in shape:
        kept["members"] = {name: _trim_member(m) for name, m in shape["members"].items()}
        # sort_keys loses the model's member order, which is the XML element order.
        kept["memberOrder"] = list(shape["members"])
    for key in ("member", "key", "value"):  # list member; map key/value (none expected)
        if key in shape:
            kept[key] = _trim_member(shape[key])
    return kept


def _referenced(shape: dict[str, Any]) -> list[str]:
    names = [member["shape"] for member in shape.get("members", {}).values()]
    names += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    return names


def extract(model: dict[str, Any]) -> dict[str, Any]:
    """The trimmed operations and the closure of their shapes."""
    operations: dict[str, Any] = {}
    pending: list[str] = []
    for op_name in OPERATIONS:
        op = model["operations"][op_name]
        entry: dict[str, Any] = {
            "name": op["name"],
            "http": {
                key: op["http"][key]
                for key in ("method", "requestUri", "responseCode")
                if key in op["http"]
            },
        }
        for direction in ("input", "output"):
            if direction in op:
                shape_name = op[direction]["shape"]
                entry[direction] = shape_name
                pending.append(shape_name)
                payload = model["shapes"][shape_name].get("payload")
                if payload is not None:
                    entry[f"{direction}Payload"] = payload
        operations[op_name] = entry

    shapes: dict[str, Any] = {}
    while pending:
        name = pending.pop()
        if name in shapes:
            continue
        shape = model["shapes"][name]
        shapes[name] = _trim_shape(shape)
        pending.extend(_referenced(shape))

    return {
        "metadata": {
            "apiVersion": model["metadata"]["apiVersion"],
            "protocol": model["metadata"]["protocol"],
            "uid": model["metadata"].get("uid", ""),
        },
        "operations": operations,
        "shapes": shapes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="service-2.json(.gz) path")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    model_path = args.model or default_model_path()
    extracted = extract(load_model(model_path))
    text = json.dumps(extracted, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    counts = f"{len(extracted['operations'])} operations, {len(extracted['shapes'])} shapes"
    print(f"wrote {args.output} ({counts}) from {model_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
