"""Propagation: time from the 201 of CreateInvalidation to `Completed`, with 1, 4 and 16 edges.

    .venv/bin/python -m bench.propagation [--edges 1,4,16] [--count 200] [--default-count 100]

For each fleet size N: a real `invalidator serve --edge-port 0 --create-wait 0` (control plane
plus its built-in edge) and N-1 standalone `invalidator edge` processes on this machine, one
distribution (CreateDistribution through the API) whose origin is a small HTTP server of the
bench. Then `--count` invalidations, one at a time, each of a fresh exact path:

- before each one (every `--check-every`-th), every edge fetches the object twice: the second
  answer must be `X-Cache: Hit` (the object really is cached on every edge);
- CreateInvalidation is sent (SigV4-signed, keep-alive); from its 201, GetInvalidation is
  polled back to back until it says `Completed` (client-side figure);
- after `Completed`, the origin changes the object and every edge must answer `X-Cache: Miss`
  with the new body (the purge really happened everywhere);
- after the run the server is stopped and `complete_time - create_time` of each invalidation is
  read from the SQLite database of the data dir (server-side figure: GetInvalidation shows only
  CreateTime; create_time is taken before the commit, so this includes the fsync of the create).

A second fleet per N runs with the default `--create-wait` (0.25 s) and counts how often the
201 itself already says `Completed`. Writes bench/results/propagation-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.origin import Origin

from bench.fleet import (
    ROOT,
    ApiClient,
    Probe,
    Proc,
    bench_parser,
    create_distribution,
    percentile,
    print_heading,
    print_report_end,
    save_report,
    start_edge,
    start_serve,
    wait_serving,
)

TARGET_EDGES = 16
TARGET_P99_MS = 100.0
CACHEABLE = [("Cache-Control", "max-age=600"), ("Content-Type", "text/plain")]


class Fleet:
    """A control plane with its built-in edge plus N-1 standalone edges."""

    def __init__(self, edges: int, data_dir: Path, origin: Origin, create_wait: float | None):
        self.size = edges
        self.data_dir = data_dir
        args = ["--edge-port", "0"]
        if create_wait is not None:
            args += ["--create-wait", str(create_wait)]
        self.serve = start_serve(data_dir, *args).wait_ready()
        self.api = self.serve.urls["invalidator API"]
        self.distribution_id, self.domain = create_distribution(self.api, origin.url)
        standalone = [start_edge(self.api, f"bench-edge-{i}") for i in range(edges - 1)]
        self.edges: list[Proc] = []
        try:
            for proc in standalone:
                self.edges.append(proc.wait_ready())
        except BaseException:
            for proc in standalone:
                proc.kill()
            self.serve.kill()
            raise
        urls = [self.serve.urls["invalidator edge"]]
        urls += [p.urls["invalidator edge"] for p in self.edges]
        self.probes = [Probe(url, self.domain) for url in urls]
        origin.set("/ready", b"ready", headers=CACHEABLE)
        for probe in self.probes:
            wait_serving(probe, "/ready")
        self.client = ApiClient(self.api, self.distribution_id)
        self._wait_leases()

    def _wait_leases(self, timeout: float = 30.0) -> None:
        """Every edge registered with a live lease (so each one is waited for)."""
        deadline = time.monotonic() + timeout
        while True:
            status, text = self.client._call("GET", "/_invalidator/edges")
            if status == 200:
                live = [e for e in json.loads(text)["edges"] if e["lease"] == "live"]
                if len(live) == self.size:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"expected {self.size} live edges, got: {text[:500]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the edges (they deregister), then the control plane (flushes the store)."""
        self.client.close()
        for probe in self.probes:
            probe.close()
        for proc in self.edges:
            proc.stop()
        self.serve.stop()


def measure_completion(
    fleet: Fleet,
    origin: Origin,
    count: int,
    warmup: int,
    check_every: int,
    run_id: str,
    poll_interval: float = 0.0,
) -> dict[str, Any]:
    """Create `count` invalidations one by one; time 201 -> Completed; check purges."""
    client = fleet.client
    latencies: list[float] = []
    create_ms: list[float] = []
    polls: list[int] = []
    in_201 = 0
    checked = 0
    violations: list[str] = []
    measured_ids: list[str] = []
    for i in range(warmup + count):
        path = f"/{run_id}/p{i}.txt"
        check = i >= warmup and (i - warmup) % check_every == 0
        if check:
            origin.set(path, b"v1 " + path.encode(), headers=CACHEABLE)
            for probe in fleet.probes:
                probe.get(path)
                status, cache, _ = probe.get(path)
                if status != 200 or not cache.startswith("Hit"):
                    violations.append(f"{probe.url}{path} not cached before: {status} {cache!r}")
        sent = time.perf_counter()
        invalidation_id, status_201 = client.create(f"{run_id}-{i}", [path])
        answered = time.perf_counter()
        n_polls = 0
        status = status_201
        while status != "Completed":
            if poll_interval:
                time.sleep(poll_interval)
            status = client.status(invalidation_id)
            n_polls += 1
        done = time.perf_counter()
        if i < warmup:
            continue
        measured_ids.append(invalidation_id)
        latencies.append(done - answered)
        create_ms.append((answered - sent) * 1000)
        polls.append(n_polls)
        in_201 += status_201 == "Completed"
        if check:
            checked += 1
            origin.set(path, b"v2 " + path.encode(), headers=CACHEABLE)
            for probe in fleet.probes:
                status_code, cache, body = probe.get(path)
                if status_code != 200 or not cache.startswith("Miss") or not body.startswith(b"v2"):
                    violations.append(
                        f"{probe.url}{path} after Completed: {status_code} {cache!r} {body[:20]!r}"
                    )
    ms = sorted(x * 1000 for x in latencies)
    return {
        "ids": measured_ids,
        "client_ms": ms,
        "create_ms": sorted(create_ms),
        "polls_mean": sum(polls) / len(polls) if polls else 0.0,
        "completed_in_201": in_201,
        "checked_invalidations": checked,
        "checked_requests": checked * len(fleet.probes),
        "violations": violations,
    }


def server_side_ms(database: Path, ids: list[str]) -> list[float]:
    """complete_time - create_time (ms) of these invalidations, from the store."""
    conn = sqlite3.connect(database)
    try:
        rows = {
            r[0]: (r[1], r[2])
            for r in conn.execute("SELECT id, create_time, complete_time FROM invalidations")
        }
    finally:
        conn.close()
    out = []
    for invalidation_id in ids:
        created, completed = rows[invalidation_id]
        delta = datetime.fromisoformat(completed) - datetime.fromisoformat(created)
        out.append(delta.total_seconds() * 1000)
    return sorted(out)


def summary(values: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max / mean of ascending values."""
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": values[-1] if values else float("nan"),
        "mean": sum(values) / len(values) if values else float("nan"),
    }


def run_size(edges: int, origin: Origin, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Both fleets of one size: --create-wait 0 (timed), then the default create-wait."""
    print(f"  {edges} edge(s): starting the fleet (create-wait 0) ...", flush=True)
    data_dir = root / f"n{edges}-cw0"
    fleet = Fleet(edges, data_dir, origin, create_wait=0.0)
    try:
        timed = measure_completion(
            fleet, origin, args.count, args.warmup, args.check_every, f"n{edges}",
            args.poll_interval,
        )  # fmt: skip
    finally:
        fleet.stop()
    server_ms = server_side_ms(data_dir / "invalidator.db", timed.pop("ids"))
    print(f"  {edges} edge(s): default create-wait, {args.default_count} creates ...", flush=True)
    data_dir = root / f"n{edges}-default"
    fleet = Fleet(edges, data_dir, origin, create_wait=None)
    try:
        default = measure_completion(
            fleet, origin, args.default_count, 3, 10**9, f"d{edges}", args.poll_interval
        )
    finally:
        fleet.stop()
    default.pop("ids")
    return {
        "edges": edges,
        "count": args.count,
        "client_201_to_completed_ms": summary(timed["client_ms"]),
        "server_create_to_complete_ms": summary(server_ms),
        "create_call_ms": summary(timed["create_ms"]),
        "polls_per_invalidation": timed["polls_mean"],
        "completed_in_201_with_create_wait_0": timed["completed_in_201"],
        "purge_checks": {
            "invalidations_checked": timed["checked_invalidations"],
            "edge_requests_checked": timed["checked_requests"],
            "violations": timed["violations"][:20],
            "violation_count": len(timed["violations"]),
        },
        "default_create_wait": {
            "count": args.default_count,
            "completed_in_201": default["completed_in_201"],
            "completed_in_201_percent": 100 * default["completed_in_201"] / args.default_count,
            "create_call_ms": summary(default["create_ms"]),
            "client_201_to_completed_ms": summary(default["client_ms"]),
        },
    }


def print_report(report: dict[str, Any]) -> None:
    """The human-readable table."""
    header = (
        f"{'edges':>5} | {'client p50':>10}{'p99':>8}{'max':>8} | {'server p50':>10}{'p99':>8}"
        f"{'max':>8} | {'create p50':>10}{'p99':>7} | {'polls':>5} | {'201 Completed (0.25 s)':>22}"
    )
    print_heading(
        f"201 -> Completed, {report['count']} invalidations per fleet (one exact path each, "
        f"one at a time), create-wait 0",
        header,
    )
    for row in report["sizes"]:
        c, s = row["client_201_to_completed_ms"], row["server_create_to_complete_ms"]
        k, d = row["create_call_ms"], row["default_create_wait"]
        print(
            f"{row['edges']:>5} | {c['p50']:>10.2f}{c['p99']:>8.2f}{c['max']:>8.2f} | "
            f"{s['p50']:>10.2f}{s['p99']:>8.2f}{s['max']:>8.2f} | {k['p50']:>10.2f}"
            f"{k['p99']:>7.2f} | {row['polls_per_invalidation']:>5.1f} | "
            f"{d['completed_in_201']:>5}/{d['count']} ({d['completed_in_201_percent']:.0f} %)"
        )
    print(
        "(ms; client: 201 received -> first GetInvalidation saying Completed, polled every "
        f"{report['poll_interval_s'] * 1000:g} ms; server: complete_time - create_time "
        "from the store)"
    )
    for row in report["sizes"]:
        checks = row["purge_checks"]
        print(
            f"purge check, {row['edges']} edge(s): {checks['invalidations_checked']} "
            f"invalidations x {row['edges']} edges = {checks['edge_requests_checked']} requests "
            f"cached (Hit) before and Miss with the new body after Completed; violations: "
            f"{checks['violation_count']}"
        )
        for violation in checks["violations"][:5]:
            print(f"    {violation}")
    print_report_end(report)


def main(argv: list[str] | None = None) -> int:
    """Run every fleet size; exit 1 when a purge check failed."""
    parser = bench_parser("python -m bench.propagation", __doc__)
    parser.add_argument("--edges", default="1,4,16", help="fleet sizes, comma-separated")
    parser.add_argument("--count", type=int, default=200, help="timed invalidations per size")
    parser.add_argument("--warmup", type=int, default=10, help="untimed invalidations first")
    parser.add_argument(
        "--check-every", type=int, default=1, help="check the purge on every edge every Nth"
    )
    parser.add_argument(
        "--default-count", type=int, default=100, help="creates with the default create-wait"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.001,
        help="seconds between GetInvalidation polls (0: back to back)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.edges.split(",") if x.strip()]

    os.chdir(ROOT)
    root = Path(tempfile.mkdtemp(prefix="invalidator-bench-propagation-"))
    load_before = os.getloadavg()
    results = []
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, True)
        origin = stack.enter_context(Origin())
        for size in sizes:
            results.append(run_size(size, origin, root, args))

    targets = []
    for row in results:
        if row["edges"] == TARGET_EDGES:
            p99 = row["client_201_to_completed_ms"]["p99"]
            targets.append({
                "name": f"p99 201 -> Completed < {TARGET_P99_MS:g} ms with {TARGET_EDGES} edges",
                "actual": f"{p99:.2f} ms (server-side "
                f"{row['server_create_to_complete_ms']['p99']:.2f} ms)",
                "met": p99 < TARGET_P99_MS,
            })  # fmt: skip
    violations = sum(r["purge_checks"]["violation_count"] for r in results)
    targets.append({
        "name": "every checked edge served a Hit before and a Miss (new body) after Completed",
        "actual": f"{violations} violations",
        "met": violations == 0,
    })  # fmt: skip
    settings = {
        "count": args.count,
        "warmup": args.warmup,
        "check_every": args.check_every,
        "poll_interval_s": args.poll_interval,
    }
    figures = {"sizes": results, "targets": targets}
    save_report("propagation", settings, load_before, figures, print_report)
    return 0 if violations == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
