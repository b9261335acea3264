"""The real check of our device tree: Debian's OpenSBI and kernel boot on it.

QEMU's `-dtb` replaces the tree it would generate with ours, so the reference
emulator runs Debian's firmware and kernel (the project's default image) on
nothing but our description of the board: OpenSBI must find its timer, IPI,
console and reset devices, Linux its PLIC, UART, initramfs and command line.
Skipped unless qemu-system-riscv64 and the built default image are present.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

import pytest

from engine.machine.virt_dt import virt_device_tree

QEMU = "qemu-system-riscv64"
MiB = 1024 * 1024
INITRD_AT = 0x88200000  # where QEMU itself would put it for -m 512M
PROMPT = b"~ # "


def load_default_image():
    try:
        from wasmemu_images.image import ImageError, load_image
    except ImportError:
        pytest.skip("wasmemu_images not importable")
    try:
        return load_image()
    except ImageError as exc:
        pytest.skip(f"default guest image not built ({exc})")


class Console:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.seen = bytearray()
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)

    def wait_for(self, marker: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while marker not in self.seen[start:]:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                tail = self.seen[-3000:].decode(errors="replace")
                raise AssertionError(f"no {marker!r} on the console; last output:\n{tail}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                self.seen += self.proc.stdout.read() or b""

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} not installed")
def test_debian_opensbi_and_linux_boot_on_our_tree(tmp_path) -> None:
    image = load_default_image()
    dtb = tmp_path / "virt.dtb"
    dtb.write_bytes(
        virt_device_tree(
            ram_size=512 * MiB,
            bootargs="console=ttyS0 panic=-1",
            initrd=(INITRD_AT, INITRD_AT + image.initrd.stat().st_size),
            isa="rv64imafdc_zicsr_zifencei",
        )
    )
    args = [QEMU, "-M", "virt", "-m", "512M", "-smp", "1", "-nographic"]
    args += ["-bios", str(image.bios), "-kernel", str(image.kernel), "-dtb", str(dtb)]
    # The initrd goes where our tree says, untouched by QEMU's -initrd handling.
    args += ["-device", f"loader,file={image.initrd},addr={INITRD_AT:#x},force-raw=on"]
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    console = Console(proc)
    try:
        console.wait_for(PROMPT, timeout=120)
        console.type("echo $((6*7)) $(cat /proc/cmdline)")
        console.wait_for(b"42 console=ttyS0 panic=-1", timeout=60)
        console.type("poweroff -f")
        console.wait_for(b"reboot: Power down", timeout=60)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = console.seen.decode(errors="replace")
    for expected in (
        "Platform Name               : riscv-virtio,qemu",
        "Platform IPI Device         : aclint-mswi",
        "Platform Timer Device       : aclint-mtimer @ 10000000Hz",
        "Platform Console Device     : uart8250",
        "Platform Reboot Device      : syscon-reboot",
        "Platform Shutdown Device    : syscon-poweroff",
        "riscv-plic: plic@c000000: mapped 95 interrupts with 1 handlers for 2 contexts",
        "10000000.serial: ttyS0 at MMIO 0x10000000",
        "Trying to unpack rootfs image as initramfs",
        "random: crng init done",  # from /chosen/rng-seed, before any entropy source
    ):
        assert expected in log, expected
