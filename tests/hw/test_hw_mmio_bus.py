"""MmioBus: mapping rules, lookups, faults, straddling accesses; IrqLine basics."""

from __future__ import annotations

import pytest

from engine.hw.irq import IrqLine
from engine.hw.mmio import MmioBus, MmioFault


class Scratch:
    """A RAM-like device that records accesses."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.mem = bytearray(size)
        self.log: list[tuple] = []

    def read(self, offset: int, size: int) -> int:
        self.log.append(("r", offset, size))
        return int.from_bytes(self.mem[offset : offset + size], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        self.log.append(("w", offset, size, value))
        self.mem[offset : offset + size] = value.to_bytes(size, "little")


def test_map_and_route() -> None:
    bus = MmioBus()
    a, b = Scratch("a", 0x100), Scratch("b", 0x1000)
    bus.map(0x1000_0000, a)
    bus.map(0x100000, b)
    bus.write(0x1000_0004, 4, 0xDEADBEEF)
    assert bus.read(0x1000_0004, 4) == 0xDEADBEEF
    assert bus.read(0x1000_0005, 1) == 0xBE
    assert a.log[0] == ("w", 4, 4, 0xDEADBEEF)
    bus.write(0x100FF8, 8, 0x1122334455667788)
    assert bus.read(0x100FF8, 8) == 0x1122334455667788
    assert bus.lookup(0x100FFF) == (b, 0xFFF)
    assert bus.lookup(0x101000) is None
    assert [base for base, _ in bus.devices()] == [0x100000, 0x1000_0000]


def test_value_is_masked_to_access_size() -> None:
    bus = MmioBus()
    dev = Scratch("d", 16)
    bus.map(0, dev)
    bus.write(0, 2, 0x12345678)
    assert dev.log[-1] == ("w", 0, 2, 0x5678)


@pytest.mark.parametrize(
    ("base", "size"),
    [(0x1000, 0x100), (0x10FF, 1), (0xF00, 0x101), (0xF00, 0x1000), (0x1080, 0x10)],
)
def test_overlaps_are_rejected(base: int, size: int) -> None:
    bus = MmioBus()
    bus.map(0x1000, Scratch("first", 0x100))
    with pytest.raises(ValueError, match="overlaps"):
        bus.map(base, Scratch("second", size))


def test_adjacent_windows_are_fine() -> None:
    bus = MmioBus()
    bus.map(0x1000, Scratch("mid", 0x100))
    bus.map(0x1100, Scratch("after", 0x100))
    bus.map(0xF00, Scratch("before", 0x100))
    assert [d.name for _, d in bus.devices()] == ["before", "mid", "after"]


def test_bad_windows_are_rejected() -> None:
    bus = MmioBus()
    with pytest.raises(ValueError):
        bus.map(0x1000, Scratch("empty", 0))


@pytest.mark.parametrize("addr", [0x0, 0xFFF, 0x1100, 0x8000_0000])
def test_unmapped_access_faults(addr: int) -> None:
    bus = MmioBus()
    bus.map(0x1000, Scratch("dev", 0x100))
    with pytest.raises(MmioFault) as info:
        bus.read(addr, 4)
    assert info.value.addr == addr
    with pytest.raises(MmioFault):
        bus.write(addr, 1, 0)


def test_straddling_access_reads_zero_and_drops_writes() -> None:
    bus = MmioBus()
    dev = Scratch("dev", 0x100)
    dev.mem[0xFC:0x100] = b"\xff" * 4
    bus.map(0x1000, dev)
    assert bus.read(0x10FC, 8) == 0
    bus.write(0x10FE, 4, 0x12345678)
    assert dev.log == []
    assert bus.read(0x10FC, 4) == 0xFFFFFFFF


def test_irq_line_reports_edges_and_level() -> None:
    seen: list[bool] = []
    line = IrqLine("x")
    line.set(True)  # no sink yet: only the level changes
    line.connect(seen.append)
    assert seen == [True]  # a new sink learns the current level
    line.set(True)
    line(False)
    line.set(False)
    line.set(True)
    assert seen == [True, False, True]
    assert line.level is True
    line.connect(None)
    line.set(False)
    assert seen == [True, False, True]
