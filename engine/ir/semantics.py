"""The meaning of each pure IR op on Python ints: the specification every backend obeys.

Values are held unsigned (0 <= v < 2**bits). The optimizer folds constants with
these functions, and backend tests compare generated code against them.
"""

from __future__ import annotations

from engine.ir.core import Cond, ExtKind, Opc, Type


def to_signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _trunc_div(a: int, b: int) -> int:
    """Division rounding toward zero, as in C and RISC-V."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def compare(cond: Cond, a: int, b: int, bits: int) -> bool:
    mask = (1 << bits) - 1
    a &= mask
    b &= mask
    if not cond.is_unsigned and cond not in (Cond.EQ, Cond.NE):
        a, b = to_signed(a, bits), to_signed(b, bits)
    if cond == Cond.EQ:
        return a == b
    if cond == Cond.NE:
        return a != b
    if cond in (Cond.LT, Cond.LTU):
        return a < b
    if cond in (Cond.GE, Cond.GEU):
        return a >= b
    if cond in (Cond.LE, Cond.LEU):
        return a <= b
    return a > b


def binary(opc: Opc, a: int, b: int, type: Type) -> int:
    """Evaluate a binary op. Raises ZeroDivisionError/ArithmeticError on a violated precondition."""
    bits = type.bits
    mask = type.mask
    a &= mask
    b &= mask
    if opc == Opc.ADD:
        r = a + b
    elif opc == Opc.SUB:
        r = a - b
    elif opc == Opc.MUL:
        r = a * b
    elif opc == Opc.MULSH:
        r = (to_signed(a, bits) * to_signed(b, bits)) >> bits
    elif opc == Opc.MULUH:
        r = (a * b) >> bits
    elif opc == Opc.MULSUH:
        r = (to_signed(a, bits) * b) >> bits
    elif opc in (Opc.DIV, Opc.REM):
        sa, sb = to_signed(a, bits), to_signed(b, bits)
        if sb == 0 or (sa == -(1 << (bits - 1)) and sb == -1):
            raise ArithmeticError("signed division precondition violated")
        q = _trunc_div(sa, sb)
        r = q if opc == Opc.DIV else sa - q * sb
    elif opc in (Opc.DIVU, Opc.REMU):
        if b == 0:
            raise ArithmeticError("unsigned division by zero")
        r = a // b if opc == Opc.DIVU else a % b
    elif opc == Opc.AND:
        r = a & b
    elif opc == Opc.OR:
        r = a | b
    elif opc == Opc.XOR:
        r = a ^ b
    elif opc == Opc.SHL:
        r = a << (b % bits)
    elif opc == Opc.SHR:
        r = a >> (b % bits)
    elif opc == Opc.SAR:
        r = to_signed(a, bits) >> (b % bits)
    else:
        raise ValueError(f"not a binary op: {opc!r}")
    return r & mask


_EXT = {
    ExtKind.S8: (8, True),
    ExtKind.U8: (8, False),
    ExtKind.S16: (16, True),
    ExtKind.U16: (16, False),
    ExtKind.S32: (32, True),
    ExtKind.U32: (32, False),
}


def extend(kind: ExtKind, a: int) -> int:
    bits, signed = _EXT[kind]
    v = a & ((1 << bits) - 1)
    if signed:
        v = to_signed(v, bits)
    return v & 0xFFFF_FFFF_FFFF_FFFF


def unary(opc: Opc, a: int, type: Type) -> int:
    """Evaluate MOV/NEG/NOT and the i32<->i64 conversions; `type` is the result type."""
    if opc == Opc.MOV:
        return a & type.mask
    if opc == Opc.NEG:
        return -a & type.mask
    if opc == Opc.NOT:
        return ~a & type.mask
    if opc == Opc.EXTU_I32_I64:
        return a & 0xFFFF_FFFF
    if opc == Opc.EXTS_I32_I64:
        return to_signed(a, 32) & 0xFFFF_FFFF_FFFF_FFFF
    if opc == Opc.TRUNC_I64_I32:
        return a & 0xFFFF_FFFF
    raise ValueError(f"not a unary op: {opc!r}")
