"""Small helpers shared by the Distribution API tests that drive boto3 against a server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.botocore_capture import missing_required
from tests.support.distribution_configs import MINIMAL, unique

# No client-side validation (to send what CloudFront must refuse), and no retries.
NO_VALIDATION = Config(parameter_validation=False, retries={"total_max_attempts": 1})


def fresh_config(**changes: Any) -> dict[str, Any]:
    """A minimal valid config with a fresh CallerReference (the session server is shared)."""
    config = unique(MINIMAL, uuid.uuid4().hex[:10])
    config.update(changes)
    return config


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    """The error code and HTTP status boto3 saw."""
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def assert_complete(cf: Any, operation: str, response: dict[str, Any]) -> None:
    """botocore finds every required member of the operation's output in `response`."""
    output = cf.meta.service_model.operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    assert missing_required(output, body) == [], operation
