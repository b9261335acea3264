"""The virt board: QEMU's boot layout, Debian's OpenSBI running on it, and bad boot input."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.machine import boot

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def test_boot_layout_follows_qemu() -> None:
    layout = boot.plan(0x80000000, 512 * MIB, 273472, 31 * MIB, 1 * MIB, 64 << 10)
    assert layout.firmware == 0x80000000
    assert layout.kernel == 0x80200000  # first 2 MiB boundary after the firmware
    assert layout.initrd == (0x80200000 + 128 * MIB, 0x80200000 + 129 * MIB)
    assert layout.fdt == 0x9FE00000  # end of RAM, 2 MiB aligned
    assert layout.fw_dynamic_info < layout.fdt


def test_the_wasm_region_parts_do_not_overlap() -> None:
    from engine.backend.wasm.jit import LOOKUP_BYTES
    from engine.backend.wasm.physical import LOG_BYTES, PHYS_BYTES
    from engine.machine import virt
    from engine.target.riscv import state as st

    assert virt.STATE_BASE + st.STATE_BYTES <= virt.TLB_BASE
    assert virt.TLB_BASE + 4 * virt.TLB_ENTRIES * 32 <= virt.CODE_BITMAP
    assert virt.CODE_BITMAP + 0x10000 <= virt.LOOKUP_BASE
    assert virt.LOOKUP_BASE + LOOKUP_BYTES <= virt.PHYS_LOOKUP_BASE
    assert virt.PHYS_LOOKUP_BASE + PHYS_BYTES <= virt.LOOKUP_LOG_BASE
    assert virt.LOOKUP_LOG_BASE + LOG_BYTES <= virt.RAM_LINEAR


def test_small_ram_puts_the_initrd_halfway() -> None:
    layout = boot.plan(0x80000000, 128 * MIB, 0x40000, 20 * MIB, 4 * MIB, 64 << 10)
    assert layout.initrd is not None and layout.initrd[0] == 0x80200000 + 64 * MIB


def test_kernel_header_checks() -> None:
    with pytest.raises(boot.BootError, match="ELF"):
        boot.kernel_image_size(b"\x7fELF" + bytes(100), "vmlinux")
    with pytest.raises(boot.BootError, match="not a RISC-V Linux kernel Image"):
        boot.kernel_image_size(bytes(100), "random.bin")
    image = bytearray(128)
    image[16:24] = (5 * MIB).to_bytes(8, "little")
    image[0x38:0x3C] = b"RSC\x05"
    assert boot.kernel_image_size(bytes(image), "Image") == 5 * MIB


def test_fw_dynamic_info_layout() -> None:
    info = boot.fw_dynamic_info(0x80200000)
    assert len(info) == 48
    assert info[:8] == (0x4942534F).to_bytes(8, "little")
    assert int.from_bytes(info[16:24], "little") == 0x80200000
    assert int.from_bytes(info[24:32], "little") == 1  # next mode: S


@pytest.fixture(scope="module")
def image():
    pytest.importorskip("yaml")
    from wasmemu_images.image import ensure_image

    return ensure_image()


def wasmemu(*args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    assert "Traceback" not in r.stderr
    return r


def test_opensbi_boots_and_describes_the_board(image) -> None:
    """Debian's fw_dynamic runs on the board and finds exactly QEMU virt's devices."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "-bios", str(image.bios)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out = b""
    deadline = time.monotonic() + 120
    try:
        while b"Boot HART MEDELEG" not in out and time.monotonic() < deadline:
            chunk = proc.stdout.read1(4096)  # type: ignore[union-attr]
            if not chunk:
                break
            out += chunk
    finally:
        proc.kill()
        proc.wait()
    text = out.decode(errors="replace")
    assert "Platform Name               : riscv-virtio,qemu" in text, text
    assert "aclint-mtimer @ 10000000Hz" in text
    assert "Platform Console Device     : uart8250" in text
    assert "Boot HART ISA Extensions    : sstc" in text
    assert "Domain0 Next Mode           : S-mode" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-bios", "/nonexistent.bin"], "cannot read the bios file /nonexistent.bin"),
        (["-m", "lots"], "'lots' is not a size"),
        (["-m", "16M"], "-m must be between 64M and 2G"),
        (["-M", "sifive_u"], "unknown machine 'sifive_u'"),
        (["-smp", "4"], "one hart"),
        (["-kernel", "x"], "-bios FILE is needed"),
    ],
)
def test_bad_run_options(args: list[str], message: str) -> None:
    r = wasmemu("run", *args)
    assert r.returncode != 0
    assert message in r.stderr


def test_kernel_that_is_not_an_image(image, tmp_path: Path) -> None:
    r = wasmemu("run", "-bios", str(image.bios), "-kernel", str(image.initrd))
    assert r.returncode == 1
    assert "not a RISC-V Linux kernel Image" in r.stderr


def test_initrd_larger_than_ram(image) -> None:
    r = wasmemu("run", "-m", "64M", "-bios", str(image.bios), "-kernel", str(image.kernel),
                "-initrd", str(image.kernel))  # fmt: skip
    assert r.returncode == 1
    assert "does not fit in 64 MiB of RAM: give more -m" in r.stderr
