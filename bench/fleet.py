"""Shared plumbing of the edge benchmarks: real `invalidator serve` / `invalidator edge`
processes, a distribution pointing at an origin, a small signed API client and an HTTP probe.

Each process is started with `python -m invalidator ...`; its `... listening on http://H:P`
lines are parsed, then a thread keeps draining its output (so a chatty process never blocks on
a full pipe) and keeps the last lines for error messages.

Also the frame every benchmark's `main` shares: its argument parser, the `machine` block and
the `bench/results/<name>-<timestamp>.json` file of its report, and the report's closing lines.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, server_env

from invalidator.api.auth.sigv4 import signed_headers
from invalidator.cli.origin_config import config_for_origin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VERSION = "2020-05-31"
_NS = f"http://cloudfront.amazonaws.com/doc/{VERSION}/"
_LISTENING = re.compile(r"(invalidator [a-zA-Z ]+?) listening on (http://\S+)")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class Proc:
    """A child process that announces `<label> listening on URL` lines."""

    def __init__(self, cmd: list[str], env: dict[str, str], expect: tuple[str, ...]) -> None:
        self.cmd = cmd
        self.urls: dict[str, str] = {}
        self.tail: deque[str] = deque(maxlen=50)
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._expect = expect
        self._ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.tail.append(line)
            found = _LISTENING.search(line)
            if found:
                self.urls[found.group(1)] = found.group(2)
                if all(label in self.urls for label in self._expect):
                    self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60.0) -> Proc:
        """Wait for every expected listening line (raises with the output when it fails)."""
        self._ready.wait(timeout)
        if not all(label in self.urls for label in self._expect):
            self.kill()
            raise RuntimeError(f"{self.cmd[3:5]} did not start:\n" + "".join(self.tail))
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL, no cleanup."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful: an edge deregisters), SIGKILL when it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def start_serve(data_dir: Path, *args: str, log_level: str = "warning") -> Proc:
    """`invalidator serve --port 0 --data-dir D ARGS` (not waited for: call wait_ready)."""
    cmd = [sys.executable, "-m", "invalidator", "serve", "--port", "0",
           "--data-dir", str(data_dir), *args]  # fmt: skip
    expect = ("invalidator API",)
    if "--edge-port" in args:
        expect += ("invalidator edge",)
    return Proc(cmd, server_env(INVALIDATOR_LOG_LEVEL=log_level), expect)


def start_edge(control_plane: str, name: str, *args: str, log_level: str = "warning") -> Proc:
    """`invalidator edge --control-plane URL --listen 127.0.0.1:0` (credentials from env)."""
    cmd = [sys.executable, "-m", "invalidator", "edge", "--control-plane", control_plane,
           "--listen", "127.0.0.1:0", "--edge-name", name, *args]  # fmt: skip
    return Proc(cmd, server_env(INVALIDATOR_LOG_LEVEL=log_level), ("invalidator edge",))


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def boto_client(api_url: str) -> Any:
    """A boto3 CloudFront client with the bench key pair."""
    import boto3

    return boto3.client(
        "cloudfront",
        endpoint_url=api_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def create_distribution(api_url: str, origin_url: str) -> tuple[str, str]:
    """CreateDistribution (boto3) for `origin_url`: (id, domain name)."""
    created = boto_client(api_url).create_distribution(
        DistributionConfig=config_for_origin(origin_url, comment="bench")
    )
    return created["Distribution"]["Id"], created["Distribution"]["DomainName"]


class ApiClient:
    """A keep-alive, SigV4-signed client for CreateInvalidation / GetInvalidation.

    Cheaper than boto3 per call (about 0.3 ms of client CPU), so polling stays tight.
    """

    _STATUS = re.compile(r"<Status>(\w+)</Status>")
    _ID = re.compile(r"<Id>(\w+)</Id>")

    def __init__(self, api_url: str, distribution_id: str) -> None:
        self.base = api_url.rstrip("/")
        parts = urlsplit(self.base)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        self.prefix = f"/{VERSION}/distribution/{distribution_id}/invalidation"

    def _call(self, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
        headers = signed_headers(
            method, self.base, path, "", body, ACCESS_KEY_ID, SECRET_ACCESS_KEY
        )
        for attempt in (1, 2):
            try:
                self._conn.request(method, path, body=body or None, headers=headers)
                response = self._conn.getresponse()
                return response.status, response.read().decode()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def create(self, caller_reference: str, paths: list[str]) -> tuple[str, str]:
        """CreateInvalidation: (id, status in the 201)."""
        items = "".join(f"<Path>{p}</Path>" for p in paths)
        body = (
            f'<InvalidationBatch xmlns="{_NS}"><Paths><Quantity>{len(paths)}</Quantity>'
            f"<Items>{items}</Items></Paths><CallerReference>{caller_reference}"
            "</CallerReference></InvalidationBatch>"
        ).encode()
        status, text = self._call("POST", self.prefix, body)
        if status != 201:
            raise RuntimeError(f"CreateInvalidation answered {status}: {text[:300]}")
        return _first(self._ID, text), _first(self._STATUS, text)

    def status(self, invalidation_id: str) -> str:
        """GetInvalidation: the status."""
        status, text = self._call("GET", f"{self.prefix}/{invalidation_id}")
        if status != 200:
            raise RuntimeError(f"GetInvalidation answered {status}: {text[:300]}")
        return _first(self._STATUS, text)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def _first(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    if not found:
        raise RuntimeError(f"unexpected answer: {text[:300]}")
    return found.group(1)


class Probe:
    """Keep-alive GETs to one edge (or nginx) with a Host header: (status, X-Cache, body)."""

    def __init__(self, url: str, host: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = host
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)

    def get(self, path: str) -> tuple[int, str, bytes]:
        """One GET; reconnects once when the connection was closed."""
        for attempt in (1, 2):
            try:
                self._conn.request("GET", path, headers={"Host": self.host})
                response = self._conn.getresponse()
                body = response.read()
                cache = response.getheader("x-cache") or response.getheader("x-cache-status") or ""
                return response.status, cache, body
            except (OSError, http.client.HTTPException):
                self._conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def wait_serving(probe: Probe, path: str, timeout: float = 30.0) -> None:
    """Wait until the edge knows the distribution (answers something other than 404)."""
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = probe.get(path)
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{probe.url} never served {path}: {status} {body[:200]!r}")
        time.sleep(0.05)


# -- the frame of a benchmark's main -------------------------------------------------------


def bench_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The argument parser of `python -m PROG`, its module docstring as the help text."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def save_report(
    benchmark: str,
    settings: dict[str, Any],
    load_before: tuple[float, float, float],
    figures: dict[str, Any],
    print_report: Callable[[dict[str, Any]], None],
    **machine: Any,
) -> dict[str, Any]:
    """Write bench/results/BENCHMARK-<timestamp>.json and print it with `print_report`.

    The report: benchmark, timestamp, `settings`, machine (CPUs, Python, platform, load average
    before and now, then `machine`), `figures`, results_file.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results_file = RESULTS / f"{benchmark}-{stamp}.json"
    report = {
        "benchmark": benchmark,
        "timestamp": stamp,
        **settings,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            **machine,
        },
        **figures,
        "results_file": str(results_file.relative_to(ROOT)),
    }
    results_file.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    return report


def print_heading(title: str, header: str) -> None:
    """The head of a report's table: a blank line, the title, the column header, a rule."""
    print()
    print(title)
    print(header)
    print("-" * len(header))


def print_report_end(
    report: dict[str, Any], machine_note: str = " (other work on the machine skews figures)"
) -> None:
    """The closing lines of a report: the targets, the machine, where the results went."""
    print("targets:")
    for target in report["targets"]:
        print(f"  {target['name']}: {target['actual']} -> {'MET' if target['met'] else 'NOT MET'}")
    machine = report["machine"]
    print(
        f"machine: {machine['cpus']} CPUs, load average before {machine['loadavg_before'][0]:.2f}"
        f", after {machine['loadavg_after'][0]:.2f}{machine_note}"
    )
    print(f"results written to {report['results_file']}")
