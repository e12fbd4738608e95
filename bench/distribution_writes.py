"""CreateDistribution cost as the number of stored distributions grows.

    .venv/bin/python -m bench.distribution_writes [--count 1500] [--every 250]

Each distribution write checks the new aliases and CallerReference, in its transaction, on the
event loop, through the store's indexes (the unique CallerReference and `distribution_aliases`),
so its cost should not grow with the number stored. This creates `--count` distributions
in-process through `DistributionService` on a fresh SQLite store (WAL, synchronous=FULL, one
alias each) and prints, at every `--every`-th, the median of the last few creates: the time the
process answers nothing else. Also one ListDistributions page (100 of them) at the end. No peer
and no target: a scaling figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from invalidator.cli.origin_config import config_for_origin
from invalidator.runtime import build_control_plane
from invalidator.settings import load_settings

WINDOW = 10  # creates whose median is reported at each step


async def run(count: int, every: int) -> list[tuple[int, float]]:
    """(distributions stored, median ms of the last WINDOW creates) at each step."""
    with tempfile.TemporaryDirectory(prefix="bench-dists-") as data_dir:
        plane = build_control_plane(load_settings({"data_dir": data_dir}, environ={}))
        figures: list[tuple[int, float]] = []
        recent: list[float] = []
        try:
            for n in range(1, count + 1):
                config = config_for_origin(f"http://127.0.0.1:{1024 + n}", (f"d{n}.example",))
                started = time.perf_counter()
                await plane.distributions.create_distribution(config)
                recent = [*recent[-(WINDOW - 1) :], (time.perf_counter() - started) * 1000]
                if n % every == 0:
                    figures.append((n, statistics.median(recent)))
                    print(f"  {n:6d} stored: CreateDistribution {figures[-1][1]:7.2f} ms")
            started = time.perf_counter()
            await plane.distributions.list_distributions("", "100")
            listed_ms = (time.perf_counter() - started) * 1000
            print(f"  ListDistributions, 100 of {count}: {listed_ms:.2f} ms")
        finally:
            await plane.store.close()
        return figures


def main(argv: list[str] | None = None) -> int:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500, help="distributions to create")
    parser.add_argument("--every", type=int, default=250, help="report every N creates")
    args = parser.parse_args(argv)
    print(f"CreateDistribution in-process, SQLite store, median of {WINDOW} at each step:")
    asyncio.run(run(args.count, args.every))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
