"""Each IR op's meaning as a Python expression on unsigned ints, for both Python tiers.

The interpreter tier (engine.backend.interp) pastes these expressions into a
TB's generated source; the IR evaluator (engine.backend.evaluate) compiles
each once, at import, into a small function it calls per op. One statement of
every op's meaning keeps the two tiers exact and identical; tests check both
against engine.ir.semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.ir.core import Cond, ExtKind, MemOp, Opc, Temp, Type, Value

_EXT = {
    ExtKind.S8: "((({a} & 0xFF) ^ 0x80) - 0x80) & 0xFFFFFFFFFFFFFFFF",
    ExtKind.U8: "{a} & 0xFF",
    ExtKind.S16: "((({a} & 0xFFFF) ^ 0x8000) - 0x8000) & 0xFFFFFFFFFFFFFFFF",
    ExtKind.U16: "{a} & 0xFFFF",
    ExtKind.S32: "((({a} & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000) & 0xFFFFFFFFFFFFFFFF",
    ExtKind.U32: "{a} & 0xFFFFFFFF",
}

_BINARY = {
    Opc.ADD: "({a} + {b}) & {M}",
    Opc.SUB: "({a} - {b}) & {M}",
    Opc.MUL: "({a} * {b}) & {M}",
    Opc.MULUH: "({a} * {b}) >> {BITS}",
    Opc.MULSH: "(((({a} ^ {SB}) - {SB}) * (({b} ^ {SB}) - {SB})) >> {BITS}) & {M}",
    Opc.MULSUH: "(((({a} ^ {SB}) - {SB}) * {b}) >> {BITS}) & {M}",
    Opc.DIV: "_sdiv({a}, {b}, {SB}, {M})",
    Opc.REM: "_srem({a}, {b}, {SB}, {M})",
    Opc.DIVU: "{a} // {b}",
    Opc.REMU: "{a} % {b}",
    Opc.AND: "{a} & {b}",
    Opc.OR: "{a} | {b}",
    Opc.XOR: "{a} ^ {b}",
    Opc.SHL: "({a} << ({b} & {SHMASK})) & {M}",
    Opc.SHR: "{a} >> ({b} & {SHMASK})",
    Opc.SAR: "((({a} ^ {SB}) - {SB}) >> ({b} & {SHMASK})) & {M}",
}

_UNARY = {
    Opc.MOV: "{a}",
    Opc.NEG: "-{a} & {M}",
    Opc.NOT: "{a} ^ {M}",
    Opc.EXTU_I32_I64: "{a} & 0xFFFFFFFF",
    Opc.EXTS_I32_I64: _EXT[ExtKind.S32],
    Opc.TRUNC_I64_I32: "{a} & 0xFFFFFFFF",
}

_COMPARE = {
    Cond.EQ: "==", Cond.NE: "!=", Cond.LT: "<", Cond.GE: ">=", Cond.LE: "<=", Cond.GT: ">",
    Cond.LTU: "<", Cond.GEU: ">=", Cond.LEU: "<=", Cond.GTU: ">",
}  # fmt: skip

# The guest-memory accessor each access calls, by name: fn(addr, pc, mmu) and
# fn(addr, value, pc, mmu). Alignment is checked by the translator's own ops.
LOADERS = {
    MemOp.SIZE_8: "ld8u", MemOp.SIZE_8 | MemOp.SIGN: "ld8s",
    MemOp.SIZE_16: "ld16u", MemOp.SIZE_16 | MemOp.SIGN: "ld16s",
    MemOp.SIZE_32: "ld32u", MemOp.SIZE_32 | MemOp.SIGN: "ld32s",
    MemOp.SIZE_64: "ld64", MemOp.SIZE_64 | MemOp.SIGN: "ld64",
}  # fmt: skip
STORERS = {
    MemOp.SIZE_8: "st8",
    MemOp.SIZE_16: "st16",
    MemOp.SIZE_32: "st32",
    MemOp.SIZE_64: "st64",
}


def loader(memop: int) -> str:
    return LOADERS[MemOp(memop & ~MemOp.ALIGN)]


def storer(memop: int) -> str:
    return STORERS[MemOp(memop & 3)]


def _sdiv(a: int, b: int, sign_bit: int, mask: int) -> int:
    """Signed division rounding toward zero on unsigned-held operands."""
    a = (a ^ sign_bit) - sign_bit
    b = (b ^ sign_bit) - sign_bit
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & mask


def _srem(a: int, b: int, sign_bit: int, mask: int) -> int:
    a = (a ^ sign_bit) - sign_bit
    b = (b ^ sign_bit) - sign_bit
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & mask


# The names the expressions use besides their operands.
RUNTIME: dict[str, Any] = {"_sdiv": _sdiv, "_srem": _srem}


def binary(opc: Opc, type: Type, a: str, b: str) -> str:
    bits = type.bits
    return _BINARY[opc].format(a=a, b=b, M=hex(type.mask), BITS=bits,
                               SB=hex(1 << (bits - 1)), SHMASK=bits - 1)  # fmt: skip


def unary_operand_type(opc: Opc, result: Type) -> Type:
    """The type a unary op reads: the widening conversions read 32 bits."""
    return Type.I32 if opc in (Opc.EXTU_I32_I64, Opc.EXTS_I32_I64) else result


def unary(opc: Opc, result: Type, a: str) -> str:
    return _UNARY[opc].format(a=a, M=hex(result.mask))


def extend(kind: ExtKind, a: str) -> str:
    return _EXT[kind].format(a=a)


def compared_bits(a: Value, b: Value) -> int:
    """The width a comparison works in: its temps', 64 for two constants."""
    return next((v.type.bits for v in (a, b) if isinstance(v, Temp)), 64)


def compare(cond: Cond, bits: int, a: str, b: str) -> str:
    if cond not in (Cond.EQ, Cond.NE) and not cond.is_unsigned:
        # Flipping the sign bit maps signed order onto unsigned order.
        flip = hex(1 << (bits - 1))
        a, b = f"({a} ^ {flip})", f"({b} ^ {flip})"
    return f"{a} {_COMPARE[cond]} {b}"


def function(params: str, expression: str) -> Callable[..., Any]:
    """`lambda params: expression`, compiled once."""
    return eval(f"lambda {params}: {expression}", dict(RUNTIME))
