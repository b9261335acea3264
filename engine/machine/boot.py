"""Placing firmware, kernel, initrd and device tree in guest RAM as QEMU's virt board does.

QEMU's rules for RV64: the firmware at the start of RAM; the kernel at the
first 2 MiB boundary after the firmware; the initrd halfway into RAM or 128 MiB
after the kernel, whichever is lower; the device tree at the end of RAM (below
3 GiB), 2 MiB aligned. OpenSBI's fw_dynamic is told where to go next by a
`fw_dynamic_info` structure whose address arrives in a2 (a0 = hart id,
a1 = device tree), like QEMU's reset vector does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MIB = 1 << 20
KERNEL_ALIGN = 2 * MIB
FW_DYNAMIC_MAGIC = 0x4942534F  # "OSBI"
FW_DYNAMIC_VERSION = 2
NEXT_MODE_S = 1
RISCV_IMAGE_MAGIC2 = b"RSC\x05"
RISCV_IMAGE_MAGIC = b"RISCV\0\0\0"


class BootError(Exception):
    """The boot images cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class BootLayout:
    firmware: int
    kernel: int | None
    initrd: tuple[int, int] | None
    fdt: int
    fw_dynamic_info: int


def kernel_image_size(data: bytes, name: str) -> int:
    """Check a RISC-V Linux `Image` header; returns the memory the kernel needs."""
    if data[:4] == b"\x7fELF":
        raise BootError(
            f"{name}: is an ELF file; give the flat RISC-V Image (arch/riscv/boot/Image, "
            "Debian's /boot/vmlinux-*) instead"
        )
    magic_ok = data[0x38:0x3C] == RISCV_IMAGE_MAGIC2 or data[0x30:0x38] == RISCV_IMAGE_MAGIC
    if len(data) < 64 or not magic_ok:
        raise BootError(f"{name}: not a RISC-V Linux kernel Image (no RISC-V magic in its header)")
    (image_size,) = struct.unpack_from("<Q", data, 16)
    return max(image_size, len(data))


def plan(
    ram_base: int,
    ram_size: int,
    firmware_size: int,
    kernel_size: int | None,
    initrd_size: int | None,
    fdt_size: int,
) -> BootLayout:
    ram_end = ram_base + ram_size
    top = min(ram_end, 3 << 30) if ram_base < 3 << 30 else ram_end
    fdt = (top - fdt_size) & ~(KERNEL_ALIGN - 1)
    info = fdt - 0x1000  # just below the device tree: nothing else uses it before OpenSBI reads it
    kernel = None
    initrd = None
    if kernel_size is not None:
        kernel = (ram_base + firmware_size + KERNEL_ALIGN - 1) & ~(KERNEL_ALIGN - 1)
        if kernel + kernel_size > info:
            raise BootError(f"the kernel ({kernel_size >> 20} MiB) does not fit: give more -m")
    if initrd_size is not None:
        if kernel is None:
            raise BootError("-initrd needs -kernel")
        start = kernel + min(ram_size // 2, 128 * MIB)
        start = (start + 0xFFF) & ~0xFFF
        if start < kernel + (kernel_size or 0):
            start = (kernel + (kernel_size or 0) + 0xFFF) & ~0xFFF
        if start + initrd_size > info:
            raise BootError(
                f"the initrd ({initrd_size >> 20} MiB) does not fit in {ram_size >> 20} MiB "
                "of RAM: give more -m"
            )
        initrd = (start, start + initrd_size)
    if ram_base + firmware_size > info:
        raise BootError("the firmware does not fit in RAM: give more -m")
    return BootLayout(ram_base, kernel, initrd, fdt, info)


def fw_dynamic_info(next_addr: int) -> bytes:
    """OpenSBI's struct fw_dynamic_info (version 2): magic, version, next_addr,
    next_mode, options, boot_hart; boot_hart -1 lets any hart boot."""
    return struct.pack(
        "<QQQQQq", FW_DYNAMIC_MAGIC, FW_DYNAMIC_VERSION, next_addr, NEXT_MODE_S, 0, -1
    )
