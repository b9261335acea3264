"""The default Debian guest boots on the Wasm tier, answers typed commands, and powers off.

This is the issue's CI boot test: the real kernel, OpenSBI and busybox
initramfs from `invoke images`, driven through `wasmemu run` over pipes exactly
as a user would (`printf ... | wasmemu run`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.machine.guest import ROOT, answer, run_guest

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


def boot_to_prompt_then_kill(tcache: Path, timeout: float = 900) -> str:
    """Boot with stdin left open (the guest then idles at its prompt), wait until the
    translation cache in `tcache` has a segment, and kill the run as a closed terminal
    would; returns the console text."""
    run = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--tcache", str(tcache)], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out = bytearray()

    def read() -> None:
        while chunk := run.stdout.read1():
            out.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while b"~ # " not in out or not list(tcache.glob("*/*.seg")):
            assert run.poll() is None, out.decode(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "no prompt and saved translations in time"
            time.sleep(0.5)
    finally:
        run.kill()
        run.wait()
        reader.join()
    return out.decode(errors="replace")


def test_a_killed_run_keeps_the_translations_of_its_boot(image, tmp_path: Path) -> None:
    tcache, stats = tmp_path / "tcache", tmp_path / "stats.json"
    boot_to_prompt_then_kill(tcache)
    status, out = run_guest("--tcache", str(tcache), "--stats", str(stats),
                            commands="uname -m\npoweroff -f\n")  # fmt: skip
    assert status == 0 and answer(out, "uname -m") == "riscv64", out[-2000:]
    counters = json.loads(stats.read_text())
    # The second boot ran the first one's blocks: compiled modules and translations kept
    # while the guest sat at its prompt, before the kill.
    assert counters["modules_compiled_before"] > 100, counters
    assert counters["tcache_hits"] > 10_000, counters
