"""The garbage collector once the gateway has started.

What is alive when the warm-up ends (the modules, the catalog, the vendor SDKs and their
clients: ~280,000 objects) lives as long as the process, yet every full collection walked it
again, and a request makes enough short-lived objects to trigger collections all the time.
`gc.freeze()` moves the start-up objects out of the collector's generations, and a larger first
threshold collects the requests' garbage less often. Measured A/B against the nginx mock (one
pinned worker, wrk c=8, two alternating rounds): a JSON request 0.85-0.89 CPU ms against
0.97-1.04, a streamed one 1.30 against 1.38 (bench/profile.md).
"""

from __future__ import annotations

import gc

# Allocations between collections of the youngest generation (Python's default: 700), and how
# many of those before the next generation is collected (its defaults: 10 and 10).
THRESHOLDS = (20_000, 50, 100)


def settle_after_start() -> None:
    """Freeze what start-up left alive and collect the requests' garbage in larger batches."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
