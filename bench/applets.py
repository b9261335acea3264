"""The applets suite: many different busybox applets, each started once.

This is the translation-heavy end: every applet is a fresh exec of busybox, so
most guest code runs a few times before the process ends, and the time goes
into translating and compiling rather than running. One `busybox sh -c`
script runs under `wasmemu user` (tier auto, each Wasm mode) and under
Debian's native qemu-riscv64 in the same run; the outputs must match.

qemu-riscv64 alone cannot start a riscv64 program from a riscv64 one (that
needs binfmt_misc), and busybox's shell then falls back to the host's own
tools. So the script starts every applet through `$Q`: the busybox path under
wasmemu, which runs the new image itself, and `qemu-riscv64 busybox` under
qemu, which is what a binfmt_misc registration would do.

The counters are summed over the guest processes (bench.common.StatsPipe);
translate and compile seconds overlap where a pipeline runs on both cores.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import tempfile
import time
from typing import Any

from bench.common import machine_info, run_wasmemu, save, shown

# Each line runs a few applets, always as `$Q name`. Pipelines and redirections
# only (no subshells, no builtins in a pipeline): a forked shell that does not exec
# would report its parent's counters again. Nothing printed may depend on the
# time, the user, the host or the work folder's path. No xargs: it failed under
# wasmemu when the suite was written (fixed since), and the recorded runs lack it.
STEPS = [
    "$Q seq 1 300 | $Q awk '{ printf \"%d line%d %s\\n\", ($1 * 7919) % 1000, $1,"
    " ($1 % 3 ? \"odd\" : \"three\") }' > data.txt",
    "$Q head -n 3 data.txt; $Q wc -l -w -c data.txt",
    "$Q sort -k3,3 -k1,1n data.txt | $Q cut -d' ' -f3 | $Q uniq -c",
    "$Q grep -c three data.txt;"
    " $Q sed -n 's/line\\([0-9]*5\\) odd/L\\1/p' data.txt | $Q tr a-z A-Z",
    "$Q md5sum data.txt",
    # the quick run stops here: 11 applets
    "$Q rev data.txt | $Q tac | $Q nl | $Q tail -n 2; $Q seq -s , 20 > list; $Q fold -w 16 list",
    "$Q paste list list > cols; printf 'a\\tb\\n' > tab; $Q expand -t 4 tab | $Q od -c",
    "$Q sha256sum data.txt; $Q sha512sum data.txt | $Q cut -c1-32",
    "$Q head -n 2 data.txt > two; $Q base64 two | $Q tee b64; $Q base64 -d b64; $Q hexdump -C two",
    "$Q gzip -c data.txt > data.gz; $Q zcat data.gz | $Q cmp - data.txt && echo gzip ok",
    "$Q bzip2 -c data.txt > data.bz2; $Q bunzip2 -c data.bz2 | $Q md5sum",
    "$Q mkdir -p d/e; $Q cp data.txt d/e/copy; $Q ln -s e/copy d/link; $Q readlink d/link",
    "$Q mv d/e/copy d/e/moved; $Q touch d/empty; $Q ls d d/e; $Q stat -c '%n %s' d/e/moved",
    "$Q rm d/empty; $Q truncate -s 100 d/e/moved; $Q find d -type f",
    "$Q tar cf a.tar d data.txt; $Q tar tf a.tar | $Q sort",
    "$Q seq 5 > one; $Q sed 's/3/three/' one > other; $Q diff one other | $Q tail -n +3",
    "$Q date -u -d @1234567890 '+%Y-%m-%d %H:%M:%S %A %j'; $Q cal 2 2024",
    "$Q expr 6 \\* 7; $Q factor 360 9973; printf '2^64 / 3\\n' > sum; $Q bc < sum",
    "$Q basename /a/b/c.txt .txt; $Q dirname /a/b/c.txt",
    "$Q printf '<%s>\\n' x y z",
    "printf 'ab\\001\\002hello world\\003xy\\000longer string\\n' > bin; $Q strings -n 4 bin",
]  # fmt: skip
QUICK_STEPS = 5
# The shell is busybox's too: $1 is the work folder, $2 the command that starts an applet.
PROLOGUE = 'set -e; cd "$1"; Q=$2'


def script(quick: bool) -> str:
    steps = STEPS[:QUICK_STEPS] if quick else STEPS
    return "\n".join([PROLOGUE, *(f"echo '== {i}'; {s}" for i, s in enumerate(steps))])


def applets(text: str) -> list[str]:
    """The distinct applets a script starts, in order of first use."""
    return list(dict.fromkeys(re.findall(r"\$Q (\w+)", text)))


def check_output(label: str, out: str, reference: str) -> None:
    """The emulator must print what qemu-riscv64 printed; otherwise stop with the difference."""
    if out == reference:
        return
    diff = difflib.unified_diff(reference.splitlines(), out.splitlines(), "qemu-riscv64",
                                label, lineterm="", n=1)  # fmt: skip
    lines = list(diff)
    more = f"\n... ({len(lines) - 40} more lines)" if len(lines) > 40 else ""
    raise SystemExit(
        f"bench applets: {label} printed something else than qemu-riscv64:\n"
        + "\n".join(lines[:40])
        + more
    )


def _busybox() -> str:
    from wasmemu_images.guest_tools import busybox_path

    path = str(busybox_path())
    if any(c.isspace() for c in path):  # $Q is split on blanks by the guest shell
        raise SystemExit(f"bench applets: busybox path has blanks: {path}")
    return path


def _qemu(busybox: str, text: str, repeat: int) -> tuple[float, str]:
    """Best wall time of native qemu-riscv64 running the script, and its output."""
    best, out = float("inf"), ""
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as work:
            cmd = ["qemu-riscv64", busybox, "sh", "-c", text, "sh", work,
                   f"qemu-riscv64 {busybox}"]  # fmt: skip
            start = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"bench applets: qemu-riscv64 failed ({r.returncode}):\n{r.stderr}")
        best, out = min(best, seconds), r.stdout
    return best, out


def run(quick: bool = False) -> dict[str, Any]:
    busybox = _busybox()
    text = script(quick)
    native, reference = _qemu(busybox, text, repeat=3)
    rows = []
    for mode in ("wasm64",) if quick else ("wasm64", "wasm32"):
        label = f"wasmemu auto {mode}"
        with tempfile.TemporaryDirectory() as work:
            stats, out = run_wasmemu(["--tier", "auto", "--wasm", mode, busybox, "sh", "-c",
                                      text, "sh", work, busybox])  # fmt: skip
        check_output(label, out, reference)
        rows.append(_row(label, stats, native))
    return {"suite": "applets", "quick": quick, "machine": machine_info(),
            "applets": applets(text),
            "native": {"label": "qemu-riscv64", "wall_seconds": native},
            "rows": rows}  # fmt: skip


def _row(label: str, stats: dict[str, Any], native: float) -> dict[str, Any]:
    insns = stats.get("instret", 0) or 1
    return {
        "label": label,
        "wall_seconds": stats["wall_seconds"],
        "ratio_to_qemu": stats["wall_seconds"] / native,
        "processes": stats["processes"],
        "guest_instructions": insns,
        "instructions_translated": stats.get("insns_translated", 0),
        "translate_seconds": stats.get("translate_seconds", 0.0),
        "compile_seconds": stats.get("compile_seconds", 0.0),
        "exits_per_million": stats.get("exits", 0) / insns * 1e6,
        "exit_causes": stats.get("exit_causes", {}),
        "host_calls": stats.get("host_calls", {}),
    }


def report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from bench.exits import exit_lines

    quick = " (quick)" if result["quick"] else ""
    native = result["native"]["wall_seconds"]
    title = (f"applets{quick}: {len(result['applets'])} busybox applets started once each, "
             f"qemu-riscv64 {native:.2f} s")  # fmt: skip
    table = Table(title=title)
    for col in ("emulator", "wall s", "x qemu", "processes", "guest insns", "translated insns",
                "translate s", "compile s", "exits per M insns"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in result["rows"]:
        table.add_row(
            r["label"], f"{r['wall_seconds']:.1f}", f"{r['ratio_to_qemu']:.0f}",
            str(r["processes"]), f"{r['guest_instructions']:,}",
            f"{r['instructions_translated']:,}", f"{r['translate_seconds']:.1f}",
            f"{r['compile_seconds']:.1f}", f"{r['exits_per_million']:.0f}",
        )  # fmt: skip
    console = Console(width=max(Console().width, 140))
    console.print(table)
    for line in exit_lines(result["rows"]):
        console.print(line, highlight=False, soft_wrap=True)


def main(quick: bool = False) -> dict[str, Any]:
    result = run(quick)
    report(result)
    print(f"results: {shown(save('applets', result))}")
    return result
