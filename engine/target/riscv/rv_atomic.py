"""The A extension: LR/SC and the AMOs, word and doubleword.

One hart runs at a time, so an AMO is a load, an operation and a store with
nothing in between. LR records the address and the value it loaded; SC
succeeds only at that address while memory still holds that value (QEMU's
rule, one of the behaviours the spec allows), and always clears the reservation.
"""

from __future__ import annotations

from engine.ir.core import Cond, MemOp, Value
from engine.target.riscv import decode as d
from engine.target.riscv.exceptions import Cause
from engine.target.riscv.state import GLOBALS as G
from engine.target.riscv.state import NO_RESERVATION
from engine.target.riscv.translate import Ctx

LR, SC = 0x02, 0x03
# funct5 -> how the new memory value is made from (old, rs2)
_AMO = {
    0x01: "swap",
    0x00: "add",
    0x04: "xor",
    0x0C: "and",
    0x08: "or",
    0x10: "min",
    0x14: "max",
    0x18: "minu",
    0x1C: "maxu",
}


def _check_aligned(c: Ctx, addr: Value, size: int, cause: Cause) -> None:
    """Atomics must be naturally aligned: trap with `cause` otherwise."""
    b = c.b
    ok = b.label()
    b.brcond(Cond.EQ, b.and_(addr, size - 1), 0, ok)
    c.raise_exception(cause, addr)
    b.set_label(ok)


def _combine(c: Ctx, kind: str, old: Value, src: Value) -> Value:
    b = c.b
    if kind == "swap":
        return src
    if kind == "add":
        return b.add(old, src)
    if kind == "xor":
        return b.xor(old, src)
    if kind == "and":
        return b.and_(old, src)
    if kind == "or":
        return b.or_(old, src)
    cond = {"min": Cond.LT, "max": Cond.GT, "minu": Cond.LTU, "maxu": Cond.GTU}[kind]
    return b.movcond(cond, old, src, old, src)


def translate_amo(c: Ctx) -> None:
    i = c.insn
    f3, f5 = d.funct3(i), i >> 27
    if f3 not in (2, 3):
        return c.illegal()
    word = f3 == 2
    size = 4 if word else 8
    memop = MemOp.SIZE_32 | MemOp.SIGN if word else MemOp.SIZE_64
    b = c.b
    addr = b.copy(c.gpr(d.rs1(i)))
    if f5 == LR:
        if d.rs2(i) != 0:
            return c.illegal()
        _check_aligned(c, addr, size, Cause.LOAD_MISALIGNED)
        value = b.load(addr, memop, c.mmu)
        b.mov(G.res_addr, addr)
        b.mov(G.res_value, value)
        c.set_gpr(d.rd(i), value)
        return
    if f5 == SC:
        _check_aligned(c, addr, size, Cause.STORE_MISALIGNED)
        result = b.temp()
        done = b.label()
        b.mov(result, 1)
        b.brcond(Cond.NE, G.res_addr, addr, done)
        # Compared at the SC's width: an LR.D reservation taken by SC.W checks 32 bits.
        expected = b.sext32(G.res_value) if word else G.res_value
        b.brcond(Cond.NE, b.load(addr, memop, c.mmu), expected, done)
        b.store(c.gpr(d.rs2(i)), addr, memop, c.mmu)
        b.mov(result, 0)
        b.set_label(done)
        b.mov(G.res_addr, NO_RESERVATION)
        c.set_gpr(d.rd(i), result)
        return
    kind = _AMO.get(f5)
    if kind is None:
        return c.illegal()
    _check_aligned(c, addr, size, Cause.STORE_MISALIGNED)
    src: Value = c.gpr(d.rs2(i))
    if word and kind != "swap":
        # Compare and combine word operands as the sign-extended values they are.
        src = b.sext32(src)
    old = b.load(addr, memop, c.mmu)
    b.store(_combine(c, kind, old, src), addr, memop, c.mmu)
    c.set_gpr(d.rd(i), old)
