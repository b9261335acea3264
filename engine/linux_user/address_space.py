"""A user-mode guest address space: one flat buffer, a brk heap and an mmap allocator.

Layout, low to high: an unmapped guard below LOW (NULL dereferences fault),
the executable and its brk heap, the mmap area allocated top-down, and the
stack at the very top. The emulator checks only the outer bounds; holes
between mappings read as zero, which no correct program observes.
"""

from __future__ import annotations

import bisect

from engine.memory import FlatMemory

PAGE = 4096
LOW = 0x10000
DEFAULT_SIZE = 1 << 30
STACK_SIZE = 8 << 20
PIE_BASE = 0x40_0000


def page_up(x: int) -> int:
    return (x + PAGE - 1) & ~(PAGE - 1)


def _allocate_buffer(size: int) -> bytearray | memoryview:
    """Zero-filled guest RAM that costs memory only where the guest touches it."""
    try:
        import mmap

        # Private, not Python's default shared mapping: a forked child must get
        # its own copy, and MADV_DONTNEED must really zero pages.
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        return mmap.mmap(-1, size, flags=flags)  # type: ignore[return-value]
    except (ImportError, OSError, ValueError):
        return bytearray(size)  # Pyodide has no mmap module


class AddressSpace:
    def __init__(
        self, size: int = DEFAULT_SIZE, buffer: bytearray | memoryview | None = None
    ) -> None:
        if size < 64 << 20 or size > 1 << 32 or size % PAGE:
            raise ValueError("guest address space must be 64 MiB..4 GiB, a multiple of 4 KiB")
        self.size = size
        self.buffer = _allocate_buffer(size) if buffer is None else buffer
        self.memory = FlatMemory(self.buffer, LOW, size)
        # The top page holds the signal-return trampoline; the stack grows below it.
        self.trampoline = size - PAGE
        self.stack_top = size - PAGE
        self.mmap_top = size - STACK_SIZE - (16 << 20)
        self.brk_start = self.brk = LOW
        # Sorted, disjoint [start, end) intervals handed out by mmap.
        self.maps: list[tuple[int, int]] = []

    # -- zeroing ------------------------------------------------------------
    def zero(self, addr: int, length: int) -> None:
        """Return a range to all-zero, releasing host memory where possible."""
        end = addr + length
        inner_lo, inner_hi = page_up(addr), end & ~(PAGE - 1)
        madvise = getattr(self.buffer, "madvise", None)
        if madvise is not None and inner_hi - inner_lo >= 16 * PAGE:
            import mmap

            self.memory.fill(addr, inner_lo - addr)
            madvise(mmap.MADV_DONTNEED, inner_lo, inner_hi - inner_lo)
            self.memory.fill(inner_hi, end - inner_hi)
        else:
            self.memory.fill(addr, length)

    # -- brk ------------------------------------------------------------------
    def set_brk_start(self, addr: int) -> None:
        self.brk_start = self.brk = page_up(addr)

    def set_brk(self, new: int) -> int:
        """The brk system call: returns the (possibly unchanged) break."""
        lowest_map = self.maps[0][0] if self.maps else self.mmap_top
        if new < self.brk_start or new > lowest_map:
            return self.brk
        if new < self.brk:
            self.zero(new, self.brk - new)
        self.brk = new
        return new

    # -- mmap ------------------------------------------------------------------
    def _overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.maps, (start, 0))
        if i > 0 and self.maps[i - 1][1] > start:
            return True
        return i < len(self.maps) and self.maps[i][0] < end

    def _insert(self, start: int, end: int) -> None:
        self.unmap(start, end - start, zero=False)
        bisect.insort(self.maps, (start, end))

    def find_free(self, length: int, hint: int = 0) -> int | None:
        length = page_up(length)
        floor = page_up(self.brk) + (16 << 20)  # leave the heap room to grow
        fits = hint and floor <= hint and hint + length <= self.mmap_top
        if fits and not self._overlaps(hint, hint + length):
            return hint
        top = self.mmap_top
        for start, end in reversed(self.maps):
            if end <= top and top - end >= length:
                return top - length
            top = min(top, start)
        return top - length if top - length >= floor else None

    def map_at(self, addr: int, length: int) -> None:
        """Record [addr, addr+length) as mapped, replacing whatever was there (MAP_FIXED)."""
        length = page_up(length)
        if self._overlaps(addr, addr + length):
            self.zero(addr, length)
        self._insert(addr, addr + length)

    def unmap(self, addr: int, length: int, zero: bool = True) -> None:
        end = addr + page_up(length)
        kept: list[tuple[int, int]] = []
        for s, e in self.maps:
            if e <= addr or s >= end:
                kept.append((s, e))
                continue
            if s < addr:
                kept.append((s, addr))
            if e > end:
                kept.append((end, e))
            if zero:
                lo, hi = max(s, addr), min(e, end)
                self.zero(lo, hi - lo)
        self.maps = kept

    def contains(self, addr: int, length: int) -> bool:
        return addr >= LOW and addr + length <= self.size
