"""`serve` and `edge` hand the heap built at startup to the permanent generation, so a full
garbage collection under load does not walk it again (see `freeze_startup_heap`)."""

from __future__ import annotations

import gc

from invalidator.cli.servers import freeze_startup_heap


def test_startup_objects_leave_the_collectors_generations() -> None:
    survivor = [object() for _ in range(1000)]  # lives as long as the test: like the wiring
    gc.unfreeze()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(survivor)
        assert not any(survivor is tracked for tracked in gc.get_objects())
    finally:
        gc.unfreeze()
