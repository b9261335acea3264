"""The cpu suite: a compute-bound guest program under every tier and Wasm mode.

Each row reports guest instructions per second (retired instructions counted
by wasmemu; the program is deterministic, so qemu retires the same number),
the slowdown against Debian's native qemu-riscv64 measured in the same run,
translation throughput, and host exits per million guest instructions.
The interpreter runs a smaller input: rates, not times, are compared.
"""

from __future__ import annotations

from typing import Any

from bench.common import ROOT, build_guest, machine_info, run_wasmemu, save, shown, timed
from bench.exits import exit_lines

PROGRAM = ROOT / "bench" / "programs" / "cpubench.c"
ROWS = [
    ("interp", "interp", None),
    ("wasm64", "wasm", "wasm64"),
    ("wasm32", "wasm", "wasm32"),
    ("auto wasm64", "auto", "wasm64"),
    ("auto wasm32", "auto", "wasm32"),
]
TARGET_WASM_OVER_INTERP = 20.0
TARGET_EXITS_PER_MILLION = 10.0


def run(quick: bool = False) -> dict[str, Any]:
    exe = str(build_guest(PROGRAM))
    size = "0.25" if quick else "16"
    interp_size = "0.03125" if quick else "0.25"
    native_cmd = ["qemu-riscv64", exe, size]
    # The reference runs for under a second, so a burst of load on this shared machine
    # moves it by tens of percent. Sampling it between the rows, where the engine's
    # figures are taken, and keeping the best, compares both under the same conditions.
    native_samples: list[float] = []
    rows = []
    for label, tier, mode in ROWS:
        seconds, native_out = timed(native_cmd)
        native_samples.append(seconds)
        args = ["--tier", tier] + (["--wasm", mode] if mode else [])
        stats, out = run_wasmemu([*args, exe, interp_size if tier == "interp" else size])
        if tier != "interp" and out != native_out:
            raise SystemExit(f"bench: {label} printed {out!r}, qemu printed {native_out!r}")
        insns = stats["instret"]
        rows.append({
            "label": label,
            "input_mib": float(interp_size if tier == "interp" else size),
            "instructions": insns,
            "seconds": stats["seconds"],
            "mips": insns / stats["seconds"] / 1e6,
            "exits_per_million": stats["exits"] / insns * 1e6,
            "translate_insns_per_second": stats["insns_translated"] / stats["translate_seconds"]
            if stats["translate_seconds"] else 0.0,
            "tbs_compiled": stats["tbs_compiled"],
            "compile_seconds": stats["compile_seconds"],
            "wasm_modules": stats.get("wasm_modules", 0),
            "exit_causes": stats.get("exit_causes", {}),
            "host_calls": stats.get("host_calls", {}),
        })  # fmt: skip
    native_samples.append(timed(native_cmd)[0])
    native_seconds = min(native_samples)
    full = next(r for r in rows if r["label"] == "wasm64")
    native_mips = full["instructions"] / native_seconds / 1e6
    for r in rows:
        r["slowdown_vs_qemu"] = native_mips / r["mips"]
    interp_mips = rows[0]["mips"]
    best_wasm = max(r["mips"] for r in rows[1:])
    return {
        "suite": "cpu",
        "quick": quick,
        "machine": machine_info(),
        "native": {
            "label": "qemu-riscv64",
            "seconds": native_seconds,
            "mips": native_mips,
            "samples": native_samples,
        },
        "rows": rows,
        "targets": {
            "wasm_over_interp": best_wasm / interp_mips,
            "wasm_over_interp_target": TARGET_WASM_OVER_INTERP,
            "max_exits_per_million": max(r["exits_per_million"] for r in rows[1:]),
            "exits_per_million_target": TARGET_EXITS_PER_MILLION,
        },
    }


def report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    native = result["native"]
    quick = " (quick)" if result["quick"] else ""
    samples = native.get("samples", [native["seconds"]])
    title = (
        f"cpu suite{quick}: qemu-riscv64 {native['mips']:.0f} MIPS ({native['seconds']:.2f} s, "
        f"best of {len(samples)} taken between the rows; worst {max(samples):.2f} s)"
    )
    table = Table(title=title)
    for col in ("tier", "input MiB", "guest insns", "MIPS", "x slower than qemu",
                "translated insns/s", "exits per M insns", "TBs compiled", "modules"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in result["rows"]:
        table.add_row(
            r["label"], f"{r['input_mib']:g}", f"{r['instructions']:,}", f"{r['mips']:.1f}",
            f"{r['slowdown_vs_qemu']:.1f}", f"{r['translate_insns_per_second']:,.0f}",
            f"{r['exits_per_million']:.2f}", str(r["tbs_compiled"]), str(r["wasm_modules"]),
        )  # fmt: skip
    t = result["targets"]
    console = Console(width=max(Console().width, 140))
    console.print(table)
    console.print(
        f"Wasm tier over interpreter: {t['wasm_over_interp']:.1f}x "
        f"(target >= {t['wasm_over_interp_target']:g}x); "
        f"host exits: at most {t['max_exits_per_million']:.2f} per million "
        f"(target <= {t['exits_per_million_target']:g})"
    )
    for line in exit_lines(result["rows"]):
        console.print(line, highlight=False, soft_wrap=True)


def main(quick: bool = False) -> dict[str, Any]:
    result = run(quick)
    report(result)
    print(f"results: {shown(save('cpu', result))}")
    return result
