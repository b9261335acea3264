"""The tiering suite: is an interpreter tier worth having, and at what threshold?

Two workloads pull in opposite directions: a compute-bound one (cpubench,
where hot code should reach Wasm quickly) and a translation-heavy one (many
busybox applets started once each, where most code runs a few times and
compiling it costs more than interpreting it). Each runs under the eager Wasm
tier (no interpreter), under `auto` at several thresholds, and under the
interpreter alone; wall time includes everything a user waits for.
"""

from __future__ import annotations

from typing import Any

from bench.common import ROOT, build_guest, machine_info, run_wasmemu, save, shown

THRESHOLDS = [1, 10, 50, 200, 1000]
APPLETS = "; ".join([
    "echo a", "seq 3", "basename /x/y", "printf '%s\\n' b", "expr 6 \\* 7",
    "sort -r /etc/hostname", "wc -c /etc/hostname", "md5sum /etc/hostname",
    "tr a-z A-Z </etc/hostname", "od -c /etc/hostname",
])  # fmt: skip


def _workloads(quick: bool) -> list[tuple[str, list[str]]]:
    from wasmemu_images.guest_tools import busybox_path

    cpu = str(build_guest(ROOT / "bench" / "programs" / "cpubench.c"))
    busybox = str(busybox_path())
    return [
        ("cpubench", [cpu, "0.25" if quick else "2"]),
        ("busybox applets", [busybox, "sh", "-c", APPLETS]),
    ]


def run(quick: bool = False) -> dict[str, Any]:
    configs: list[tuple[str, list[str]]] = [("wasm (no interpreter)", ["--tier", "wasm"])]
    thresholds = [50] if quick else THRESHOLDS  # the smoke run: the default threshold only
    configs += [(f"auto, threshold {t}", ["--tier", "auto", "--tb-threshold", str(t)])
                for t in thresholds]  # fmt: skip
    configs.append(("interp only", ["--tier", "interp"]))
    rows = []
    for workload, args in _workloads(quick):
        for label, options in configs:
            stats, _out = run_wasmemu([*options, *args])
            rows.append({
                "workload": workload,
                "config": label,
                "wall_seconds": stats["wall_seconds"],
                "instructions": stats["instret"],
                "tbs_translated": stats["tbs_translated"],
                "tbs_compiled": stats["tbs_compiled"],
                "translate_seconds": stats["translate_seconds"],
                "compile_seconds": stats["compile_seconds"],
            })  # fmt: skip
    return {"suite": "tiering", "quick": quick, "machine": machine_info(), "rows": rows}


def report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tiering: wall time per configuration (lower is better)")
    for col in ("workload", "configuration", "wall s", "guest insns", "TBs translated",
                "TBs compiled", "translate s", "compile s"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in result["rows"]:
        table.add_row(
            r["workload"], r["config"], f"{r['wall_seconds']:.2f}", f"{r['instructions']:,}",
            str(r["tbs_translated"]), str(r["tbs_compiled"]), f"{r['translate_seconds']:.2f}",
            f"{r['compile_seconds']:.2f}",
        )  # fmt: skip
    console = Console(width=max(Console().width, 140))
    console.print(table)


def main(quick: bool = False) -> dict[str, Any]:
    result = run(quick)
    report(result)
    print(f"results: {shown(save('tiering', result))}")
    return result
