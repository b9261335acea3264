"""The console input ring between the runner's main thread and the VM's Worker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.pyodide_harness import require_node

CHECK = Path(__file__).with_name("input_ring_check.mjs")


def test_every_byte_arrives_in_order_through_a_small_ring_and_the_end_is_seen() -> None:
    node = require_node()
    result = subprocess.run([node, str(CHECK)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["n"] == got["total"]  # far more than the ring holds: the writer waited for room
    assert got["ordered"]
