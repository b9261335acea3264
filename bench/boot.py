"""The boot suite: wall time from start to the guest's shell prompt.

wasmemu (each Wasm mode, tier auto) and Debian's native qemu-system-riscv64
boot the same default image (OpenSBI fw_dynamic, Debian's 6.12 kernel, the
busybox initramfs) in the same run; the ratio is the headline figure. Each
run then types `poweroff -f`, so the counters cover the whole boot.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine_info, save, shown
from bench.exits import exit_lines

PROMPT = b"~ # "


def time_to_prompt(
    cmd: list[str], timeout: float = 900, env: dict[str, str] | None = None
) -> float:
    """Seconds until the shell prompt appears; then powers the guest off."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})  # fmt: skip
    out = b""
    elapsed = None
    try:
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
            if PROMPT in out:
                elapsed = time.perf_counter() - start
                proc.stdin.write(b"poweroff -f\n")  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                break
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if elapsed is None:
        raise SystemExit(f"bench: no shell prompt from {cmd[0]} {' '.join(cmd[1:4])} ...")
    return elapsed


def run(quick: bool = False, node: bool = True) -> dict[str, Any]:
    from wasmemu_images.image import ensure_image

    image = ensure_image()
    qemu = ["qemu-system-riscv64", "-M", "virt", "-m", "512M", "-smp", "1", "-nographic",
            "-bios", str(image.bios), "-kernel", str(image.kernel), "-initrd", str(image.initrd),
            "-append", image.append]  # fmt: skip
    # A spell of load on this shared machine moves one qemu boot by tens of percent,
    # and the engine's rows take minutes: sampling the reference before each row and
    # after the last, and keeping the best, compares both under the same conditions.
    samples = [time_to_prompt(qemu) for _ in range(1 if quick else 3)]

    def sample_reference() -> None:
        if not quick:
            samples.append(time_to_prompt(qemu))

    rows = []
    if node and not quick:  # a Node.js boot takes minutes: the smoke run leaves these rows out
        rows += _node_rows(image, sample_reference)
    for mode in ("wasm64", "wasm32"):
        # Each mode boots twice on a translation cache of its own: first empty
        # (everything translated and compiled), then warm (the second boot of
        # the same image), so neither figure depends on what the user's cache holds.
        with tempfile.TemporaryDirectory() as tcache:
            for cache in ("empty", "warm"):
                sample_reference()
                rows.append(_wasmemu_row(mode, cache, tcache))
        if quick:
            break
    sample_reference()
    native = min(samples)
    add_ratios(rows, native)
    return {"suite": "boot", "quick": quick, "machine": machine_info(),
            "native": {"label": "qemu-system-riscv64", "seconds_to_prompt": native,
                       "samples": samples},
            "rows": rows}  # fmt: skip


def add_ratios(rows: list[dict[str, Any]], native: float) -> None:
    """Each row's time against the reference, once the reference is known."""
    for row in rows:
        row["ratio_to_qemu"] = row["seconds_to_prompt"] / native


def _node_rows(image: Any, sample_reference: Callable[[], None]) -> list[dict[str, Any]]:
    """The engine under Pyodide on Node 20 and Node 24 (packaging/node/run.mjs), each in
    the variant `--wasm auto` picks there (wasm32 on Node 20, wasm64 on Node 24)."""
    from wasmemu_images.node_setup import ensure_node_modules, node24_binary
    from wasmemu_images.web_bundle import build_bundle

    ensure_node_modules(quiet=True)
    bundle = build_bundle(image)
    rows = []
    for label, node in (("Node 20", "node"), ("Node 24", str(node24_binary()))):
        # The runner mounts its cache folder at /cache; a fresh one per Node gives it an
        # empty translation cache first, then the warm one of its own first boot.
        with tempfile.TemporaryDirectory() as cache:
            for state in ("empty", "warm"):
                sample_reference()
                stats = Path(cache) / "stats.json"
                cmd = [node, str(ROOT / "packaging" / "node" / "run.mjs"), "--bundle",
                       str(bundle), "--stats", "/cache/stats.json"]  # fmt: skip
                seconds = time_to_prompt(cmd, timeout=1800, env={"WASMEMU_CACHE": cache})
                ran = json.loads(stats.read_text() or "{}")
                mode = ran.get("wasm", "?")
                rows.append(_row(f"wasmemu {label} (Pyodide) {mode}, {state} cache", seconds, ran))
    return rows


def _wasmemu_row(mode: str, cache: str, tcache: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [sys.executable, "-m", "engine", "run", "--wasm", mode, "--tcache", tcache,
               "--stats", f.name]  # fmt: skip
        seconds = time_to_prompt(cmd)
        stats = json.loads(Path(f.name).read_text() or "{}")
    return _row(f"wasmemu auto {mode}, {cache} cache", seconds, stats)


def _row(label: str, seconds: float, stats: dict[str, Any]) -> dict[str, Any]:
    insns = stats.get("instret", 0) or 1
    return {
        "label": label,
        "seconds_to_prompt": seconds,
        "guest_instructions": insns,
        "instructions_translated": stats.get("insns_translated", 0),
        "exits_per_million": stats.get("exits", 0) / insns * 1e6,
        "translate_seconds": stats.get("translate_seconds", 0.0),
        "compile_seconds": stats.get("compile_seconds", 0.0),
        "wasm_seconds": stats.get("wasm_seconds", 0.0),
        "blocks_from_cache": stats.get("tcache_hits", 0),
        "modules_from_cache": stats.get("module_cache_hits", 0),  # wasmtime's compiled code
        # Modules an earlier run built, instantiated whole: a warm row without any
        # compiled everything again (the code identity changed).
        "kept_modules": stats.get("modules_compiled_before", 0),
        "exit_causes": stats.get("exit_causes", {}),
        "host_calls": stats.get("host_calls", {}),
    }


def report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    native = result["native"]
    title = f"boot to shell: qemu-system-riscv64 {native['seconds_to_prompt']:.2f} s"
    samples = native.get("samples", [])
    if len(samples) > 1:
        title += f" (best of {len(samples)} taken between the rows; worst {max(samples):.2f} s)"
    table = Table(title=title)
    for col in ("emulator", "seconds", "x qemu", "guest insns", "translated insns",
                "exits per M insns", "translate s", "compile s", "in Wasm s",
                "kept modules"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in result["rows"]:
        table.add_row(
            r["label"], f"{r['seconds_to_prompt']:.1f}", f"{r['ratio_to_qemu']:.1f}",
            f"{r['guest_instructions']:,}", f"{r['instructions_translated']:,}",
            f"{r['exits_per_million']:.0f}", f"{r['translate_seconds']:.1f}",
            f"{r['compile_seconds']:.1f}", f"{r.get('wasm_seconds', 0.0):.1f}",
            f"{r.get('kept_modules', 0):,}",
        )  # fmt: skip
    console = Console(width=max(Console().width, 140))
    console.print(table)
    for line in exit_lines(result["rows"]):
        console.print(line, highlight=False, soft_wrap=True)


def main(quick: bool = False, node: bool = True) -> dict[str, Any]:
    result = run(quick, node)
    report(result)
    print(f"results: {shown(save('boot', result))}")
    return result
