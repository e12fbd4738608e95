"""The load generator process: N concurrent keep-alive clients sending signed CreateInvalidation.

Run by `bench.creates` as `python -m bench.loadgen CONFIG.json RESULT.json`, in a process of
its own so its CPU is not the server's. It is deliberately cheap: uvloop when installed, raw
asyncio streams (HTTP/1.1 keep-alive, one connection per client), a hand-written request line
and headers. Every request is signed for real (SigV4 over host and x-amz-date, with the date
of that request) with `invalidator.api.auth.sigv4.sign_sigv4`, carries a new CallerReference
and 1-3 file paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from invalidator.api.auth.request import SignedRequest, format_basic
from invalidator.api.auth.sigv4 import sign_sigv4

_ID = re.compile(rb"<Id>([A-Z0-9]+)</Id>")
_NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"


@dataclass
class Config:
    """What to load and for how long (all times in seconds)."""

    host: str
    port: int
    distribution_id: str
    access_key_id: str
    secret_access_key: str
    clients: int = 16
    warmup: float = 2.0
    duration: float = 10.0
    region: str = "us-east-1"
    version: str = "2020-05-31"
    run_id: str = "bench"


@dataclass
class Totals:
    """Everything the clients saw, warm-up included (for the durability check)."""

    created_ids: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    window_latencies: list[float] = field(default_factory=list)
    window_ok: int = 0
    window_errors: int = 0
    transport_errors: int = 0
    reconnects: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """(Re)connect."""
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        """Drop the connection."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def roundtrip(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read one response: (status, body, server wants close)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        close = head.startswith(b"HTTP/1.0")
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"connection":
                close = value.strip().lower() == b"close"
            elif lname == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by the load generator")
        if length >= 0:
            body = await self.reader.readexactly(length)
        else:
            body = await self.reader.read()
            close = True
        if close:
            self.close()
        return status, body, close


def _body(caller_reference: str, paths: list[str]) -> bytes:
    items = "".join(f"<Path>{p}</Path>" for p in paths)
    return (
        f'<InvalidationBatch xmlns="{_NS}"><Paths><Quantity>{len(paths)}</Quantity>'
        f"<Items>{items}</Items></Paths><CallerReference>{caller_reference}</CallerReference>"
        "</InvalidationBatch>"
    ).encode()


async def _client(index: int, cfg: Config, t_measure: float, t_end: float, out: Totals) -> None:
    conn = Connection(cfg.host, cfg.port)
    await conn.open()
    path = f"/{cfg.version}/distribution/{cfg.distribution_id}/invalidation"
    host_header = f"{cfg.host}:{cfg.port}"
    n = 0
    try:
        while True:
            started = time.perf_counter()
            if started >= t_end:
                return
            n += 1
            ref = f"{cfg.run_id}-{index}-{n}"
            paths = [f"/bench/c{index}/r{n}/f{j}.html" for j in range(1 + (n + index) % 3)]
            body = _body(ref, paths)
            now = datetime.now(UTC)
            amz_date = format_basic(now)
            signed = SignedRequest(
                method="POST",
                raw_path=path,
                query_string="",
                headers=(("host", host_header), ("x-amz-date", amz_date)),
                body=body,
            )
            auth = sign_sigv4(signed, cfg.access_key_id, cfg.secret_access_key, now, cfg.region)
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nX-Amz-Date: {amz_date}\r\n"
                f"Authorization: {auth}\r\nContent-Length: {len(body)}\r\n"
                "User-Agent: invalidator-bench\r\n\r\n"
            ).encode() + body
            try:
                status, response, closed = await conn.roundtrip(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                out.transport_errors += 1
                if len(out.error_samples) < 10:
                    out.error_samples.append(f"transport: {exc!r}")
                conn.close()
                await asyncio.sleep(0.01)
                continue
            finished = time.perf_counter()
            if closed:
                out.reconnects += 1
            out.statuses[status] += 1
            ok = status == 201
            if ok:
                found = _ID.search(response)
                if found:
                    out.created_ids.append(found.group(1).decode())
            elif len(out.error_samples) < 10:
                out.error_samples.append(f"{status}: {response[:300]!r}")
            if t_measure <= started and finished <= t_end:
                out.window_latencies.append(finished - started)
                if ok:
                    out.window_ok += 1
                else:
                    out.window_errors += 1
    finally:
        conn.close()


def _cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


async def run(cfg: Config) -> dict[str, Any]:
    """Run the clients; returns the raw results."""
    out = Totals()
    t0 = time.perf_counter()
    t_measure = t0 + cfg.warmup
    t_end = t_measure + cfg.duration
    cpu_at_measure: list[float] = []

    async def mark() -> None:
        await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
        cpu_at_measure.append(_cpu_seconds())

    marker = asyncio.create_task(mark())
    await asyncio.gather(*(_client(i, cfg, t_measure, t_end, out) for i in range(cfg.clients)))
    cpu_end = _cpu_seconds()
    with contextlib.suppress(asyncio.CancelledError):
        await marker
    cpu_start = cpu_at_measure[0] if cpu_at_measure else cpu_end
    return {
        "window_seconds": cfg.duration,
        "window_ok": out.window_ok,
        "window_errors": out.window_errors,
        "window_latencies": out.window_latencies,
        "statuses": {str(k): v for k, v in sorted(out.statuses.items())},
        "total_201": out.statuses.get(201, 0),
        "total_non_201": sum(v for k, v in out.statuses.items() if k != 201),
        "transport_errors": out.transport_errors,
        "reconnects": out.reconnects,
        "error_samples": out.error_samples,
        "created_ids": out.created_ids,
        "loadgen_cpu_seconds_in_window": cpu_end - cpu_start,
    }


def main() -> None:
    """`python -m bench.loadgen CONFIG.json RESULT.json`."""
    config_path, result_path = sys.argv[1], sys.argv[2]
    with open(config_path) as handle:
        cfg = Config(**json.load(handle))
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    result = runner(run(cfg))
    with open(result_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
