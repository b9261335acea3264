"""CLINT: MSIP, MTIMECMP/MTIME (whole and in halves), MTIP levels, deadlines."""

from __future__ import annotations

from engine.hw.aclint import CLINT_SIZE, M64, MSIP_BASE, MTIME_OFFSET, MTIMECMP_BASE, Clint


class FakeClock:
    def __init__(self, ns: int = 1_000_000_000) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns

    def advance(self, ns: int) -> None:
        self.ns += ns


def make() -> tuple[Clint, FakeClock, list[bool], list[bool]]:
    clock = FakeClock()
    clint = Clint(clock=clock)
    mtip: list[bool] = []
    msip: list[bool] = []
    clint.mtip.connect(mtip.append)
    clint.msip.connect(msip.append)
    return clint, clock, mtip, msip


def test_reset_values() -> None:
    clint, _, mtip, msip = make()
    assert clint.size == CLINT_SIZE == 0x10000
    assert clint.read(MTIMECMP_BASE, 8) == M64
    assert clint.read(MTIMECMP_BASE, 4) == 0xFFFFFFFF
    assert clint.read(MTIMECMP_BASE + 4, 4) == 0xFFFFFFFF
    assert clint.read(MTIME_OFFSET, 8) == 0
    assert clint.read(MSIP_BASE, 4) == 0
    assert mtip == [False] and msip == [False]
    assert clint.next_deadline_ns() is None


def test_mtime_counts_at_10mhz_from_the_clock() -> None:
    clint, clock, _, _ = make()
    clock.advance(1_000_000_000)
    assert clint.mtime() == 10_000_000
    clock.advance(99)  # below one 100 ns tick
    assert clint.read(MTIME_OFFSET, 8) == 10_000_000
    clock.advance(1)
    assert clint.read(MTIME_OFFSET, 8) == 10_000_001
    clock.advance(500 * 1_000_000_000)  # mtime passes 2^32
    value = clint.mtime()
    assert value > 1 << 32
    assert clint.read(MTIME_OFFSET, 4) == value & 0xFFFFFFFF
    assert clint.read(MTIME_OFFSET + 4, 4) == value >> 32


def test_mtime_is_writable_whole_and_in_halves() -> None:
    clint, clock, _, _ = make()
    clint.write(MTIME_OFFSET, 8, 0x1_0000_0000)
    assert clint.mtime() == 0x1_0000_0000
    clock.advance(1000)
    assert clint.mtime() == 0x1_0000_000A
    clint.write(MTIME_OFFSET + 4, 4, 0x5)
    assert clint.mtime() == 0x5_0000_000A
    clint.write(MTIME_OFFSET, 4, 0x20)
    assert clint.mtime() == 0x5_0000_0020


def test_msip_bit0_drives_the_line() -> None:
    clint, _, _, msip = make()
    clint.write(MSIP_BASE, 4, 0xFFFFFFFF)
    assert clint.read(MSIP_BASE, 4) == 1
    assert clint.msip.level
    clint.write(MSIP_BASE, 4, 2)
    assert clint.read(MSIP_BASE, 4) == 0
    assert msip == [False, True, False]


def test_mtip_is_a_level_of_mtime_vs_mtimecmp() -> None:
    clint, clock, mtip, _ = make()
    clint.write(MTIMECMP_BASE, 8, 1000)  # 100 us at 10 MHz
    assert not clint.mtip.level
    clock.advance(99_999)
    clint.update()
    assert not clint.mtip.level
    clock.advance(1)
    clint.update()
    assert clint.mtip.level
    clint.write(MTIMECMP_BASE, 8, 5000)  # moving the compare forward lowers it
    assert not clint.mtip.level
    clint.write(MTIMECMP_BASE, 8, 10)  # into the past raises it at once
    assert clint.mtip.level
    assert mtip == [False, True, False, True]


def test_mtimecmp_halves_as_rv32_software_writes_them() -> None:
    clint, clock, _, _ = make()
    clock.advance(10_000)  # mtime = 100
    clint.write(MTIMECMP_BASE + 4, 4, 0xFFFFFFFF)  # hi first: no spurious interrupt
    clint.write(MTIMECMP_BASE, 4, 50)
    assert clint.mtimecmp == 0xFFFFFFFF_00000032
    assert not clint.mtip.level
    clint.write(MTIMECMP_BASE + 4, 4, 0)
    assert clint.mtimecmp == 50
    assert clint.mtip.level
    assert clint.read(MTIMECMP_BASE, 8) == 50


def test_next_deadline_ns() -> None:
    clint, clock, _, _ = make()
    start = clock.ns
    clint.write(MTIMECMP_BASE, 8, 25)
    assert clint.next_deadline_ns() == start + 2500
    clock.advance(1234)
    assert clint.next_deadline_ns() == start + 2500
    clock.ns = start + 2500
    assert clint.mtime() == 25  # the deadline is the first instant the compare holds
    clock.ns = start + 2499
    assert clint.mtime() == 24
    clock.ns = start + 9999
    assert clint.next_deadline_ns() == clock.ns  # already due: now
    clint.write(MTIMECMP_BASE, 8, M64)
    assert clint.next_deadline_ns() is None


def test_deadline_with_rounding_and_offsets() -> None:
    clock = FakeClock(7)
    clint = Clint(clock=clock, freq_hz=3_000_000)  # 333.3 ns per tick
    clint.write(MTIME_OFFSET, 8, 1000)
    clint.write(MTIMECMP_BASE, 8, 1001)
    deadline = clint.next_deadline_ns()
    assert deadline == 7 + 334
    clock.ns = deadline - 1
    clint.update()
    assert not clint.mtip.level
    clock.ns = deadline
    clint.update()
    assert clint.mtip.level
    assert clint.deadline_ns(1000) == clock.ns


def test_unsupported_sizes_and_holes_are_ignored() -> None:
    clint, _, _, _ = make()
    clint.write(MSIP_BASE, 1, 1)
    clint.write(MSIP_BASE, 8, 1)
    assert not clint.msip.level
    clint.write(MTIMECMP_BASE, 2, 0)
    clint.write(MTIMECMP_BASE + 4, 8, 0)
    clint.write(MTIMECMP_BASE + 2, 4, 0)
    assert clint.mtimecmp == M64
    assert clint.read(MTIMECMP_BASE, 1) == 0
    assert clint.read(MTIMECMP_BASE + 4, 8) == 0
    assert clint.read(0x8, 4) == 0  # no second hart
    assert clint.read(0x4008, 8) == 0
    clint.write(0x4008, 8, 0)
    clint.write(0x8000, 4, 0)
    assert clint.read(0xFFFC, 4) == 0


def test_reset_restarts_time_and_disarms() -> None:
    clint, clock, _, _ = make()
    clock.advance(10**9)
    clint.write(MTIMECMP_BASE, 8, 0)
    clint.write(MSIP_BASE, 4, 1)
    assert clint.mtip.level and clint.msip.level
    clint.reset()
    assert clint.mtime() == 0
    assert clint.mtimecmp == M64
    assert not clint.mtip.level and not clint.msip.level
