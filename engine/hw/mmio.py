"""The MMIO address space: devices mapped at physical base addresses.

Guest RAM is not on this bus (it lives in linear memory and is reached without
Python); the bus only sees accesses that missed RAM. Its rules:

* `map` rejects a window overlapping one already mapped.
* An access that starts in no window raises `MmioFault`; the hart turns that
  into a load/store access fault, as QEMU does for unassigned addresses.
* An access that starts inside a window but runs past its end reads as 0 and
  writes are dropped: no device register spans a window end, and QEMU's memory
  core would split such an access into a part the device ignores and a part
  that hits unassigned space.
* Sizes are 1, 2, 4 or 8 bytes; each device documents what it does with sizes
  its hardware does not decode. Values are little-endian and zero-extended.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

ACCESS_SIZES = (1, 2, 4, 8)


class MmioDevice(Protocol):
    name: str
    size: int

    def read(self, offset: int, size: int) -> int: ...

    def write(self, offset: int, size: int, value: int) -> None: ...


class MmioFault(Exception):
    """An access to a physical address where nothing is mapped."""

    def __init__(self, addr: int) -> None:
        super().__init__(f"no device at physical address {addr:#x}")
        self.addr = addr


class MmioBus:
    """Maps base addresses to devices; lookups bisect a sorted list of windows."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._devices: list[MmioDevice] = []

    def map(self, base: int, device: MmioDevice) -> None:
        size = device.size
        if base < 0 or size <= 0:
            raise ValueError(f"bad window {base:#x}+{size:#x} for {device.name}")
        i = bisect_right(self._bases, base)
        if i > 0:
            prev_base, prev = self._bases[i - 1], self._devices[i - 1]
            if prev_base + prev.size > base:
                raise ValueError(
                    f"{device.name} at {base:#x} overlaps {prev.name} at {prev_base:#x}"
                )
        if i < len(self._bases) and base + size > self._bases[i]:
            nxt = self._devices[i]
            raise ValueError(
                f"{device.name} at {base:#x} overlaps {nxt.name} at {self._bases[i]:#x}"
            )
        self._bases.insert(i, base)
        self._devices.insert(i, device)

    def lookup(self, addr: int) -> tuple[MmioDevice, int] | None:
        i = bisect_right(self._bases, addr) - 1
        if i < 0:
            return None
        offset = addr - self._bases[i]
        device = self._devices[i]
        if offset >= device.size:
            return None
        return device, offset

    def devices(self) -> list[tuple[int, MmioDevice]]:
        return list(zip(self._bases, self._devices, strict=True))

    def read(self, addr: int, size: int) -> int:
        hit = self.lookup(addr)
        if hit is None:
            raise MmioFault(addr)
        device, offset = hit
        if offset + size > device.size:
            return 0
        return device.read(offset, size) & ((1 << (8 * size)) - 1)

    def write(self, addr: int, size: int, value: int) -> None:
        hit = self.lookup(addr)
        if hit is None:
            raise MmioFault(addr)
        device, offset = hit
        if offset + size > device.size:
            return
        device.write(offset, size, value & ((1 << (8 * size)) - 1))
