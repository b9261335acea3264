"""One PNG for a run of `invoke bench`: each row as a multiple of its reference.

Every suite but tiering measures native qemu in the same run, so its rows are
drawn as "x qemu" with a line at 1x and, where the project has a target, a
dashed line at it. Tiering has no native reference: its rows are drawn
against the fastest configuration of the same workload, and its title says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Targets from the design notes: the suite's headline ratio against native qemu.
TARGETS = {"cpu": 5.0, "boot": 10.0}


@dataclass
class Panel:
    title: str
    reference: str  # what 1x is
    labels: list[str]
    ratios: list[float]
    target: float | None = None


def panel(result: dict[str, Any]) -> Panel | None:
    """How one suite's result dict is drawn; None for a suite with nothing to draw."""
    suite, rows = result.get("suite"), result.get("rows") or []
    if not rows:
        return None
    quick = " (quick)" if result.get("quick") else ""
    labels = [r.get("label", "") for r in rows]
    if suite == "cpu":
        return Panel(f"cpu{quick}: time per guest instruction, x qemu-riscv64", "qemu-riscv64",
                     labels, [r["slowdown_vs_qemu"] for r in rows], TARGETS["cpu"])  # fmt: skip
    if suite == "boot":
        return Panel(f"boot{quick}: seconds to the shell prompt, x qemu-system-riscv64",
                     "qemu-system-riscv64", labels, [r["ratio_to_qemu"] for r in rows],
                     TARGETS["boot"])  # fmt: skip
    if suite == "applets":
        count = len(result.get("applets", []))
        return Panel(f"applets{quick}: {count} busybox applets, wall time x qemu-riscv64",
                     "qemu-riscv64", labels, [r["ratio_to_qemu"] for r in rows])  # fmt: skip
    if suite == "tiering":
        best: dict[str, float] = {}
        for r in rows:
            best[r["workload"]] = min(best.get(r["workload"], float("inf")), r["wall_seconds"])
        return Panel(f"tiering{quick}: wall time x the fastest configuration of the same "
                     "workload (no native reference)", "fastest configuration",
                     [f"{r['workload']}: {r['config']}" for r in rows],
                     [r["wall_seconds"] / best[r["workload"]] for r in rows])  # fmt: skip
    return None


def write_chart(results: list[dict[str, Any]], path: Path) -> Path | None:
    """Draw every suite of `results` that has rows into one PNG; None if none has."""
    panels = [p for p in map(panel, results) if p is not None]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: CI and ssh sessions have none
    import matplotlib.pyplot as plt

    heights = [len(p.labels) + 1.5 for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 0.38 * sum(heights) + 1.2),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)  # fmt: skip
    for ax, p in zip(axes[:, 0], panels, strict=True):
        _draw(ax, p)
    machine = results[0].get("machine", {})
    fig.suptitle(f"wasmemu bench, {machine.get('git_commit', '?')}, {machine.get('date', '')}"
                 " (lower is better)")  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _draw(ax: Any, p: Panel) -> None:
    y = list(range(len(p.labels)))
    ax.barh(y, p.ratios, color="tab:blue")
    ax.set_yticks(y, p.labels)
    ax.invert_yaxis()  # first row on top, as in the printed table
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1, label=f"{p.reference} (1x)")
    if p.target is not None:
        ax.axvline(p.target, color="tab:red", linestyle="--", label=f"target {p.target:g}x")
    # Outside the axes, where it cannot hide a bar or its value.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    marks = [*p.ratios, 1.0, p.target or 1.0]
    ax.set_xlim(min(marks) / 1.5, max(marks) * 3)  # room for the value labels
    for yi, ratio in zip(y, p.ratios, strict=True):
        ax.annotate(f"{ratio:.1f}x", (ratio, yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize="small")  # fmt: skip
    ax.set_title(p.title, fontsize="medium", loc="left")
