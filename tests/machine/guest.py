"""Drive `wasmemu run` over pipes as a user would (`printf ... | wasmemu run`) and read answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_guest(*options: str, commands: str, timeout: int = 900) -> tuple[int, str]:
    """(exit status, console text) of one boot fed `commands` a line at a time."""
    result = subprocess.run(
        [sys.executable, "-m", "engine", "run", *options],
        cwd=ROOT, input=commands.encode(), capture_output=True, timeout=timeout,
    )  # fmt: skip
    out = result.stdout.decode(errors="replace")
    return result.returncode, out + result.stderr.decode(errors="replace")


def answer(console: str, command: str) -> str:
    """The line the guest printed after echoing `command` at its prompt."""
    lines = [line.strip() for line in console.replace("\r", "").splitlines()]
    for k, line in enumerate(lines[:-1]):
        if line.endswith(command):
            return lines[k + 1]
    raise AssertionError(f"the guest never echoed {command!r}")
