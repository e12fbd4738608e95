"""Purge cost on the edge cache: exact path and `prefix*` wildcard, vs cache size.

    .venv/bin/python -m bench.edge_purge [--entries 1000000] [--hot 10000] [--small 20000]
                                         [--repeat 5]

Fills an EdgeCache with N small entries (`--hot` of them under `/hot/`, the rest under
`/cold/`), then times over `--repeat` rounds (median reported):
- an exact purge of one path, and the first lookup of that path afterwards;
- a `/hot/*` wildcard purge matching `--hot` entries, the first lookup of a purged entry and
  the first lookup of an unrelated entry (which must still hit);
and repeats the same with `--small` entries in total, the same `--hot` of them under `/hot/`, so
both runs purge the same matched entries and differ only in the unrelated ones: the cost must
not depend on them. Purges are
lazy: the covered entries are dropped when read or by the background sweep, whose throughput is
reported too. Target: every purge under 10 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from invalidator.edge.cache import EdgeCache
from invalidator.edge.freshness import Freshness

TARGET_MS = 10.0
FOREVER = Freshness(storable=True, ttl=10**9)
DIST = "EDIST"


def fill(entries: int, hot: int) -> EdgeCache:
    """A cache holding `entries` small objects, `hot` of them under /hot/."""
    cache = EdgeCache(max_bytes=1 << 40, max_object_bytes=1 << 20)
    body = b"x" * 16
    headers = [("content-type", "text/plain")]
    for i in range(entries):
        path = f"/hot/{i}.html" if i < hot else f"/cold/{i}.html"
        cache.store(DIST, path, "", {}, status=200, headers=headers, body=body,
                    freshness=FOREVER, born_pos=0)  # fmt: skip
    return cache


def timed_ms(action: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action(*args)
    return (time.perf_counter() - start) * 1000, result


def measure(cache: EdgeCache, hot: int, total: int, repeat: int) -> dict[str, float]:
    """Median milliseconds of each operation over `repeat` rounds (positions increase)."""
    samples: dict[str, list[float]] = {}

    def sample(name: str, ms: float) -> None:
        samples.setdefault(name, []).append(ms)

    pos = 0
    for round_ in range(repeat):
        victim = f"/hot/{round_}.html"
        pos += 1
        sample("exact_purge_ms", timed_ms(cache.purge, DIST, [victim], pos)[0])
        ms, hit = timed_ms(cache.lookup, DIST, victim, "", {})
        assert hit is None
        sample("exact_first_lookup_ms", ms)
        pos += 1
        sample("wildcard_purge_ms", timed_ms(cache.purge, DIST, ["/hot/*"], pos)[0])
        purged = f"/hot/{hot - 1 - round_}.html"
        ms, hit = timed_ms(cache.lookup, DIST, purged, "", {})
        assert hit is None
        sample("wildcard_first_lookup_purged_ms", ms)
        ms, hit = timed_ms(cache.lookup, DIST, f"/cold/{total - 1 - round_}.html", "", {})
        assert hit is not None
        sample("wildcard_first_lookup_unrelated_ms", ms)
        # refill the purged objects (born after the purge) for the next round, untimed
        for i in range(hot):
            cache.store(DIST, f"/hot/{i}.html", "", {}, status=200, headers=[], body=b"x",
                        freshness=FOREVER, born_pos=pos)  # fmt: skip
    return {name: statistics.median(values) for name, values in samples.items()}


def sweep_rate(cache: EdgeCache) -> dict[str, float]:
    """A full background sweep in slices of 10,000: total time and the longest slice."""
    slices: list[float] = []
    cache.sweep(10_000)  # starts a walk (snapshot of the keys)
    start = time.perf_counter()
    for _ in range(cache.stats().entries // 10_000 + 2):
        ms, _ = timed_ms(cache.sweep, 10_000)
        slices.append(ms)
    return {"sweep_total_ms": (time.perf_counter() - start) * 1000,
            "sweep_max_slice_ms": max(slices)}  # fmt: skip


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--hot", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=20_000, help="entries of the second run")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.hot < args.small <= args.entries:
        parser.error("need --hot < --small <= --entries (both runs purge the same --hot entries)")
    results: dict[str, Any] = {"target_ms": TARGET_MS}
    for total, hot in ((args.entries, args.hot), (args.small, args.hot)):
        gc.collect()
        fill_ms, cache = timed_ms(fill, total, hot)
        gc.freeze()  # keep the collector from scanning the filled cache inside timings
        figures = measure(cache, hot, total, args.repeat)
        figures.update(sweep_rate(cache))
        figures["fill_s"] = fill_ms / 1000
        results[f"{total}_entries"] = figures
        print(f"\n{total:>9,} entries ({hot:,} under /hot/), median of {args.repeat}:")
        for name, value in figures.items():
            flag = ""
            if name.endswith("purge_ms"):
                flag = "  OK" if value < TARGET_MS else "  OVER TARGET"
            print(f"  {name:<38} {value:10.4f}{flag}")
        del cache
        gc.unfreeze()
    big, small = results[f"{args.entries}_entries"], results[f"{args.small}_entries"]
    print(f"\nratio {args.entries:,} / {args.small:,} entries:")
    for name in ("exact_purge_ms", "wildcard_purge_ms", "wildcard_first_lookup_unrelated_ms"):
        print(f"  {name:<38} {big[name] / small[name]:10.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
