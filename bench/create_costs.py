"""Where a create's CPU goes: the HTTP floor, the pure steps, the pipeline, the sockets.

    .venv/bin/python -m bench.create_costs [--duration 10] [--warmup 2] [--clients 16]

`bench.creates` reports server CPU per create; this splits it, measured in one run:

1. the HTTP floor: a bare ASGI app (it reads the body, answers a fixed 201) under uvicorn with
   httptools and uvloop, as `serve` runs, driven by the same `bench.loadgen` load
   (SigV4-signed CreateInvalidation requests, 16 keep-alive clients); server CPU per request;
2. each pure step of a create, timed in-process (`timeit`, best of 5): parsing and verifying
   the SigV4 signature, reading the `InvalidationBatch` XML, validating its paths, writing the
   `<Invalidation>` answer, formatting one JSON log line;
3. the pipeline without HTTP, in this process: 16 tasks calling
   `InvalidationService.create_invalidation` on the embedded default (SQLite, group commit,
   coordinator, the built-in edge over its in-process link, the default create-wait); then 16
   tasks calling the ASGI app itself with signed requests (routing, authentication against the
   store, the same pipeline, the answer; the tasks' own signing is included, ~25 µs);
4. the real `invalidator serve` under the load of 1; server CPU per create.

What 4 costs above 3 is the sockets under this load: reading and writing each request, the
event-loop wake-ups between them; a bare server at 1 pays that too but in far larger batches.
No peer and no target: a breakdown, for deciding what to make faster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY

from bench.creates import free_port, run_load, start_invalidator
from bench.fleet import ROOT, bench_parser
from invalidator.api.auth.request import SignedRequest, format_basic, parse_authorization
from invalidator.api.auth.sigv4 import sign_sigv4, verify_sigv4
from invalidator.api.wire.invalidation_xml import (
    invalidation_batch_document,
    invalidation_document,
    read_invalidation_batch,
)
from invalidator.cli.origin_config import config_for_origin
from invalidator.domain.batches import Limits, validate_batch
from invalidator.domain.ids import RandomIds
from invalidator.domain.models import Invalidation, InvalidationStatus
from invalidator.logs import JsonFormatter
from invalidator.propagation.local_link import LocalLink
from invalidator.runtime import build_control_plane, build_edge, ensure_access_key
from invalidator.settings import load_settings

_ANSWER = b'<?xml version="1.0"?>\n<Invalidation><Id>I0000000000000</Id></Invalidation>'
_Message = dict[str, Any]


async def bare_app(
    scope: _Message,
    receive: Callable[[], Awaitable[_Message]],
    send: Callable[[_Message], Awaitable[None]],
) -> None:
    """The floor: read the body, answer 201 with a fixed `<Id>` (the load generator's check)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"text/xml"), (b"content-length", b"%d" % len(_ANSWER))]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": _ANSWER})


def _start_bare(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.create_costs:bare_app", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the bare uvicorn app did not start") from None
            time.sleep(0.1)


def pure_steps(number: int = 2000) -> dict[str, float]:
    """Microseconds per call of each pure step of one create (2 paths, SigV4)."""
    paths = ("/bench/c1/r1/f0.html", "/bench/c1/r1/f1.html")
    body = invalidation_batch_document(paths, "bench-1-1", "2020-05-31")
    now = datetime.now(UTC)
    path = "/2020-05-31/distribution/EBENCHDIST0001/invalidation"
    host = (("host", "127.0.0.1:8080"), ("x-amz-date", format_basic(now)))
    secret = "x" * 40
    unsigned = SignedRequest("POST", path, "", host, body)
    auth = sign_sigv4(unsigned, "AKIABENCH", secret, now, "us-east-1")
    signed = SignedRequest(
        "POST", path, "", (*host, ("authorization", auth), ("content-length", str(len(body)))), body
    )
    parsed = parse_authorization(signed, "2020-05-31")
    limits = Limits()
    invalidation = Invalidation(
        "I0000000000000", "EBENCHDIST0001", 1, "bench-1-1", paths,
        InvalidationStatus.IN_PROGRESS, now, None, 1,
    )  # fmt: skip
    formatter = JsonFormatter()
    record = logging.LogRecord("invalidator.api", logging.INFO, __file__, 0, "request", None, None)
    record.__dict__.update(
        request_id="8d3c1e8e-2f1a-4c55-9d7e-0b1f1c2d3e4f", method="POST", path=path,
        operation="CreateInvalidation", status=201, error_code="-", access_key_id="AKIABENCH",
        duration_ms=7.25,
    )  # fmt: skip
    steps: dict[str, Callable[[], object]] = {
        "SigV4: parse Authorization": lambda: parse_authorization(signed, "2020-05-31"),
        "SigV4: verify signature": lambda: verify_sigv4(signed, parsed, secret, now),
        "read InvalidationBatch XML": lambda: read_invalidation_batch(body, 3000),
        "validate the batch": lambda: validate_batch(
            "bench-1-1", 2, paths, tags_allowed=False, limits=limits
        ),
        "write the <Invalidation> answer": lambda: invalidation_document(
            invalidation, "2020-05-31"
        ),
        "format one JSON log line": lambda: formatter.format(record),
    }
    return {
        name: min(timeit.repeat(step, number=number, repeat=5)) / number * 1e6
        for name, step in steps.items()
    }


async def _asgi_create(app: Any, path: str, body: bytes) -> int:
    """One signed CreateInvalidation through the ASGI app; the answer's status."""
    now = datetime.now(UTC)
    amz_date = format_basic(now)
    host = (("host", "127.0.0.1:8080"), ("x-amz-date", amz_date))
    auth = sign_sigv4(
        SignedRequest("POST", path, "", host, body), ACCESS_KEY_ID, SECRET_ACCESS_KEY, now,
        "us-east-1",
    )  # fmt: skip
    headers = [(k.encode(), v.encode()) for k, v in host]
    headers += [(b"authorization", auth.encode()), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "http_version": "1.1", "scheme": "http",
        "server": ("127.0.0.1", 8080), "headers": headers,
    }  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    statuses: list[int] = []

    async def receive() -> _Message:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never goes away
        raise AssertionError("unreachable")

    async def send(message: _Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


async def pipeline(clients: int, seconds: float, *, through_app: bool) -> dict[str, float]:
    """Creates/s and CPU µs per create of `clients` tasks for `seconds`, in this process."""
    with tempfile.TemporaryDirectory(prefix="invalidator-costs-") as data_dir:
        environ = {
            "INVALIDATOR_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "INVALIDATOR_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }
        settings = load_settings({"data_dir": data_dir}, environ=environ)
        plane = build_control_plane(settings)
        await ensure_access_key(plane.store, settings, plane.clock, RandomIds())
        await plane.start()
        edge = build_edge(settings, LocalLink(plane.propagation, plane.store), "", "")
        await edge.start()
        try:
            origin = config_for_origin("http://127.0.0.1:1024", ("costs.example",))
            view, _ = await plane.distributions.create_distribution(origin)
            dist = view.distribution.id
            path = f"/2020-05-31/distribution/{dist}/invalidation"
            done = 0
            failed = 0
            deadline = time.perf_counter() + seconds

            async def client(index: int) -> None:
                nonlocal done, failed
                n = 0
                while time.perf_counter() < deadline:
                    n += 1
                    ref = f"costs-{index}-{n}"
                    paths = (f"/c{index}/r{n}/f0.html", f"/c{index}/r{n}/f1.html")
                    if through_app:
                        body = invalidation_batch_document(paths, ref, "2020-05-31")
                        failed += await _asgi_create(plane.app, path, body) != 201
                    else:
                        await plane.service.create_invalidation(dist, ref, len(paths), paths)
                    done += 1

            cpu_before, started = os.times(), time.perf_counter()
            await asyncio.gather(*(client(i) for i in range(clients)))
            cpu_after, elapsed = os.times(), time.perf_counter() - started
        finally:
            await edge.stop()
            await plane.stop()
    if failed:
        raise RuntimeError(f"{failed} of {done} in-process creates were not answered 201")
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {"per_s": done / elapsed, "cpu_percent": 100 * cpu / elapsed, "us": 1e6 * cpu / done}


def main(argv: list[str] | None = None) -> int:
    """Measure the parts and print them side by side."""
    parser = bench_parser("python -m bench.create_costs", __doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    args = parser.parse_args(argv)
    os.chdir(ROOT)

    port = free_port()
    bare = _start_bare(port)
    try:
        floor = run_load("bare uvicorn", port, "EBENCHDIST0001", bare.pid, args)
    finally:
        bare.kill()
        bare.wait(10)
    steps = pure_steps()
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    service = runner(pipeline(args.clients, args.duration / 2, through_app=False))
    in_app = runner(pipeline(args.clients, args.duration / 2, through_app=True))
    data_root = Path(tempfile.mkdtemp(prefix="invalidator-costs-"))
    server, distribution_id = start_invalidator(data_root / "data")
    try:
        assert server.proc is not None
        server_port = int(server.url.rsplit(":", 1)[1])
        real = run_load("invalidator", server_port, distribution_id, server.proc.pid, args)
    finally:
        server.kill()
        shutil.rmtree(data_root, ignore_errors=True)

    print()
    print(f"CreateInvalidation load, {args.clients} clients, {args.duration:g} s measured:")
    for row in (floor, real):
        print(
            f"  {row['server']:<14} {row['creates_per_s']:8.0f} answers/s, server CPU "
            f"{row['server_cpu_percent']:4.0f}%, {row['server_cpu_us_per_create']:6.0f} µs/request,"
            f" load generator CPU {row['loadgen_cpu_percent']:3.0f}%"
        )
    print("pure steps of one create, in-process (best of 5):")
    for name, micros in steps.items():
        print(f"  {name:<34} {micros:6.1f} µs")
    print(f"the pipeline in-process, {args.clients} tasks, {args.duration / 2:g} s, no sockets:")
    for name, row in (("InvalidationService", service), ("the ASGI app, signed", in_app)):
        print(
            f"  {name:<22} {row['per_s']:8.0f} creates/s, CPU {row['cpu_percent']:4.0f}%, "
            f"{row['us']:6.0f} µs/create"
        )
    total_us = real["server_cpu_us_per_create"]
    print(
        f"invalidator serve {total_us:.0f} µs/create: the ASGI app in-process {in_app['us']:.0f}"
        f" (of which InvalidationService {service['us']:.0f}, pure steps "
        f"{sum(steps.values()):.0f}), sockets and wake-ups {total_us - in_app['us']:.0f} "
        f"(a bare uvicorn app: {floor['server_cpu_us_per_create']:.0f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
