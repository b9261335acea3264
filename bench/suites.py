"""`invoke bench`: run the chosen suites in turn, then chart them together."""

from __future__ import annotations

import importlib
import time
from typing import Any

from bench.common import results_dir, shown

# Fastest first, so a broken suite stops the run early; boot takes the longest.
SUITES = {
    "cpu": "bench.cpu",
    "applets": "bench.applets",
    "tiering": "bench.tiering",
    "boot": "bench.boot",
}


def run_suites(suite: str = "all", quick: bool = False, node: bool = True) -> list[dict[str, Any]]:
    """Run one suite or all; each prints its table and saves its JSON, then one PNG
    (bench-<timestamp>.png next to the JSON) charts every suite that ran."""
    names = list(SUITES) if suite == "all" else [suite]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise SystemExit(f"unknown suite '{unknown[0]}'; choose one of: all, {', '.join(SUITES)}")
    # Only the boot suite has Node.js rows (about 45 minutes of the full run).
    results = []
    for name in names:
        options = {"node": node} if name == "boot" else {}
        results.append(importlib.import_module(SUITES[name]).main(quick=quick, **options))
    from bench.chart import write_chart

    path = results_dir() / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.png"
    if write_chart(results, path):
        print(f"chart: {shown(path)}")
    return results
