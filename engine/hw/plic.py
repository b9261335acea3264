"""The SiFive PLIC as QEMU's virt board configures it, for one hart.

Window 0x600000 at 0xc000000; 96 sources (source 0 does not exist), 3 priority
bits, and two contexts: 0 is hart 0 in M-mode, 1 is hart 0 in S-mode.

    0x000000 + 4*n          priority of source n (0..7; 0 never interrupts)
    0x001000 + 4*w          pending bits, sources 32w..32w+31 (read-only)
    0x002000 + 0x80*c + 4*w enable bits of context c
    0x200000 + 0x1000*c     priority threshold of context c
    0x200004 + 0x1000*c     claim (read) / complete (write) of context c

Claim and complete follow QEMU's sifive_plic: a claim returns the enabled,
pending source with the highest priority strictly above the context's
threshold (ties to the lowest ID), clears its pending bit and marks it claimed
(0 when there is none); a claimed source is not offered again until a complete
of its ID (from any context) ends the claim. Sources are level-triggered: a
rising line sets the pending bit, which stays set until claimed even if the
line falls (the PLIC spec's gateway, and QEMU since 9.x), and a line still high
at completion makes the source pending again — QEMU gets that from devices
re-raising their line on every register access; our lines report edges only.

A context's output line is high while a claim would return a source.

Registers are 32-bit, as on the SiFive part: other access sizes read as 0 and
ignore writes (QEMU raises an access fault for them). Priorities and
thresholds are WARL: only their 3 low bits are kept (QEMU's rule). Enable bits
of source 0 are hard-wired to 0 (QEMU stores them, to no effect).
"""

from __future__ import annotations

from engine.hw.irq import IrqLine

PLIC_SIZE = 0x600000
NUM_SOURCES = 96  # QEMU's VIRT_IRQCHIP_NUM_SOURCES; IDs 1..95 exist
NUM_PRIORITIES = 7  # VIRT_IRQCHIP_NUM_PRIO_BITS = 3; also the WARL mask
NUM_CONTEXTS = 2

PRIORITY_BASE = 0x0
PENDING_BASE = 0x1000
ENABLE_BASE = 0x2000
ENABLE_STRIDE = 0x80
CONTEXT_BASE = 0x200000
CONTEXT_STRIDE = 0x1000

_WORDS = (NUM_SOURCES + 31) // 32
# Source 0 is reserved: its enable and pending bits are hard-wired to 0.
_VALID = ((1 << NUM_SOURCES) - 1) & ~1


class Plic:
    """Level-triggered PLIC; inputs via `source(n)`, outputs via `context_irq(ctx)`."""

    name = "plic"
    size = PLIC_SIZE

    def __init__(self, num_sources: int = NUM_SOURCES, num_contexts: int = NUM_CONTEXTS) -> None:
        if num_sources != NUM_SOURCES:
            raise ValueError("only QEMU virt's 96-source PLIC is modelled")
        self.num_contexts = num_contexts
        self._sources = [
            IrqLine(f"plic.source{n}", lambda level, n=n: self._line_changed(n, level))
            for n in range(NUM_SOURCES)
        ]
        self._outputs = [IrqLine(f"plic.context{c}") for c in range(num_contexts)]
        self.reset()

    def reset(self) -> None:
        self.priority = [0] * NUM_SOURCES
        self.pending = 0  # bit n: source n requests service
        self.claimed = 0  # bit n: source n was claimed and not yet completed
        self.enable = [0] * self.num_contexts
        self.threshold = [0] * self.num_contexts
        for n, line in enumerate(self._sources):
            if n and line.level:
                self.pending |= 1 << n
        self._update()

    # -- wiring ---------------------------------------------------------------------
    def source(self, n: int) -> IrqLine:
        """The input line of interrupt source `n` (1..95); devices drive it."""
        if not 1 <= n < NUM_SOURCES:
            raise ValueError(f"PLIC source {n} does not exist (1..{NUM_SOURCES - 1})")
        return self._sources[n]

    def context_irq(self, ctx: int) -> IrqLine:
        """The output of context `ctx` (0: hart 0 MEIP, 1: hart 0 SEIP)."""
        return self._outputs[ctx]

    def _line_changed(self, n: int, level: bool) -> None:
        if level:
            self.pending |= 1 << n
            self._update()

    # -- arbitration ----------------------------------------------------------------
    def _best(self, ctx: int) -> int:
        """The source a claim by `ctx` would return, or 0."""
        candidates = self.pending & ~self.claimed & self.enable[ctx]
        best, best_prio = 0, self.threshold[ctx]
        while candidates:
            low = candidates & -candidates
            n = low.bit_length() - 1
            if self.priority[n] > best_prio:
                best, best_prio = n, self.priority[n]
            candidates ^= low
        return best

    def _update(self) -> None:
        for ctx, line in enumerate(self._outputs):
            line.set(self._best(ctx) != 0)

    def claim(self, ctx: int) -> int:
        n = self._best(ctx)
        if n:
            self.pending &= ~(1 << n)
            self.claimed |= 1 << n
        self._update()
        return n

    def complete(self, n: int) -> None:
        if not 0 < n < NUM_SOURCES:
            return
        bit = 1 << n
        self.claimed &= ~bit
        if self._sources[n].level:
            self.pending |= bit  # the level gateway forwards a request still held high
        self._update()

    # -- MMIO -----------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if size != 4 or offset & 3:
            return 0
        if offset < PENDING_BASE:
            n = offset >> 2
            return self.priority[n] if n < NUM_SOURCES else 0
        if offset < ENABLE_BASE:
            word = (offset - PENDING_BASE) >> 2
            return (self.pending >> (32 * word)) & 0xFFFF_FFFF if word < _WORDS else 0
        if offset < CONTEXT_BASE:
            ctx, rest = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            word = rest >> 2
            if ctx < self.num_contexts and word < _WORDS:
                return (self.enable[ctx] >> (32 * word)) & 0xFFFF_FFFF
            return 0
        ctx, reg = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if ctx >= self.num_contexts:
            return 0
        if reg == 0:
            return self.threshold[ctx]
        if reg == 4:
            return self.claim(ctx)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if size != 4 or offset & 3:
            return
        value &= 0xFFFF_FFFF
        if offset < PENDING_BASE:
            n = offset >> 2
            if 0 < n < NUM_SOURCES:
                self.priority[n] = value & NUM_PRIORITIES
                self._update()
            return
        if offset < ENABLE_BASE:
            return  # pending bits are read-only
        if offset < CONTEXT_BASE:
            ctx, rest = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            word = rest >> 2
            if ctx < self.num_contexts and word < _WORDS:
                shift = 32 * word
                cleared = self.enable[ctx] & ~(0xFFFF_FFFF << shift)
                self.enable[ctx] = (cleared | (value << shift)) & _VALID
                self._update()
            return
        ctx, reg = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if ctx >= self.num_contexts:
            return
        if reg == 0:
            self.threshold[ctx] = value & NUM_PRIORITIES
            self._update()
        elif reg == 4:
            self.complete(value)
