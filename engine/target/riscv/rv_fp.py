"""The F and D extensions: loads, stores, and OP-FP / fused multiply-add to IR.

Sign injection and moves are plain bit operations in IR; arithmetic,
comparisons and conversions call the softfloat helpers, which keep exact
results and fflags for every rounding mode.
"""

from __future__ import annotations

from engine.ir.core import Cond, MemOp, Value
from engine.target.riscv import decode as d
from engine.target.riscv.fp_helpers import BOX, FCVT_D_S, FCVT_S_D, HELPERS
from engine.target.riscv.state import GLOBALS as G
from engine.target.riscv.translate import Ctx, address

_FMT = {0: "s", 1: "d"}
_FMA_NAMES = {0x43: "fmadd", 0x47: "fmsub", 0x4B: "fnmsub", 0x4F: "fnmadd"}
_SIGN = {"s": 1 << 31, "d": 1 << 63}
_CANONICAL_NAN32 = 0x7FC0_0000


def _rounding_mode(c: Ctx, rm: int) -> Value | None:
    """The effective rounding mode for field `rm`, or None after raising illegal-instruction."""
    if rm in (5, 6):
        c.illegal()
        return None
    if rm != 7:
        return rm
    # Dynamic: frm must hold a valid mode when the instruction executes.
    b = c.b
    ok = b.label()
    b.brcond(Cond.LEU, G.frm, 4, ok)
    c.raise_exception(2, c.raw)
    b.set_label(ok)
    return G.frm


def _fpu_off(c: Ctx) -> bool:
    """With mstatus.FS off every F/D instruction is illegal (system mode)."""
    if c.fs == 0:
        c.illegal()
        return True
    return False


def translate_load(c: Ctx) -> None:
    i = c.insn
    f3 = d.funct3(i)
    if f3 not in (2, 3) or _fpu_off(c):
        return None if c.ended else c.illegal()
    addr = address(c, d.rs1(i), d.imm_i(i))
    value = c.b.load(addr, MemOp.SIZE_32 if f3 == 2 else MemOp.SIZE_64, c.mmu)
    c.mark_fs_dirty()
    c.b.mov(G.f[d.rd(i)], c.b.or_(value, BOX) if f3 == 2 else value)


def translate_store(c: Ctx) -> None:
    i = c.insn
    f3 = d.funct3(i)
    if f3 not in (2, 3) or _fpu_off(c):
        return None if c.ended else c.illegal()
    memop = MemOp.SIZE_32 if f3 == 2 else MemOp.SIZE_64
    c.b.store(G.f[d.rs2(i)], address(c, d.rs1(i), d.imm_s(i)), memop, c.mmu)


def translate_fma(c: Ctx) -> None:
    i = c.insn
    fmt = _FMT.get((i >> 25) & 3)
    if fmt is None:
        return c.illegal()
    if _fpu_off(c):
        return
    c.mark_fs_dirty()
    rm = _rounding_mode(c, d.funct3(i))
    if rm is None:
        return
    helper = HELPERS[fmt][_FMA_NAMES[i & 0x7F]]
    f = G.f
    c.b.mov(f[d.rd(i)], c.b.call(helper, f[d.rs1(i)], f[d.rs2(i)], f[d.rs3(i)], rm))


def _unboxed(c: Ctx, fmt: str, v: Value) -> Value:
    if fmt == "d":
        return v
    b = c.b
    return b.movcond(Cond.EQ, b.shr(v, 32), 0xFFFF_FFFF, b.and_(v, 0xFFFF_FFFF), _CANONICAL_NAN32)


def _sign_inject(c: Ctx, fmt: str, kind: int) -> Value | None:
    b, i = c.b, c.insn
    sign = _SIGN[fmt]
    a = _unboxed(c, fmt, G.f[d.rs1(i)])
    s = _unboxed(c, fmt, G.f[d.rs2(i)])
    if kind == 0:  # fsgnj
        new_sign = b.and_(s, sign)
    elif kind == 1:  # fsgnjn
        new_sign = b.and_(b.not_(s), sign)
    elif kind == 2:  # fsgnjx
        new_sign = b.and_(b.xor(a, s), sign)
    else:
        return None
    r = b.or_(b.and_(a, sign - 1), new_sign)
    return b.or_(r, BOX) if fmt == "s" else r


def translate_op_fp(c: Ctx) -> None:
    i = c.insn
    fmt = _FMT.get((i >> 25) & 3)
    if fmt is None:
        return c.illegal()
    if _fpu_off(c):
        return
    # Every OP-FP instruction writes an f register or fflags (or both).
    c.mark_fs_dirty()
    b = c.b
    h = HELPERS[fmt]
    f5, f3, r2 = i >> 27, d.funct3(i), d.rs2(i)
    f = G.f
    fa, fb = f[d.rs1(i)], f[r2]
    xa = c.gpr(d.rs1(i))
    rd = d.rd(i)

    def rounded() -> Value | None:
        return _rounding_mode(c, f3)

    if f5 in (0x00, 0x01, 0x02, 0x03):
        rm = rounded()
        if rm is not None:
            name = ("fadd", "fsub", "fmul", "fdiv")[f5]
            b.mov(f[rd], b.call(h[name], fa, fb, rm))
    elif f5 == 0x0B and r2 == 0:
        rm = rounded()
        if rm is not None:
            b.mov(f[rd], b.call(h["fsqrt"], fa, rm))
    elif f5 == 0x04:
        r = _sign_inject(c, fmt, f3)
        if r is None:
            return c.illegal()
        b.mov(f[rd], r)
    elif f5 == 0x05 and f3 in (0, 1):
        b.mov(f[rd], b.call(h["fmin" if f3 == 0 else "fmax"], fa, fb))
    elif f5 == 0x08 and ((fmt == "s" and r2 == 1) or (fmt == "d" and r2 == 0)):
        rm = rounded()
        if rm is not None:
            b.mov(f[rd], b.call(FCVT_S_D if fmt == "s" else FCVT_D_S, fa, rm))
    elif f5 == 0x14 and f3 in (0, 1, 2):
        c.set_gpr(rd, b.call(h[("fle", "flt", "feq")[f3]], fa, fb))
    elif f5 == 0x18 and r2 < 4:
        rm = rounded()
        if rm is not None:
            name = ("fcvt_w", "fcvt_wu", "fcvt_l", "fcvt_lu")[r2]
            c.set_gpr(rd, b.call(h[name], fa, rm))
    elif f5 == 0x1A and r2 < 4:
        rm = rounded()
        if rm is not None:
            name = ("fcvt_from_w", "fcvt_from_wu", "fcvt_from_l", "fcvt_from_lu")[r2]
            b.mov(f[rd], b.call(h[name], xa, rm))
    elif f5 == 0x1C and r2 == 0 and f3 == 0:  # fmv.x.w / fmv.x.d
        c.set_gpr(rd, b.sext32(fa) if fmt == "s" else fa)
    elif f5 == 0x1C and r2 == 0 and f3 == 1:
        c.set_gpr(rd, b.call(h["fclass"], fa))
    elif f5 == 0x1E and r2 == 0 and f3 == 0:  # fmv.w.x / fmv.d.x
        b.mov(f[rd], b.or_(b.zext32(xa), BOX) if fmt == "s" else xa)
    else:
        c.illegal()
