"""Recognising and unwrapping RISC-V kernel images (synthetic images; the real one is
checked in test_default_image.py)."""

from __future__ import annotations

import gzip
import struct

import pytest

from wasmemu_images.kernel import KernelError, flat_riscv_image, parse_header


def fake_image(size: int = 4096) -> bytes:
    header = struct.pack(
        "<IIQQQIIQ8s4sI",
        0x6F10_5A4D,  # "MZ" + a jump, as the EFI-stub kernels have
        0,
        0x200000,
        0x1E6B000,
        0,
        2,
        0,
        0,
        b"RISCV\0\0\0",
        b"RSC\x05",
        0,
    )
    return header + bytes(range(256)) * ((size - len(header)) // 256)


def zboot(payload: bytes, method: bytes = b"gzip") -> bytes:
    offset = 0x1000
    head = b"MZ\0\0zimg" + struct.pack("<II", offset, len(payload)) + bytes(8)
    head += method.ljust(32, b"\0")
    return head.ljust(offset, b"\0") + payload + bytes(100)


def test_flat_image_is_returned_unchanged_and_its_header_parsed() -> None:
    image = fake_image()
    assert flat_riscv_image(image) is image
    h = parse_header(image)
    assert (h.text_offset, h.image_size, h.flags, h.version) == (0x200000, 0x1E6B000, 0, 2)


def test_gzip_image_is_decompressed() -> None:
    image = fake_image()
    assert flat_riscv_image(gzip.compress(image)) == image


def test_efi_zboot_gzip_image_is_unwrapped() -> None:
    image = fake_image()
    assert flat_riscv_image(zboot(gzip.compress(image))) == image


def test_efi_zboot_with_unsupported_compression_names_it() -> None:
    with pytest.raises(KernelError, match="'zstd'"):
        flat_riscv_image(zboot(b"\x28\xb5\x2f\xfd....", b"zstd"))


def test_elf_vmlinux_is_refused_with_advice() -> None:
    with pytest.raises(KernelError, match="ELF vmlinux"):
        flat_riscv_image(b"\x7fELF" + bytes(200), name="vmlinux")


def test_other_data_is_refused() -> None:
    with pytest.raises(KernelError, match="neither a flat RISC-V Image"):
        flat_riscv_image(bytes(200))
    with pytest.raises(KernelError, match="no RISC-V Image header"):
        parse_header(bytes(200))
