"""Drive `wasmemu run` over pipes as a user would (`printf ... | wasmemu run`) and read answers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # busybox asks where the cursor is


def run_guest(*options: str, commands: str, timeout: int = 900) -> tuple[int, str]:
    """(exit status, console text) of one boot fed `commands` a line at a time."""
    result = subprocess.run(
        [sys.executable, "-m", "engine", "run", *options],
        cwd=ROOT, input=commands.encode(), capture_output=True, timeout=timeout,
    )  # fmt: skip
    out = result.stdout.decode(errors="replace")
    return result.returncode, out + result.stderr.decode(errors="replace")


def answer(console: str, command: str) -> str:
    """The line the guest printed after echoing `command` at its prompt.

    The last echo counts: a tty also echoes input that arrives while the
    previous command runs, in the middle of that command's output, and the
    shell echoes it again at its prompt. (Long commands wrap at the terminal's
    width, so a tail of one is enough to find it.)"""
    lines = [ESCAPE.sub("", line).strip() for line in console.replace("\r", "").splitlines()]
    echoes = [k for k, line in enumerate(lines[:-1]) if line.endswith(command)]
    if not echoes:
        raise AssertionError(f"the guest never echoed {command!r}")
    return lines[echoes[-1] + 1]
