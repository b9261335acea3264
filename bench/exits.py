"""Why generated code returned to Python: one line per benchmark row, under its table.

`--stats` reports "exit_causes" (returns from generated code to the dispatcher in
Python, by cause) and "host_calls" (calls from generated code into Python
helpers, by helper); both are absent from engines older than these counters.
"""

from __future__ import annotations

from typing import Any

TOP = 4


def top(counts: dict[str, int], n: int = TOP) -> str:
    """The n largest counts as "name 1,234, other 56"."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
    return ", ".join(f"{name} {count:,}" for name, count in ranked)


def exit_lines(rows: list[dict[str, Any]]) -> list[str]:
    """For each row with counts: its label, its top exit causes and top host calls."""
    lines = []
    for row in rows:
        parts = []
        if row.get("exit_causes"):
            parts.append(f"exits: {top(row['exit_causes'])}")
        if row.get("host_calls"):
            parts.append(f"host calls: {top(row['host_calls'])}")
        if parts:
            lines.append(f"  {row['label']}: " + "; ".join(parts))
    return lines
