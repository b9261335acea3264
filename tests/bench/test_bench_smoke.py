"""`invoke bench --quick`, every suite, as CI runs it: the plumbing, never the timings.

Heavy (the quick boot suite alone boots the guest twice), so it keeps a worker
of its own. Results go to a temporary folder, not bench/results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The start of each suite's table title.
TITLES = {
    "cpu": "cpu suite (quick): qemu-riscv64",
    "applets": "applets (quick):",
    "tiering": "tiering: wall time per configuration",
    "boot": "boot to shell: qemu-system-riscv64",
}


@pytest.mark.xdist_group("bench")
def test_quick_bench_saves_every_suite_and_one_chart(tmp_path: Path) -> None:
    env = {**os.environ, "WASMEMU_BENCH_RESULTS": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "invoke", "bench", "--quick"], cwd=REPO_ROOT,
                       env=env, capture_output=True, text=True, timeout=3600)  # fmt: skip
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    for suite, title in TITLES.items():
        assert title in r.stdout, suite
        [path] = tmp_path.glob(f"{suite}-*.json")
        result = json.loads(path.read_text())
        assert (result["suite"], result["quick"]) == (suite, True)
        assert result["machine"]["git_commit"] and result["machine"]["cpu"]
        assert result["rows"], suite
    [chart] = tmp_path.glob("bench-*.png")
    assert chart.read_bytes().startswith(PNG_MAGIC)
    assert f"chart: {chart}" in r.stdout
