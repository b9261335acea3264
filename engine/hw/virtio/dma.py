"""Device access to guest RAM (DMA), with the checks a device must make itself.

A virtio device reads and writes guest memory at physical addresses the guest
gave it. Those addresses are untrusted: anything outside RAM (a device window,
a hole, a wrap-around) is refused with `DmaError` rather than reached, so a
confused or hostile driver cannot make a device touch the emulator's own
memory or another device. Writes go through `before_write`, which the board
points at the hart's code-page tracking: a disk read landing on a page that
holds translated code must discard those translations, exactly as a store by
the hart would.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from engine.ram_access import RamLike, unpacker

PAGE_SHIFT = 12


class DmaError(Exception):
    """A device was asked to touch guest-physical memory that is not RAM."""


class GuestRam:
    """Bounds-checked views of guest RAM at guest-physical addresses."""

    def __init__(
        self,
        ram: RamLike,
        ram_base: int,
        before_write: Callable[[int, int], None] | None = None,
    ) -> None:
        self.ram = ram
        self.ram_base = ram_base
        self.ram_end = ram_base + len(ram)
        self._u16, self._u32 = unpacker(ram, "<H"), unpacker(ram, "<I")
        self._u64 = unpacker(ram, "<Q")
        # (first page, last page) about to be written, inclusive.
        self.before_write = before_write or (lambda first, last: None)

    def _offset(self, paddr: int, length: int) -> int:
        if length < 0 or paddr < self.ram_base or paddr + length > self.ram_end:
            raise DmaError(f"guest-physical range {paddr:#x}+{length:#x} is outside RAM")
        return paddr - self.ram_base

    def read(self, paddr: int, length: int) -> bytes:
        off = self._offset(paddr, length)
        return bytes(self.ram[off : off + length])

    def view(self, paddr: int, length: int) -> memoryview:
        """A read-only window, valid until guest RAM is next written by anyone."""
        off = self._offset(paddr, length)
        return self.ram[off : off + length].toreadonly()

    def write(self, paddr: int, data: bytes | bytearray | memoryview) -> None:
        length = len(data)
        off = self._offset(paddr, length)
        if length:
            self.before_write(paddr >> PAGE_SHIFT, (paddr + length - 1) >> PAGE_SHIFT)
            self.ram[off : off + length] = data

    def u16(self, paddr: int) -> int:
        return self._u16(self.ram, self._offset(paddr, 2))[0]

    def u32(self, paddr: int) -> int:
        return self._u32(self.ram, self._offset(paddr, 4))[0]

    def u64(self, paddr: int) -> int:
        return self._u64(self.ram, self._offset(paddr, 8))[0]

    def put_u16(self, paddr: int, value: int) -> None:
        self.write(paddr, struct.pack("<H", value & 0xFFFF))

    def put_u32(self, paddr: int, value: int) -> None:
        self.write(paddr, struct.pack("<I", value & 0xFFFF_FFFF))
