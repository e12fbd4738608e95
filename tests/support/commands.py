"""Run command-line clients as subprocesses: the real AWS CLI and our own `invalidator`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def aws_cloudfront(
    endpoint_url: str, home: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`aws cloudfront ARGS --endpoint-url URL --output json`, env credentials, no config files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION="eu-central-1",
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_PAGER="",
    )
    command = [sys.executable, "-m", "awscli", "cloudfront", *args]
    command += ["--endpoint-url", endpoint_url, "--output", "json"]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert done.returncode == 0, f"aws cloudfront {' '.join(args)} failed:\n{done.stderr}"
    return done


def json_of(done: subprocess.CompletedProcess[str]) -> Any:
    """The JSON a command printed."""
    return json.loads(done.stdout)


def invalidator(
    *args: str, check: bool = True, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m invalidator ARGS` with only the INVALIDATOR_ variables given in `env`."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("INVALIDATOR_")}
    full.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "invalidator", *args],
        check=False,
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, f"invalidator {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done
