"""The default image boots on the reference, Debian's qemu-system-riscv64 -M virt,
to a shell that answers typed commands, with job control on the serial console;
with virtio-mmio devices attached it loads their drivers, mounts 9p shares,
and with root=/dev/vda switches to the ext4 root disk.

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
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from wasmemu_images.image import Image, copy_rootfs

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

    def __init__(
        self,
        image: Image,
        bios: str = "fw_dynamic.bin",
        devices: Sequence[str] = (),
        append: str | None = None,
    ) -> None:
        assert QEMU is not None
        cmd = [
            QEMU, "-M", "virt", "-m", "512M", "-smp", "1", "-nographic", "-no-reboot",
            *image.qemu_args(append), *devices,
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


ROOTFS_BANNER = re.compile(r"wasmemu: Debian riscv64 rootfs on (\S+) \(kernel (\S+)\)")
DEBUGFS = shutil.which("debugfs", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def virtio_devices(disk: Path, share: Path) -> list[str]:
    """A disk, a 9p share tagged host0 and an RNG, on the virt board's virtio-mmio slots."""
    return [
        "-drive", f"if=none,format=raw,file={disk},id=hd0",
        "-device", "virtio-blk-device,drive=hd0",
        "-virtfs", f"local,path={share},mount_tag=host0,security_model=none",
        "-device", "virtio-rng-device",
    ]  # fmt: skip


@pytest.fixture
def disk_and_share(rootfs_image: Image, tmp_path: Path) -> tuple[Path, Path]:
    assert rootfs_image.rootfs is not None
    disk = copy_rootfs(tmp_path / "disk.ext4", cache=rootfs_image.path.parent.parent)
    share = tmp_path / "share"
    share.mkdir()
    (share / "hello.txt").write_text("hello from the host\n")
    return disk, share


def boot(image: Image, devices: list[str], append: str | None = None) -> SerialConsole:
    return SerialConsole(image, devices=devices, append=append)


def power_off(console: SerialConsole) -> None:
    console.send("poweroff -f\n")
    assert console.proc.wait(timeout=COMMAND_TIMEOUT) == 0
    assert "reboot: Power down" in console.output
    assert "Kernel panic" not in console.output


def test_initramfs_loads_virtio_drivers_and_mounts_9p_shares(
    rootfs_image: Image, disk_and_share: tuple[Path, Path]
) -> None:
    disk, share = disk_and_share
    console = boot(rootfs_image, virtio_devices(disk, share))
    try:
        console.expect("wasmemu: 9p share host0 on /mnt/host0\n", BOOT_TIMEOUT)
        console.expect(BANNER, COMMAND_TIMEOUT)
        console.expect(PROMPT, COMMAND_TIMEOUT)
        to_prompt = time.monotonic() - console.started
        assert "wasmemu: could not" not in console.output
        assert "no driver loaded" not in console.output
        modules = set(console.run("cut -d' ' -f1 /proc/modules").split())
        assert modules >= {"virtio_mmio", "virtio_blk", "9pnet_virtio", "9pnet", "9p",
                           "virtio_rng"}  # fmt: skip
        drivers = console.run("ls /sys/bus/virtio/drivers").split()
        assert {"virtio_blk", "9pnet_virtio", "virtio_rng"} <= set(drivers)
        assert console.run("cat /sys/class/misc/hw_random/rng_current") == "virtio_rng.0"
        # Debian's signatures survive unpacking the .ko.xz files: no taint.
        assert console.run("cat /proc/sys/kernel/tainted") == "0"

        # Files go both ways through the share.
        assert console.run("cat /mnt/host0/hello.txt") == "hello from the host"
        console.run("echo written by the guest > /mnt/host0/from-guest.txt")
        console.run("sync")
        assert (share / "from-guest.txt").read_text() == "written by the guest\n"

        # The disk mounts without -t: ext4 (and crc32c) load on demand.
        console.run("mkdir -p /mnt/disk")
        assert console.run("mount /dev/vda /mnt/disk && echo mounted") == "mounted"
        assert console.run("cat /mnt/disk/etc/hostname") == "wasmemu"
        assert console.run("grep -c '^/dev/vda /mnt/disk ext4 rw' /proc/mounts") == "1"
        assert {"ext4", "jbd2", "crc32c_generic"} <= set(
            console.run("cut -d' ' -f1 /proc/modules").split()
        )
        console.run("umount /mnt/disk")
        power_off(console)
    finally:
        console.close()
    print(f"\nqemu with virtio devices reached the shell prompt in {to_prompt:.2f} s")


def test_root_disk_boots_and_keeps_what_is_written(
    rootfs_image: Image, disk_and_share: tuple[Path, Path]
) -> None:
    disk, share = disk_and_share
    append = f"{rootfs_image.append} root=/dev/vda"
    console = boot(rootfs_image, virtio_devices(disk, share), append)
    try:
        banner = console.expect(ROOTFS_BANNER, BOOT_TIMEOUT)
        assert banner[1] == "/dev/vda"
        console.expect(PROMPT, COMMAND_TIMEOUT)
        assert "guest (kernel" not in console.output  # not the initramfs shell
        assert console.run("grep -c '^/dev/vda / ext4 rw' /proc/mounts") == "1"
        assert console.run("cat /mnt/host0/hello.txt") == "hello from the host"
        console.run("echo kept across boots > /root/note.txt")
        console.send("exit\n")
        console.expect("wasmemu: shell exited, powering off", COMMAND_TIMEOUT)
        assert console.proc.wait(timeout=COMMAND_TIMEOUT) == 0
        assert "reboot: Power down" in console.output
    finally:
        console.close()

    if DEBUGFS is not None:
        seen = subprocess.run(
            [DEBUGFS, "-R", "cat /root/note.txt", str(disk)],
            capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
        assert seen == "kept across boots\n"

    console = boot(rootfs_image, virtio_devices(disk, share), append)
    try:
        console.expect(ROOTFS_BANNER, BOOT_TIMEOUT)
        console.expect(PROMPT, COMMAND_TIMEOUT)
        assert console.run("cat /root/note.txt") == "kept across boots"
        # The first boot made busybox's applet links.
        assert console.run("readlink /bin/ls") == "/bin/busybox"
        power_off(console)
    finally:
        console.close()


def test_a_missing_root_device_falls_back_to_the_initramfs_shell(
    rootfs_image: Image, disk_and_share: tuple[Path, Path]
) -> None:
    disk, share = disk_and_share
    append = f"{rootfs_image.append} root=/dev/vdb"
    console = boot(rootfs_image, virtio_devices(disk, share), append)
    try:
        console.expect("wasmemu: root=/dev/vdb: no such block device; staying in the initramfs",
                       BOOT_TIMEOUT)  # fmt: skip
        console.expect(BANNER, COMMAND_TIMEOUT)
        console.expect(PROMPT, COMMAND_TIMEOUT)
        assert console.run("echo $((6*7))") == "42"
        power_off(console)
    finally:
        console.close()
