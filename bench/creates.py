"""Durable CreateInvalidation throughput and latency: invalidator vs moto_server.

    .venv/bin/python -m bench.creates [--duration 10] [--warmup 2] [--clients 16]

Starts a real `invalidator serve` (embedded default: SQLite, WAL, synchronous=FULL, group
commit) on a fresh data directory and a real `moto_server`, each on a free port, creates one
distribution in each, then runs the same load (`bench.loadgen`, a separate process) against
each in turn: N keep-alive clients, each request SigV4-signed with its own date, a new
CallerReference and 1-3 file paths. Reports creates/s, p50/p99/p99.9 latency, errors, server
and load-generator CPU, the ratios invalidator/moto, whether the targets were met, and checks
durability: after SIGKILLing invalidator, the database holds exactly the invalidations that
were answered 201. Writes bench/results/creates-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ServerProcess, server_env

from bench.fleet import ROOT, bench_parser, print_heading, print_report_end, save_report
from bench.loadgen import Config

TARGET_RATIO = 20.0
TARGET_P99_MS = 20.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")
DISTRIBUTION_CONFIG: dict[str, Any] = {
    "CallerReference": "bench-distribution",
    "Comment": "bench",
    "Enabled": True,
    "Origins": {
        "Quantity": 1,
        "Items": [
            {
                "Id": "origin",
                "DomainName": "origin.example.com",
                "CustomOriginConfig": {
                    "HTTPPort": 80,
                    "HTTPSPort": 443,
                    "OriginProtocolPolicy": "http-only",
                },
            }
        ],
    },
    "DefaultCacheBehavior": {
        "TargetOriginId": "origin",
        "ViewerProtocolPolicy": "allow-all",
        "MinTTL": 0,
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
    },
}


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / _CLK_TCK


def filesystem_of(path: Path) -> str:
    """The mount point and type holding `path` (fsync on tmpfs would prove nothing)."""
    best = ("", "?")
    with open("/proc/mounts") as handle:
        for line in handle:
            parts = line.split()
            mount, kind = parts[1], parts[2]
            if str(path).startswith(mount) and len(mount) > len(best[0]):
                best = (mount, kind)
    return f"{best[1]} at {best[0]}"


def check_durability_settings(data_dir: Path) -> dict[str, Any]:
    """What invalidator's own connection code sets: journal WAL, synchronous FULL (2)."""
    from invalidator.store.sqlite import _connect, migrate

    probe = data_dir / "pragma-probe.db"
    conn = _connect(probe)
    try:
        migrate(conn)
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{probe}{suffix}").unlink(missing_ok=True)
    return {
        "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(synchronous, "?"),
        "journal_mode": journal,
        "ok": synchronous >= 2 and journal == "wal",
        "filesystem": filesystem_of(data_dir),
    }


# -- servers -------------------------------------------------------------------------------


def start_invalidator(
    data_dir: Path, create_wait: float | None = None
) -> tuple[ServerProcess, str]:
    """`invalidator serve --port 0` with log level warning (and `create_wait` when given, else
    serve's default); one distribution."""
    extra = {} if create_wait is None else {"INVALIDATOR_CREATE_WAIT": f"{create_wait:g}"}
    server = ServerProcess(data_dir, server_env(INVALIDATOR_LOG_LEVEL="warning", **extra))
    server.start()
    try:
        return server, _invalidator_distribution(server)
    except BaseException:
        server.kill()
        raise


def _invalidator_distribution(server: ServerProcess) -> str:
    """Through the CreateDistribution API when the server has it, else the store helper."""
    errors: list[str] = []
    try:
        created = server.client().create_distribution(DistributionConfig=DISTRIBUTION_CONFIG)
        return str(created["Distribution"]["Id"])
    except Exception as exc:
        errors.append(f"CreateDistribution API: {exc!r}")
    try:
        return server.create_distribution().id
    except Exception as exc:
        errors.append(f"tests.support.server.create_distribution: {exc!r}")
    raise RuntimeError("cannot create a distribution in invalidator: " + "; ".join(errors))


def start_moto() -> tuple[subprocess.Popen[bytes], int, str]:
    """`moto_server -p PORT`; one distribution created with boto3."""
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    cmd = [str(binary)] if binary.exists() else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen(
        [*cmd, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    import boto3

    client = boto3.client(
        "cloudfront",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    created = client.create_distribution(DistributionConfig=DISTRIBUTION_CONFIG)
    return proc, port, created["Distribution"]["Id"]


# -- one measured run ----------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def run_load(
    name: str, port: int, distribution_id: str, server_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Run `bench.loadgen` against one server; summarise."""
    cfg = Config(
        host="127.0.0.1",
        port=port,
        distribution_id=distribution_id,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        clients=args.clients,
        warmup=args.warmup,
        duration=args.duration,
        run_id=f"bench-{name}-{int(time.time())}",
    )
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as tmp:
        config_path = Path(tmp) / "config.json"
        result_path = Path(tmp) / "result.json"
        config_path.write_text(json.dumps(asdict(cfg)))
        print(
            f"  {name}: {args.clients} clients, {args.warmup:g} s warm-up, "
            f"{args.duration:g} s measured ...",
            flush=True,
        )
        gen = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", str(config_path), str(result_path)],
            cwd=ROOT,
        )
        time.sleep(args.warmup)
        server_cpu_start = process_cpu_seconds(server_pid)
        time.sleep(args.duration)
        server_cpu_end = process_cpu_seconds(server_pid)
        if gen.wait(timeout=args.duration + args.warmup + 120) != 0:
            raise RuntimeError(f"load generator failed against {name}")
        raw = json.loads(result_path.read_text())
    latencies = sorted(raw.pop("window_latencies"))
    window = raw["window_seconds"]
    server_cpu = server_cpu_end - server_cpu_start
    return {
        "server": name,
        "creates_per_s": raw["window_ok"] / window,
        "requests_in_window": len(latencies),
        "ok_in_window": raw["window_ok"],
        "errors_in_window": raw["window_errors"],
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "p999_ms": percentile(latencies, 99.9) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else float("nan"),
        "mean_ms": (sum(latencies) / len(latencies) * 1000) if latencies else float("nan"),
        "server_cpu_percent": 100 * server_cpu / window,
        "server_cpu_us_per_create": (
            1e6 * server_cpu / raw["window_ok"] if raw["window_ok"] else float("nan")
        ),
        "loadgen_cpu_percent": 100 * raw["loadgen_cpu_seconds_in_window"] / window,
        "statuses_all": raw["statuses"],
        "total_201": raw["total_201"],
        "total_non_201": raw["total_non_201"],
        "transport_errors": raw["transport_errors"],
        "reconnects": raw["reconnects"],
        "error_samples": raw["error_samples"],
        "_created_ids": raw["created_ids"],
    }


def verify_durability(
    server: ServerProcess, distribution_id: str, result: dict[str, Any]
) -> dict[str, Any]:
    """SIGKILL the server, then compare the database with every 201 received."""
    server.kill()  # no graceful flush: what is counted is what was committed before the 201
    conn = sqlite3.connect(server.data_dir / "invalidator.db")
    try:
        rows = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM invalidations WHERE distribution_id = ?", (distribution_id,)
            )
        }
    finally:
        conn.close()
    answered = set(result["_created_ids"])
    return {
        "rows_in_db": len(rows),
        "responses_201": result["total_201"],
        "ids_answered_201_missing_from_db": len(answered - rows),
        "ok": len(rows) == result["total_201"] and not (answered - rows),
    }


# -- report --------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    """The human-readable table."""
    inv, moto = report["invalidator"], report["moto"]
    header = (
        f"{'server':<12}{'creates/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}"
        f"{'max ms':>9}{'errors':>8}{'srv CPU':>9}{'gen CPU':>9}{'srv us/op':>11}"
    )
    print_heading(
        f"CreateInvalidation, {report['clients']} clients, {report['duration_s']:g} s measured "
        f"(after {report['warmup_s']:g} s warm-up), SigV4-signed, 1-3 paths each; "
        f"invalidator create-wait: {report['create_wait_s']}",
        header,
    )
    for row in (inv, moto):
        errors = row["errors_in_window"] + row["transport_errors"]
        print(
            f"{row['server']:<12}{row['creates_per_s']:>11.1f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['p999_ms']:>10.2f}{row['max_ms']:>9.2f}{errors:>8}"
            f"{row['server_cpu_percent']:>8.0f}%{row['loadgen_cpu_percent']:>8.0f}%"
            f"{row['server_cpu_us_per_create']:>11.0f}"
        )
    ratios = report["ratios"]
    print()
    print(
        f"ratio invalidator/moto: creates/s x{ratios['creates_per_s']:.2f}, "
        f"p99 x{ratios['p99']:.3f}"
    )
    for row in (inv, moto):
        if row["total_non_201"] or row["transport_errors"]:
            print(
                f"  {row['server']}: non-201 {row['statuses_all']}, transport errors "
                f"{row['transport_errors']}; samples: {row['error_samples'][:3]}"
            )
    durable = report["durability_settings"]
    print(
        f"durability settings (invalidator.store.sqlite._connect + migrate): "
        f"journal_mode={durable['journal_mode']}, synchronous={durable['synchronous']}, "
        f"data dir on {durable['filesystem']}"
    )
    check = report["durability_check"]
    print(
        f"durability check after SIGKILL: {check['rows_in_db']} rows in the DB, "
        f"{check['responses_201']} responses 201, "
        f"{check['ids_answered_201_missing_from_db']} answered ids missing -> "
        f"{'OK' if check['ok'] else 'FAILED'}"
    )
    print_report_end(report)


def main(argv: list[str] | None = None) -> int:
    """Run both servers, measure, report; exit 1 if a check failed."""
    parser = bench_parser("python -m bench.creates", __doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--create-wait",
        type=float,
        default=None,
        help="invalidator's create-wait in seconds (default: serve's own, 0.25; 0 = the 201 "
        "says InProgress at once, as CloudFront's does, and the edge purges in the background)",
    )
    args = parser.parse_args(argv)

    os.chdir(ROOT)
    data_root = Path(tempfile.mkdtemp(prefix="invalidator-bench-"))
    durability_settings = check_durability_settings(data_root)
    load_before = os.getloadavg()
    print("starting invalidator serve and moto_server ...", flush=True)
    inv_server, inv_dist = start_invalidator(data_root / "data", args.create_wait)
    moto_proc: subprocess.Popen[bytes] | None = None
    try:
        moto_proc, moto_port, moto_dist = start_moto()
        assert inv_server.proc is not None
        inv_port = int(inv_server.url.rsplit(":", 1)[1])
        inv = run_load("invalidator", inv_port, inv_dist, inv_server.proc.pid, args)
        durability_check = verify_durability(inv_server, inv_dist, inv)
        moto = run_load("moto_server", moto_port, moto_dist, moto_proc.pid, args)
    finally:
        inv_server.kill()
        if moto_proc is not None:
            moto_proc.kill()
            moto_proc.wait(10)
        shutil.rmtree(data_root, ignore_errors=True)

    for row in (inv, moto):
        row.pop("_created_ids")
    ratio_rate = inv["creates_per_s"] / moto["creates_per_s"] if moto["creates_per_s"] else 0.0
    ratio_p99 = inv["p99_ms"] / moto["p99_ms"] if moto["p99_ms"] else float("nan")
    inv_errors = inv["total_non_201"] + inv["transport_errors"]
    inv_requests = inv["total_201"] + inv_errors
    targets = [
        {
            "name": f"creates/s >= {TARGET_RATIO:g}x moto_server (fsync-durable)",
            "actual": f"x{ratio_rate:.2f}",
            "met": ratio_rate >= TARGET_RATIO and durability_settings["ok"],
        },
        {
            "name": f"p99 < {TARGET_P99_MS:g} ms at {args.clients} clients",
            "actual": f"{inv['p99_ms']:.2f} ms",
            "met": inv["p99_ms"] < TARGET_P99_MS,
        },
        {
            "name": "nearly all answers 201 (errors < 0.1%)",
            "actual": f"{inv_errors} of {inv_requests} (invalidator), "
            f"{moto['total_non_201'] + moto['transport_errors']} (moto)",
            "met": inv_errors <= 0.001 * max(1, inv_requests),
        },
        {
            "name": "every 201 is in the database after SIGKILL",
            "actual": f"{durability_check['rows_in_db']} rows"
            f" / {durability_check['responses_201']} answers 201",
            "met": durability_check["ok"],
        },
    ]
    settings = {
        "clients": args.clients,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "create_wait_s": "serve's default" if args.create_wait is None else args.create_wait,
    }
    figures = {
        "invalidator": inv,
        "moto": moto,
        "ratios": {"creates_per_s": ratio_rate, "p99": ratio_p99},
        "durability_settings": durability_settings,
        "durability_check": durability_check,
        "targets": targets,
    }
    save_report("creates", settings, load_before, figures, print_report)
    checks_ok = durability_check["ok"] and durability_settings["ok"] and targets[2]["met"]
    return 0 if checks_ok else 1


if __name__ == "__main__":
    sys.exit(main())
