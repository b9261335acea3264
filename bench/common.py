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
import threading
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
    """Run `wasmemu user` in a fresh process; returns its output and its --stats counters,
    summed over every guest process it ran (see merge_stats)."""
    with tempfile.TemporaryDirectory() as tmp:
        pipe = StatsPipe(Path(tmp) / "stats")
        cmd = [sys.executable, "-m", "engine", "user", "--stats", str(pipe.path), *args]
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        documents = pipe.close()
    if r.returncode != 0:
        tail = "\n".join(r.stderr.splitlines()[-20:])
        raise SystemExit(f"bench: wasmemu user {' '.join(args[:4])} ... exited with status "
                         f"{r.returncode}:\n{tail}")  # fmt: skip
    if not documents:
        raise SystemExit(f"bench: wasmemu user {' '.join(args[:4])} ... wrote no --stats")
    stats = merge_stats(documents)
    stats["wall_seconds"] = wall
    return stats, r.stdout


class StatsPipe:
    """A named pipe to pass as `--stats FILE` that keeps every document written to it.

    Each guest process (a fork, the program an exec starts) writes its own counters
    to the --stats file when it ends, each replacing the last, so a regular file
    would keep only the shell's. Documents are a few hundred bytes, under PIPE_BUF,
    so concurrent writers do not interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        # Opened for writing too: the reader never sees end-of-file between writers,
        # and writers never block waiting for one.
        self._fd = os.open(path, os.O_RDWR)
        self._data = bytearray()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._data.endswith(b"\0"):
            self._data += os.read(self._fd, 65536)

    def close(self) -> list[dict[str, Any]]:
        """After the last writer has ended: every document, in the order written."""
        os.write(self._fd, b"\0")  # JSON never holds a NUL byte
        self._thread.join()
        os.close(self._fd)
        text = self._data[:-1].decode()
        decoder = json.JSONDecoder()
        documents, pos = [], 0
        while (pos := _skip_space(text, pos)) < len(text):
            try:
                doc, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                raise SystemExit(f"bench: unreadable --stats output ({e})") from None
            documents.append(doc)
        return documents


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def merge_stats(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Counters of several guest processes as one: numbers and per-name counts are
    summed, except "seconds", where the first process (which waits for the others)
    spans them all. A fork that never execs reports its parent's counts up to the
    fork as well, so a benchmark script should exec in every child it forks."""
    total: dict[str, Any] = {}
    for doc in documents:
        for key, value in doc.items():
            if isinstance(value, dict):
                counts = total.setdefault(key, {})
                for name, n in value.items():
                    counts[name] = counts.get(name, 0) + n
            elif key == "seconds":
                total[key] = max(total.get(key, 0.0), value)
            elif isinstance(value, int | float):
                total[key] = total.get(key, 0) + value
    total["processes"] = len(documents)
    return total


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


def results_dir() -> Path:
    """bench/results, or $WASMEMU_BENCH_RESULTS (the smoke test keeps the tree clean)."""
    return Path(os.environ.get("WASMEMU_BENCH_RESULTS") or RESULTS)


def save(suite: str, payload: dict[str, Any]) -> Path:
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def shown(path: Path) -> str:
    """A path for messages: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
