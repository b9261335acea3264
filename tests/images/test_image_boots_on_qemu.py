"""The default image boots on the reference, Debian's qemu-system-riscv64 -M virt,
to a shell that answers typed commands, with job control on the serial console.

The console is a plain pipe on the host side (no terminal), as in CI. Commands
are typed only after the prompt appears: bytes sent while the kernel boots are
partly dropped when the shell opens the tty, exactly as on real hardware.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from wasmemu_images.image import Image

QEMU = shutil.which("qemu-system-riscv64")
pytestmark = pytest.mark.skipif(
    QEMU is None, reason="qemu-system-riscv64 not installed (Debian package qemu-system-misc)"
)

BANNER = re.compile(r"wasmemu: Debian riscv64 guest \(kernel (\S+), busybox (\S+)\)")
# ash's prompt ("~ # "), then its cursor-position query when it starts line editing.
PROMPT = re.compile(r"# (?:\x1b\[6n)?")
BOOT_TIMEOUT = 120.0
COMMAND_TIMEOUT = 30.0


class SerialConsole:
    """qemu-system-riscv64 -nographic with its serial console on two pipes."""

    def __init__(self, image: Image, bios: str) -> None:
        assert QEMU is not None
        cmd = [
            QEMU, "-M", "virt", "-m", "512M", "-smp", "1", "-nographic", "-no-reboot",
            *image.qemu_args(),
        ]  # fmt: skip
        cmd[cmd.index("-bios") + 1] = str(image.files[bios])
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._text = ""
        self._seen = 0  # everything before this offset has been matched already
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 4096):
            with self._lock:
                self._text += chunk.decode("utf-8", "replace").replace("\r", "")
                self._lock.notify_all()
        with self._lock:
            self._lock.notify_all()

    @property
    def output(self) -> str:
        with self._lock:
            return self._text

    def expect(self, pattern: re.Pattern[str] | str, timeout: float) -> re.Match[str]:
        """Wait for ``pattern`` in output not yet consumed by an earlier expect."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                m = regex.search(self._text, self._seen)
                if m:
                    self._seen = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no {regex.pattern!r} within {timeout:.0f} s; console so far:\n"
                        + self._text[-3000:]
                    )
                self._lock.wait(min(left, 0.5))

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, command: str) -> str:
        """Type ``command``, wait for the next prompt, return what it printed."""
        self.send(command + "\n")
        echoed = self.expect(re.escape(command) + "\n", COMMAND_TIMEOUT)
        prompt = self.expect(PROMPT, COMMAND_TIMEOUT)
        with self._lock:
            body = self._text[echoed.end() : prompt.start()]
        return body.rsplit("\n", 1)[0]  # drop the prompt's line prefix ("~ ")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def console(default_image: Image, request: pytest.FixtureRequest) -> Iterator[SerialConsole]:
    con = SerialConsole(default_image, request.param)
    try:
        yield con
    finally:
        con.close()


@pytest.mark.parametrize("console", ["fw_dynamic.bin", "fw_jump.bin"], indirect=True)
def test_shell_answers_and_powers_off(console: SerialConsole, default_image: Image) -> None:
    banner = console.expect(BANNER, BOOT_TIMEOUT)
    console.expect(PROMPT, COMMAND_TIMEOUT)
    to_prompt = time.monotonic() - console.started
    kernel_pkg = next(p for p in default_image.manifest["packages"] if p["role"] == "kernel")
    assert kernel_pkg["name"] == f"linux-image-{banner[1]}"
    assert banner[2] == "v" + default_image.packages["busybox-static"].split(":")[-1].split("-")[0]

    assert console.run("echo $((6*7))") == "42"
    assert console.run("grep -c processor /proc/cpuinfo") == "1"
    assert console.run("uname -m") == "riscv64"
    # /proc, /sys and devtmpfs are mounted by /init.
    mounts = console.run("cat /proc/mounts")
    for fstype in ("proc /proc", "sysfs /sys", "devtmpfs /dev"):
        assert fstype in mounts

    console.send("poweroff -f\n")
    assert console.proc.wait(timeout=COMMAND_TIMEOUT) == 0
    assert "reboot: Power down" in console.output
    assert "Kernel panic" not in console.output
    print(f"\nqemu-system-riscv64 reached the shell prompt in {to_prompt:.2f} s")


@pytest.mark.parametrize("console", ["fw_dynamic.bin"], indirect=True)
def test_job_control_and_ctrl_c_work(console: SerialConsole) -> None:
    console.expect(PROMPT, BOOT_TIMEOUT)
    assert "job control turned off" not in console.output
    # The shell's controlling terminal is the serial port, not /dev/console.
    assert console.run("readlink /proc/self/fd/0") == "/dev/ttyS0"
    # Ctrl-C reaches the foreground job through the terminal's line discipline.
    console.send("sleep 60\n")
    console.expect("sleep 60\n", COMMAND_TIMEOUT)
    time.sleep(0.5)
    console.send("\x03")
    console.expect(PROMPT, COMMAND_TIMEOUT)
    assert console.run("echo status=$?") == "status=130"
    # Background jobs are tracked.
    console.run("sleep 60 &")
    assert re.search(r"\[1\]\+ +Running +sleep 60", console.run("jobs"))
    console.run("kill %1")
    console.send("exit\n")
    console.expect("wasmemu: shell exited, powering off", COMMAND_TIMEOUT)
    assert console.proc.wait(timeout=COMMAND_TIMEOUT) == 0
    assert "Kernel panic" not in console.output
