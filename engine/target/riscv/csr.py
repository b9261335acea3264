"""Zicsr for user-level code: fflags, frm, fcsr and the cycle/time/instret counters."""

from __future__ import annotations

from engine.ir.core import Value
from engine.target.riscv import decode as d
from engine.target.riscv.state import GLOBALS as G
from engine.target.riscv.system import rdtime
from engine.target.riscv.translate import Ctx

FFLAGS, FRM, FCSR = 0x001, 0x002, 0x003
CYCLE, TIME, INSTRET = 0xC00, 0xC01, 0xC02
_KNOWN = {FFLAGS, FRM, FCSR, CYCLE, TIME, INSTRET}


def _read(c: Ctx, csr: int) -> Value:
    b = c.b
    if csr == FFLAGS:
        return G.fflags
    if csr == FRM:
        return G.frm
    if csr == FCSR:
        return b.or_(b.shl(G.frm, 5), G.fflags)
    if csr == TIME:
        return b.call(rdtime)  # type: ignore[return-value]
    # cycle counts retired instructions: deterministic, which tests rely on.
    # Earlier instructions of this TB have retired but are not yet accounted.
    return b.add(G.instret, c.index)


def _write(c: Ctx, csr: int, value: Value) -> None:
    b = c.b
    if csr == FFLAGS:
        b.mov(G.fflags, b.and_(value, 0x1F))
    elif csr == FRM:
        b.mov(G.frm, b.and_(value, 7))
    else:
        b.mov(G.fflags, b.and_(value, 0x1F))
        b.mov(G.frm, b.and_(b.shr(value, 5), 7))


def translate_csr(c: Ctx) -> None:
    i = c.insn
    csr, f3, rd, src_field = i >> 20, d.funct3(i), d.rd(i), d.rs1(i)
    if csr not in _KNOWN:
        return c.illegal()
    op = f3 & 3  # 1 write, 2 set, 3 clear
    writes = op == 1 or src_field != 0
    if writes and csr >> 10 == 3:
        return c.illegal()  # the counters are read-only
    src: Value = src_field if f3 & 4 else c.gpr(src_field)
    old = _read(c, csr) if (rd != 0 or op != 1) else None
    if writes:
        b = c.b
        if op == 1:
            new = src
        elif op == 2:
            new = b.or_(old, src)
        else:
            new = b.and_(old, b.not_(src))
        # Capture the old value in a temp first: the write may change its source.
        if old is not None and not isinstance(old, int) and old.is_global:
            old = b.copy(old)
        _write(c, csr, new)
    if old is not None:
        c.set_gpr(rd, old)
