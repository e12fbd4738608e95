"""Terraform's AWS provider, unchanged, manages a distribution against a real server: create,
a plan that finds no drift, the built-in edge serving and purging it, update, destroy.

The provider is taken from a local filesystem mirror (Terraform cannot download it here):
`INVALIDATOR_TF_PLUGINS` or `/opt/tf-plugins`, laid out as `terraform providers mirror` makes
it. Without the `terraform` binary or the mirror the test is skipped, saying which is missing
(on CI, CI=true, it fails instead).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.support.origin import Origin
from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess

pytestmark = pytest.mark.slow

_MIRROR = Path(os.environ.get("INVALIDATOR_TF_PLUGINS", "/opt/tf-plugins"))
_PROVIDER = _MIRROR / "registry.terraform.io" / "hashicorp" / "aws"
CACHEABLE = [("Cache-Control", "max-age=3600")]


def _unavailable(reason: str) -> NoReturn:
    """Skip; on CI (CI=true) that is a failure instead, as for the JS SDK."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the Terraform test cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _provider_version() -> str:
    """The newest hashicorp/aws provider in the mirror."""
    if shutil.which("terraform") is None:
        _unavailable("the terraform binary is not on PATH")
    versions = sorted(p.name for p in _PROVIDER.glob("*") if (p / "linux_amd64").is_dir())
    if not versions:
        _unavailable(f"no hashicorp/aws provider for linux_amd64 in the local mirror {_MIRROR}")
    return max(versions, key=lambda v: tuple(int(n) for n in v.split(".") if n.isdigit()))


# Much of what a real site sets, to be read back without drift: a second origin and an origin
# group, ordered behaviors (legacy forwarded values with whitelists; a managed cache policy and
# origin request policy), custom error responses.
RICH = """
  origin {
    domain_name         = "localhost"
    origin_id           = "spare"
    origin_path         = "/v2"
    connection_attempts = 2
    connection_timeout  = 5
    custom_header {
      name  = "X-From-Edge"
      value = "yes"
    }
    custom_origin_config {
      http_port                = 8001
      https_port               = 443
      origin_protocol_policy   = "http-only"
      origin_ssl_protocols     = ["TLSv1.2", "TLSv1.1"]
      origin_read_timeout      = 20
      origin_keepalive_timeout = 10
    }
  }
  origin_group {
    origin_id = "failover"
    failover_criteria {
      status_codes = [500, 502]
    }
    member {
      origin_id = "app"
    }
    member {
      origin_id = "spare"
    }
  }
  ordered_cache_behavior {
    path_pattern           = "/api/*"
    target_origin_id       = "failover"
    viewer_protocol_policy = "https-only"
    allowed_methods        = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods         = ["GET", "HEAD", "OPTIONS"]
    default_ttl            = 60
    max_ttl                = 300
    forwarded_values {
      query_string            = true
      query_string_cache_keys = ["v", "lang"]
      headers                 = ["Accept-Language"]
      cookies {
        forward           = "whitelist"
        whitelisted_names = ["session"]
      }
    }
  }
  ordered_cache_behavior {
    path_pattern             = "/static/*"
    target_origin_id         = "spare"
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = true
    cache_policy_id          = "658327ea-f89d-4fab-a63d-7e88639e58f6"
    origin_request_policy_id = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
  }
  custom_error_response {
    error_code            = 404
    response_code         = 200
    response_page_path    = "/index.html"
    error_caching_min_ttl = 30
  }
  custom_error_response {
    error_code            = 503
    error_caching_min_ttl = 5
  }
"""


def _config(
    version: str, endpoint: str, origin_port: int, alias: str, extra: str = "", **knobs: str
) -> str:
    """One distribution in front of the test's origin; `knobs` override top-level arguments,
    `extra` adds blocks to the resource."""
    top = {"enabled": "true", "comment": '"made by terraform"', "wait_for_deployment": "false"}
    top.update(knobs)
    arguments = "\n".join(f"  {k} = {v}" for k, v in top.items())
    return f"""
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws", version = "{version}" }}
  }}
}}
provider "aws" {{
  region                      = "eu-west-1"
  access_key                  = "{ACCESS_KEY_ID}"
  secret_key                  = "{SECRET_ACCESS_KEY}"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    cloudfront = "{endpoint}"
  }}
}}
resource "aws_cloudfront_distribution" "site" {{
{arguments}
  aliases = ["{alias}"]
  origin {{
    domain_name = "127.0.0.1"
    origin_id   = "app"
    custom_origin_config {{
      http_port              = {origin_port}
      https_port             = 443
      origin_protocol_policy = "http-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }}
  }}
  default_cache_behavior {{
    target_origin_id       = "app"
    viewer_protocol_policy = "allow-all"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    default_ttl            = 3600  # unset, the provider sends 0: nothing would be cached
    max_ttl                = 86400
    forwarded_values {{
      query_string = false
      cookies {{
        forward = "none"
      }}
    }}
  }}
  restrictions {{
    geo_restriction {{
      restriction_type = "none"
    }}
  }}
  viewer_certificate {{
    cloudfront_default_certificate = true
  }}
  tags = {{ team = "web" }}
{extra}
}}
"""


class Terraform:
    """`terraform` in one working directory, offline, with the provider from the mirror."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        rc = workdir / "cli.tfrc"
        rc.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path = "{_MIRROR}"\n'
            '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
        )
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(rc),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(workdir / ".terraform"),
        }

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`terraform COMMAND ARGS`, which must exit 0 (its output is the failure message)."""
        prompts = [] if command == "show" else ["-input=false"]
        done = subprocess.run(
            ["terraform", command, *args, "-no-color", *prompts],
            check=False,
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, f"terraform {command}: {done.stdout[-3000:]}{done.stderr}"
        return done

    def write(self, config: str) -> None:
        (self.workdir / "main.tf").write_text(config)

    def state(self) -> dict[str, Any]:
        """The distribution's attributes as the provider stored them after reading it back.
        (Not an output: the provider does not mark `etag` unknown when it plans an update, so
        an output of it keeps the old value until the next refresh, on CloudFront too.)"""
        shown = json.loads(self.run("show", "-json").stdout)
        (resource,) = shown["values"]["root_module"]["resources"]
        return dict(resource["values"])


def test_terraform_creates_plans_updates_and_destroys_a_distribution(
    start_server: Any, tmp_path: Path
) -> None:
    version = _provider_version()
    server: ServerProcess = start_server()
    client = server.client()
    alias = f"tf-{uuid.uuid4().hex[:8]}.example.test"
    workdir = tmp_path / "tf"
    workdir.mkdir()
    terraform = Terraform(workdir)
    with Origin() as origin:
        origin.set("/page", b"v1", headers=CACHEABLE)
        terraform.write(_config(version, server.url, origin.port, alias))
        terraform.run("init")
        terraform.run("apply", "-auto-approve")
        made = terraform.state()
        dist_id = made["id"]
        stored = client.get_distribution(Id=dist_id)
        config = stored["Distribution"]["DistributionConfig"]
        assert config["Aliases"]["Items"] == [alias]
        assert config["Comment"] == "made by terraform"
        assert config["Origins"]["Items"][0]["CustomOriginConfig"]["HTTPPort"] == origin.port
        assert config["DefaultCacheBehavior"]["DefaultTTL"] == 3600
        assert made["domain_name"] == stored["Distribution"]["DomainName"]
        assert made["etag"] == stored["ETag"]
        arn = stored["Distribution"]["ARN"]
        assert client.list_tags_for_resource(Resource=arn)["Tags"]["Items"] == [
            {"Key": "team", "Value": "web"}
        ]

        # What the provider read back is what it sent: a plan finds nothing to change.
        terraform.run("plan", "-detailed-exitcode")  # exit status 2 would mean a change

        # The built-in edge serves the new distribution by its alias and purges it.
        def fetch() -> httpx.Response:
            return httpx.get(server.edge_url + "/page", headers={"host": alias}, timeout=10)

        deadline = time.monotonic() + 15
        while (answer := fetch()).headers.get("x-cache") != "Hit from invalidator":
            assert time.monotonic() < deadline, dict(answer.headers)
            time.sleep(0.05)
        assert answer.content == b"v1"
        origin.set("/page", b"v2", headers=CACHEABLE)
        assert fetch().content == b"v1"
        created = client.create_invalidation(
            DistributionId=dist_id,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": ["/page"]},
                "CallerReference": uuid.uuid4().hex,
            },
        )
        client.get_waiter("invalidation_completed").wait(
            DistributionId=dist_id,
            Id=created["Invalidation"]["Id"],
            WaiterConfig={"Delay": 1, "MaxAttempts": 20},
        )
        assert fetch().content == b"v2"

        # An update in place (same Id) to a much richer config, through the provider's default
        # deployment waiter (GetDistribution until Deployed, after its first 30 s delay), read
        # back without drift too; then destroy: disabled, waited for, deleted.
        rich = {"enabled": "false", "comment": '"retired"', "price_class": '"PriceClass_100"',
                "http_version": '"http2and3"', "is_ipv6_enabled": "true",
                "default_root_object": '"index.html"', "wait_for_deployment": "true"}  # fmt: skip
        terraform.write(_config(version, server.url, origin.port, alias, RICH, **rich))
        terraform.run("apply", "-auto-approve")
        assert client.get_distribution(Id=dist_id)["Distribution"]["Status"] == "Deployed"
        updated = terraform.state()
        assert updated["id"] == dist_id
        stored = client.get_distribution(Id=dist_id)
        config = stored["Distribution"]["DistributionConfig"]
        assert (config["Comment"], config["Enabled"]) == ("retired", False)
        assert updated["etag"] == stored["ETag"]
        assert config["OriginGroups"]["Items"][0]["Id"] == "failover"
        assert [b["PathPattern"] for b in config["CacheBehaviors"]["Items"]] == [
            "/api/*",
            "/static/*",
        ]
        terraform.run("plan", "-detailed-exitcode")
        terraform.run("destroy", "-auto-approve")
        with pytest.raises(client.exceptions.NoSuchDistribution):
            client.get_distribution(Id=dist_id)
