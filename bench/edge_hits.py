"""Cache-hit throughput of our edge vs nginx `proxy_cache`, same origin, same machine, same run.

    .venv/bin/python -m bench.edge_hits [--duration 10] [--connections 64] [--threads 2]

Needs `nginx` and `wrk` on PATH: when they are missing the bench installs them with apt-get if
it runs as root, else prints the command and exits 2.

Servers, all on 127.0.0.1, all fed by one origin (a small HTTP server of the bench that answers
`Cache-Control: max-age=600`):
- ours: `invalidator serve` (control plane only) plus ONE standalone `invalidator edge` process
  (uvicorn + httptools + uvloop), one distribution created through the API;
- nginx with `worker_processes 1` (the same CPU budget as our single process);
- nginx with `worker_processes auto` (one per core: what nginx would really run; our edge has
  no multi-process mode, so this is the comparison against nginx at full strength).
nginx runs from a temp prefix: `proxy_cache_path` in a temp dir, `proxy_cache_valid 200 10m`,
`keepalive_requests` raised (so connections stay up like uvicorn's), access log off,
`add_header X-Cache-Status $upstream_cache_status`.

Workloads: `small` = 100 objects of 1 KB, `large` = 10 objects of 100 KB. Every object is
fetched through every server until it answers a hit; then `wrk` (keep-alive, N connections,
round-robin over the objects) runs for `--duration` seconds against each server in turn. A wrk
Lua hook counts every response that is not a 200 hit (`X-Cache: Hit from invalidator` /
`X-Cache-Status: HIT`); the origin's request counter must not move during the timed runs.
Reports requests/s, latency (p50/p99 from wrk), server CPU, the ratio ours/nginx and the target
(ours >= 0.5 x nginx). Writes bench/results/edge_hits-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from tests.support.origin import Origin

from bench.fleet import (
    ROOT,
    Probe,
    Proc,
    bench_parser,
    create_distribution,
    print_heading,
    print_report_end,
    process_cpu_seconds,
    save_report,
    start_edge,
    start_serve,
    wait_serving,
)

TARGET_RATIO = 0.5
CACHEABLE = [("Cache-Control", "max-age=600"), ("Content-Type", "application/octet-stream")]
WORKLOADS = {"small": (100, 1024), "large": (10, 100 * 1024)}

NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 10000000;
    keepalive_timeout 65;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=bench:10m max_size=1g inactive=60m
                     use_temp_path=off;
    upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_valid 200 10m;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""

WRK_SCRIPT = """\
local paths = {{{paths}}}
local host = "{host}"
local threads = {{}}
hits = 0
others = 0
sample = ""

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    requests = {{}}
    for i, p in ipairs(paths) do
        requests[i] = wrk.format("GET", p, {{["Host"] = host}})
    end
    idx = math.random(#requests)
end

function request()
    idx = idx % #requests + 1
    return requests[idx]
end

function response(status, headers, body)
    local x = headers["x-cache"] or headers["X-Cache"] or headers["X-Cache-Status"]
    if status == 200 and x ~= nil and (x == "HIT" or string.sub(x, 1, 4) == "Hit ") then
        hits = hits + 1
    else
        others = others + 1
        if sample == "" then sample = tostring(status) .. " " .. tostring(x) end
    end
end

function done(summary, latency, requests)
    local h, o, s = 0, 0, ""
    for _, t in ipairs(threads) do
        h = h + t:get("hits")
        o = o + t:get("others")
        if s == "" then s = t:get("sample") end
    end
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "hits": %d, "others": %d, '
        .. '"sample": "%s", "errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
        .. '"max_us": %d, "mean_us": %.1f}}\\n',
        summary.requests, summary.duration, summary.bytes, h, o, s,
        e.connect + e.read + e.write + e.status + e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max, latency.mean))
end
"""


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_tools() -> bool:
    """nginx and wrk on PATH; installs them with apt-get when running as root."""
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if not missing:
        return True
    command = ["apt-get", "install", "-y", *missing]
    if os.geteuid() != 0:
        print(f"missing {', '.join(missing)}; install with: sudo {' '.join(command)}")
        return False
    print(f"installing {', '.join(missing)} ...", flush=True)
    subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
    done = subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
    return done.returncode == 0 and all(shutil.which(t) for t in missing)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (nginx master + workers)."""
    total = process_cpu_seconds(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        with suppress(OSError):
            total += process_cpu_seconds(int(child))
    return total


class Nginx:
    """nginx from a temp prefix in front of the origin."""

    def __init__(self, prefix: Path, workers: str, origin_port: int) -> None:
        prefix.mkdir(parents=True)
        self.port = free_port()
        user = "user root;" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=workers, prefix=prefix, user=user,
                                          origin_port=origin_port, port=self.port))  # fmt: skip
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(prefix / "stderr.log", "wb"),  # noqa: SIM115
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        "nginx did not start: " + (prefix / "stderr.log").read_text()
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Quit (SIGTERM: fast shutdown of master and workers)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def warm(probe: Probe, paths: list[str]) -> None:
    """Fetch each object until it is a hit."""
    for path in paths:
        for _ in range(5):
            status, cache, _ = probe.get(path)
            if status == 200 and (cache == "HIT" or cache.startswith("Hit ")):
                break
        else:
            raise RuntimeError(f"{probe.url}{path} is not cached: {status} {cache!r}")


def run_wrk(
    url: str, host: str, paths: list[str], pid: int, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    """One wrk run; server CPU measured over it."""
    script = tmp / f"wrk-{time.monotonic_ns()}.lua"
    quoted = ", ".join(f'"{p}"' for p in paths)
    script.write_text(WRK_SCRIPT.format(paths=quoted, host=host))
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d",
           f"{args.duration:g}s", "--timeout", "5s", "-s", str(script), url + "/"]  # fmt: skip
    cpu_before = tree_cpu_seconds(pid)
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    cpu = tree_cpu_seconds(pid) - cpu_before
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line[len("WRKJSON ") :])
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_s": raw["requests"] / seconds,
        "mbytes_per_s": raw["bytes"] / seconds / 1e6,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "hits": raw["hits"],
        "not_hits": raw["others"],
        "not_hit_sample": raw["sample"],
        "socket_errors": raw["errors"],
        "server_cpu_percent": 100 * cpu / elapsed,
        "server_cpu_us_per_request": 1e6 * cpu / raw["requests"] if raw["requests"] else 0.0,
    }


def print_report(report: dict[str, Any]) -> None:
    """The human-readable table."""
    header = (
        f"{'workload':<9}{'server':<22}{'req/s':>10}{'MB/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'max ms':>8}{'srv CPU':>9}{'us/req':>8}{'not hit':>9}"
    )
    print_heading(
        f"cache hits, wrk -t{report['threads']} -c{report['connections']} "
        f"-d{report['duration_s']:g}s, keep-alive, round-robin over the objects",
        header,
    )
    for row in report["runs"]:
        print(
            f"{row['workload']:<9}{row['server']:<22}{row['requests_per_s']:>10.0f}"
            f"{row['mbytes_per_s']:>8.1f}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
            f"{row['max_ms']:>8.1f}{row['server_cpu_percent']:>8.0f}%"
            f"{row['server_cpu_us_per_request']:>8.1f}"
            f"{row['not_hits'] + row['socket_errors']:>9}"
        )
    print()
    for ratio in report["ratios"]:
        print(f"ratio ours/{ratio['vs']} ({ratio['workload']}): req/s x{ratio['requests']:.2f}")
    print(f"origin requests during the timed runs: {report['origin_requests_during_runs']}")
    machine = report["machine"]
    print_report_end(report, f"; {machine['nginx']}; {machine['wrk']}")


def main(argv: list[str] | None = None) -> int:
    """Run every server x workload; exit 1 when a response was not a hit, 2 without tools."""
    parser = bench_parser("python -m bench.edge_hits", __doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workloads", default="small,large", help="small, large")
    args = parser.parse_args(argv)
    if not ensure_tools():
        return 2
    workloads = [w for w in args.workloads.split(",") if w]

    os.chdir(ROOT)
    load_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="invalidator-bench-hits-"))
        stack.callback(shutil.rmtree, tmp, True)
        origin = stack.enter_context(Origin())
        paths: dict[str, list[str]] = {}
        for workload in workloads:
            count, size = WORKLOADS[workload]
            paths[workload] = [f"/{workload}/obj-{i}.bin" for i in range(count)]
            for path in paths[workload]:
                origin.set(path, os.urandom(size // 2).hex().encode(), headers=CACHEABLE)
        origin.set("/ready", b"ready", headers=CACHEABLE)

        print("starting invalidator serve + one standalone edge, and nginx ...", flush=True)
        serve = start_serve(tmp / "data")
        stack.callback(serve.stop)
        serve.wait_ready()
        api = serve.urls["invalidator API"]
        _, domain = create_distribution(api, origin.url)
        edge: Proc = start_edge(api, "bench-hits-edge")
        stack.callback(edge.stop)
        edge.wait_ready()
        edge_url = edge.urls["invalidator edge"]
        servers: list[tuple[str, str, str, int]] = [("invalidator edge (1 proc)", edge_url,
                                                     domain, edge.pid)]  # fmt: skip
        for label, workers in (("nginx (1 worker)", "1"), ("nginx (auto workers)", "auto")):
            nginx = Nginx(tmp / f"nginx-{workers}", workers, origin.port)
            stack.callback(nginx.stop)
            servers.append((label, nginx.url, "origin", nginx.proc.pid))
        for _, url, host, _ in servers:
            probe = Probe(url, host)
            wait_serving(probe, "/ready")
            for workload in workloads:
                warm(probe, paths[workload])
            probe.close()

        origin_before = sum(origin.count(p) for w in workloads for p in paths[w])
        for workload in workloads:
            for label, url, host, pid in servers:
                print(f"  {workload}: {label} ...", flush=True)
                row = run_wrk(url, host, paths[workload], pid, args, tmp)
                runs.append({"workload": workload, "server": label, **row})
        origin_after = sum(origin.count(p) for w in workloads for p in paths[w])

    ratios = []
    targets = []
    for workload in workloads:
        rows = {r["server"]: r for r in runs if r["workload"] == workload}
        ours = rows["invalidator edge (1 proc)"]["requests_per_s"]
        for vs in ("nginx (1 worker)", "nginx (auto workers)"):
            ratio = ours / rows[vs]["requests_per_s"]
            ratios.append({"workload": workload, "vs": vs, "requests": ratio})
            targets.append({
                "name": f"{workload}: ours >= {TARGET_RATIO:g} x {vs} req/s",
                "actual": f"x{ratio:.2f}",
                "met": ratio >= TARGET_RATIO,
            })  # fmt: skip
    not_hits = sum(r["not_hits"] + r["socket_errors"] for r in runs)
    targets.append({
        "name": "every timed response a 200 hit, no origin request during the runs",
        "actual": f"{not_hits} not hit, {origin_after - origin_before} origin requests",
        "met": not_hits == 0 and origin_after == origin_before,
    })  # fmt: skip
    nginx_version = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    settings = {
        "duration_s": args.duration,
        "connections": args.connections,
        "threads": args.threads,
        "workloads": {w: {"objects": WORKLOADS[w][0], "bytes": WORKLOADS[w][1]} for w in workloads},
    }
    figures = {
        "runs": runs,
        "ratios": ratios,
        "origin_requests_during_runs": origin_after - origin_before,
        "targets": targets,
    }
    save_report(
        "edge_hits",
        settings,
        load_before,
        figures,
        print_report,
        nginx=nginx_version.stderr.strip(),
        wrk=wrk_version.splitlines()[0][:40] if wrk_version else "wrk",
    )
    return 0 if targets[-1]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
