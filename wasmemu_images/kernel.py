"""Turn whatever a Debian riscv64 kernel package ships into a flat RISC-V ``Image``.

What Debian ships (checked on trixie, ``linux-image-6.12.107+deb13-riscv64``
6.12.107-1): ``/boot/vmlinux-<version>``, 31 MB, which despite its name is
*not* an ELF ``vmlinux`` but the kernel's ``arch/riscv/boot/Image``: the flat
binary with the 64-byte RISC-V boot header (``Documentation/arch/riscv/boot-
image-header.rst``) -- ``"RISCV\\0\\0\\0"`` at 0x30 and ``"RSC\\x05"`` at 0x38 --
whose first bytes double as an EFI stub ("MZ", so ``file`` calls it a PE32+
EFI application). Debian's kernel packaging installs the Image under the
``vmlinux`` stem on riscv64 and does not compress it. That file is exactly what
QEMU's ``-kernel`` and our loader take (loaded raw at the start of RAM plus
``text_offset``), so normally nothing is converted.

Other kernels (a future Debian, a custom build) may ship ``Image.gz``/
``vmlinuz`` as plain gzip, or an EFI "zboot" image (``CONFIG_EFI_ZBOOT``: a
small PE stub with ``"zimg"`` at offset 4 whose payload is the compressed
Image). Both are unwrapped here; an ELF ``vmlinux`` is refused with a message
because loading it would need a different path.
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
import zlib

__all__ = ["KernelError", "KernelHeader", "flat_riscv_image", "parse_header"]

_MAGIC = b"RISCV\0\0\0"
_MAGIC2 = b"RSC\x05"
_HEADER = struct.Struct("<IIQQQIIQ8s4sI")


class KernelError(ValueError):
    """The file is not (and cannot be turned into) a flat RISC-V Image."""


@dataclasses.dataclass(frozen=True)
class KernelHeader:
    """The fields of the RISC-V Image header we report or rely on."""

    text_offset: int  # where in RAM, relative to its start, the Image wants to sit
    image_size: int  # bytes of RAM the kernel occupies once running (not the file size)
    flags: int  # bit 0: endianness (0 = little)
    version: int  # header version, major << 16 | minor


def parse_header(image: bytes) -> KernelHeader:
    """Read the boot header of a flat RISC-V Image, or raise KernelError."""
    if len(image) < _HEADER.size:
        raise KernelError(f"{len(image)} bytes is too short for a RISC-V Image header")
    (_c0, _c1, text_offset, image_size, flags, version, _r1, _r2, magic, magic2, _r3) = (
        _HEADER.unpack_from(image)
    )
    if magic != _MAGIC or magic2 != _MAGIC2:
        raise KernelError(
            'no RISC-V Image header (expected "RISCV\\0\\0\\0" at 0x30 and "RSC\\x05" at 0x38)'
        )
    return KernelHeader(text_offset, image_size, flags, version)


def flat_riscv_image(data: bytes, *, name: str = "kernel") -> bytes:
    """Return the flat Image contained in ``data`` (which may already be one).

    ``name`` only serves error messages.
    """
    for _ in range(3):  # a zboot stub around a gzip stream is the deepest nesting seen
        if _is_flat_image(data):
            return data
        if data[:4] == b"\x7fELF":
            raise KernelError(
                f"{name} is an ELF vmlinux; take the package's flat Image "
                "(arch/riscv/boot/Image) instead"
            )
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data, name)
        elif data[:2] == b"MZ" and data[4:8] == b"zimg":
            data = _unwrap_zboot(data, name)
        else:
            break
    if _is_flat_image(data):
        return data
    raise KernelError(
        f"{name} is neither a flat RISC-V Image nor a gzip or EFI zboot wrapper of one "
        f"(starts with {data[:8].hex()})"
    )


def _is_flat_image(data: bytes) -> bool:
    return data[0x30:0x38] == _MAGIC and data[0x38:0x3C] == _MAGIC2


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise KernelError(f"{name}: corrupt gzip stream ({exc})") from exc


def _unwrap_zboot(data: bytes, name: str) -> bytes:
    # Layout from drivers/firmware/efi/libstub/zboot-header.S: after "MZ" and
    # "zimg" come the payload offset and size (u32 each), then 8 reserved
    # bytes and the compression name, NUL-padded, at 0x18.
    offset, size = struct.unpack_from("<II", data, 8)
    method = data[0x18:0x38].split(b"\0", 1)[0].decode("ascii", "replace")
    payload = data[offset : offset + size]
    if len(payload) != size:
        raise KernelError(f"{name}: EFI zboot payload runs past the end of the file")
    if method == "gzip":
        return _gunzip(payload, name)
    raise KernelError(
        f"{name}: EFI zboot image compressed with {method!r}; only gzip is supported "
        "(Python's standard library has no decompressor for the others)"
    )
