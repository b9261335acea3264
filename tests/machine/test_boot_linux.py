"""The default Debian guest boots on the Wasm tier, answers typed commands, and powers off.

This is the issue's CI boot test: the real kernel, OpenSBI and busybox
initramfs from `invoke images`, driven through `wasmemu run` over pipes exactly
as a user would (`printf ... | wasmemu run`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = b"echo $((6*7))\ngrep -c processor /proc/cpuinfo\nuname -m\npoweroff -f\n"


@pytest.fixture(scope="module")
def image():
    pytest.importorskip("yaml")
    from wasmemu_images.image import ensure_image

    return ensure_image()


@pytest.mark.parametrize("wasm", ["wasm64", "wasm32"])
def test_default_guest_boots_answers_and_powers_off(image, wasm: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--wasm", wasm],
        cwd=ROOT, input=COMMANDS, capture_output=True, timeout=900,
    )  # fmt: skip
    out = result.stdout.decode(errors="replace")
    assert result.returncode == 0, out[-3000:] + result.stderr.decode(errors="replace")
    assert "wasmemu: Debian riscv64 guest" in out
    assert answer(out, "echo $((6*7))") == "42", out[-2000:]
    assert answer(out, "grep -c processor /proc/cpuinfo") == "1", out[-2000:]
    assert answer(out, "uname -m") == "riscv64", out[-2000:]
    assert "reboot: Power down" in out


def answer(console: str, command: str) -> str:
    """The line the guest printed after echoing `command` at its prompt."""
    lines = [line.strip() for line in console.replace("\r", "").splitlines()]
    for k, line in enumerate(lines[:-1]):
        if line.endswith(command):
            return lines[k + 1]
    raise AssertionError(f"the guest never echoed {command!r}")
