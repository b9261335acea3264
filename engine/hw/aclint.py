"""The SiFive CLINT as QEMU's virt board has it: one hart's MSIP, MTIMECMP and MTIME.

Layout (offsets in the 0x10000 window, as QEMU's ACLINT MSWI + MTIMER pair
with the SiFive CLINT map): MSIP at 0x0 (one 32-bit word per hart, bit 0),
MTIMECMP at 0x4000 (64-bit per hart), MTIME at 0xBFF8 (64-bit).

Time is not simulated: MTIME is derived from a host clock (monotonic ns by
default, injectable for tests) at `freq_hz`, starting from 0 at reset, so it
advances without any access. Nothing here runs on its own; the machine loop
calls `update()` to re-evaluate MTIP and sleeps in wfi until
`next_deadline_ns()`.

Access sizes follow QEMU: MSIP decodes only 32-bit accesses; MTIMECMP and
MTIME decode 64-bit accesses at the register and 32-bit accesses to either
half. Anything else (bytes, halfwords, a 64-bit access to a high half, the
unused space between registers) reads as 0 and ignores writes — where QEMU
would raise an access fault for the wrong sizes, we tolerate them quietly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.hw.irq import IrqLine

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF
NS_PER_S = 1_000_000_000

MSIP_BASE = 0x0
MTIMECMP_BASE = 0x4000
MTIME_OFFSET = 0xBFF8
CLINT_SIZE = 0x10000
DEFAULT_TIMEBASE_HZ = 10_000_000


def _read_half(value64: int, offset_in_reg: int, size: int) -> int:
    if offset_in_reg == 0 and size == 8:
        return value64
    if offset_in_reg == 0 and size == 4:
        return value64 & M32
    if offset_in_reg == 4 and size == 4:
        return value64 >> 32
    return 0


def _merge_half(old64: int, offset_in_reg: int, size: int, value: int) -> int | None:
    """The register after a write, or None when the access is not decoded."""
    if offset_in_reg == 0 and size == 8:
        return value & M64
    if offset_in_reg == 0 and size == 4:
        return (old64 & (M32 << 32)) | (value & M32)
    if offset_in_reg == 4 and size == 4:
        return ((value & M32) << 32) | (old64 & M32)
    return None


class Clint:
    """CLINT for hart 0; outputs `msip` (MSIP) and `mtip` (MTIP), both level lines."""

    name = "clint"
    size = CLINT_SIZE

    def __init__(
        self,
        clock: Callable[[], int] = time.monotonic_ns,
        freq_hz: int = DEFAULT_TIMEBASE_HZ,
    ) -> None:
        self._clock = clock
        self.freq_hz = freq_hz
        self.msip = IrqLine("msip")
        self.mtip = IrqLine("mtip")
        self.mtimecmp = M64
        self._epoch_ns = 0
        self._ticks_at_epoch = 0
        self.reset()

    def reset(self) -> None:
        # mtimecmp all ones (nothing pending until software arms it); mtime restarts at 0.
        self.mtimecmp = M64
        self.msip.set(False)
        self.set_mtime(0)

    # -- time -----------------------------------------------------------------------
    def mtime(self) -> int:
        """The current MTIME; also what the hart's `time` CSR reads."""
        elapsed = self._clock() - self._epoch_ns
        return (self._ticks_at_epoch + elapsed * self.freq_hz // NS_PER_S) & M64

    def set_mtime(self, value: int) -> None:
        self._epoch_ns = self._clock()
        self._ticks_at_epoch = value & M64
        self.update()

    def deadline_ns(self, ticks: int) -> int | None:
        """Host clock (ns) at which MTIME reaches `ticks`; now if it already has.

        All ones means "never" (software parks a compare register there), so it
        gives None. Usable for Sstc's stimecmp too, which counts the same time.
        """
        if ticks >= M64:
            return None
        now = self._clock()
        if self.mtime() >= ticks:
            return now
        remaining = ticks - self._ticks_at_epoch
        # Round up so that at the returned instant the floor in mtime() has reached ticks.
        return self._epoch_ns + -(-remaining * NS_PER_S // self.freq_hz)

    def next_deadline_ns(self) -> int | None:
        """Host clock (ns) at which MTIP will rise; now if it is pending, None if never."""
        return self.deadline_ns(self.mtimecmp)

    def update(self) -> None:
        """Re-evaluate MTIP against the current time (level: mtime >= mtimecmp)."""
        self.mtip.set(self.mtime() >= self.mtimecmp)

    # -- MMIO -----------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset == MSIP_BASE:
            return int(self.msip.level) if size == 4 else 0
        if MTIMECMP_BASE <= offset < MTIMECMP_BASE + 8:
            return _read_half(self.mtimecmp, offset - MTIMECMP_BASE, size)
        if MTIME_OFFSET <= offset < MTIME_OFFSET + 8:
            return _read_half(self.mtime(), offset - MTIME_OFFSET, size)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == MSIP_BASE:
            if size == 4:
                self.msip.set(bool(value & 1))
            return
        if MTIMECMP_BASE <= offset < MTIMECMP_BASE + 8:
            merged = _merge_half(self.mtimecmp, offset - MTIMECMP_BASE, size, value)
            if merged is not None:
                self.mtimecmp = merged
                self.update()
            return
        if MTIME_OFFSET <= offset < MTIME_OFFSET + 8:
            merged = _merge_half(self.mtime(), offset - MTIME_OFFSET, size, value)
            if merged is not None:
                self.set_mtime(merged)
