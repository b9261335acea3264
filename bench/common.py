"""Shared benchmark plumbing: building guest programs, timing commands, recording results."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def build_guest(source: Path) -> Path:
    """Compile a C benchmark for riscv64 (static, rv64gc), cached by content."""
    from wasmemu_images.cache import cache_dir

    gcc = shutil.which("riscv64-linux-gnu-gcc")
    if gcc is None:
        raise SystemExit("bench: riscv64-linux-gnu-gcc is missing; run scripts/bootstrap")
    flags = ["-static", "-O2", "-march=rv64gc"]
    key = hashlib.sha256(source.read_bytes() + " ".join(flags).encode()).hexdigest()[:16]
    out = cache_dir("bench") / f"{source.stem}-{key}"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        subprocess.run([gcc, *flags, "-o", tmp, source], check=True)
        os.replace(tmp, out)
    return out


def timed(cmd: list[str], repeat: int = 1) -> tuple[float, str]:
    """Best wall time of `repeat` runs, and the output of the last."""
    best = float("inf")
    out = ""
    for _ in range(repeat):
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        best = min(best, time.perf_counter() - start)
        out = r.stdout
    return best, out


def run_wasmemu(args: list[str]) -> tuple[dict[str, Any], str]:
    """Run `wasmemu user` in a fresh process; returns its --stats counters and output."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [sys.executable, "-m", "engine", "user", "--stats", f.name, *args]
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        wall = time.perf_counter() - start
        stats = json.loads(Path(f.name).read_text())
    stats["wall_seconds"] = wall
    return stats, r.stdout


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "unavailable"


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import wasmtime

        wasmtime_version = getattr(wasmtime, "__version__", None) or _pip_version("wasmtime")
    except ImportError:
        wasmtime_version = "unavailable"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "engine"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "wasmtime": wasmtime_version,
        "qemu": _version(["qemu-riscv64", "--version"]),
        "git_commit": commit + ("-dirty" if dirty else ""),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _pip_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def save(suite: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path
