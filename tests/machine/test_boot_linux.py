"""The default Debian guest boots on the Wasm tier, answers typed commands, and powers off.

This is the issue's CI boot test: the real kernel, OpenSBI and busybox
initramfs from `invoke images`, driven through `wasmemu run` over pipes exactly
as a user would (`printf ... | wasmemu run`).
"""

from __future__ import annotations

import pytest

from tests.machine.guest import answer, run_guest

COMMANDS = "echo $((6*7))\ngrep -c processor /proc/cpuinfo\nuname -m\npoweroff -f\n"


@pytest.fixture(scope="module")
def image():
    pytest.importorskip("yaml")
    from wasmemu_images.image import ensure_image

    return ensure_image()


@pytest.mark.parametrize("wasm", ["wasm64", "wasm32"])
def test_default_guest_boots_answers_and_powers_off(image, wasm: str) -> None:
    status, out = run_guest("--wasm", wasm, commands=COMMANDS)
    assert status == 0, out[-3000:]
    assert "wasmemu: Debian riscv64 guest" in out
    assert answer(out, "echo $((6*7))") == "42", out[-2000:]
    assert answer(out, "grep -c processor /proc/cpuinfo") == "1", out[-2000:]
    assert answer(out, "uname -m") == "riscv64", out[-2000:]
    assert "reboot: Power down" in out
