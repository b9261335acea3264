"""Helpers for F and D: NaN-boxing, fflags accumulation, and the softfloat calls.

Every helper takes raw 64-bit register values. Single-precision inputs are
unboxed (a value not NaN-boxed reads as the canonical NaN) and results are
boxed, as the F extension requires when FLEN is 64.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.fpu import softfloat as sf
from engine.ir.core import Helper, HelperFlags, Type
from engine.target.riscv.state import FFLAGS

BOX = 0xFFFF_FFFF_0000_0000
FP_FLAGS = HelperFlags.READS_STATE | HelperFlags.WRITES_STATE


def unbox32(v: int) -> int:
    return v & 0xFFFF_FFFF if v >> 32 == 0xFFFF_FFFF else 0x7FC0_0000


def _unbox(fmt: sf.Format, v: int) -> int:
    return unbox32(v) if fmt is sf.F32 else v


def _box(fmt: sf.Format, v: int) -> int:
    return v | BOX if fmt is sf.F32 else v


def _raise_flags(env: object, flags: int) -> None:
    if flags:
        state = env.state  # type: ignore[attr-defined]
        state[FFLAGS] |= flags


def _sext32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v | BOX if v & 0x8000_0000 else v


def _make_helpers(fmt: sf.Format, suffix: str) -> dict[str, Helper]:
    def arith2(op: Callable) -> Callable:
        def helper(env: object, a: int, b: int, rm: int) -> int:
            r, fl = op(fmt, _unbox(fmt, a), _unbox(fmt, b), rm)
            _raise_flags(env, fl)
            return _box(fmt, r)

        return helper

    def fsqrt(env: object, a: int, rm: int) -> int:
        r, fl = sf.sqrt(fmt, _unbox(fmt, a), rm)
        _raise_flags(env, fl)
        return _box(fmt, r)

    def fused(neg_product: bool, neg_addend: bool) -> Callable:
        def helper(env: object, a: int, b: int, c: int, rm: int) -> int:
            r, fl = sf.fma(
                fmt, _unbox(fmt, a), _unbox(fmt, b), _unbox(fmt, c), rm, neg_product, neg_addend
            )
            _raise_flags(env, fl)
            return _box(fmt, r)

        return helper

    def minmax(op: Callable) -> Callable:
        def helper(env: object, a: int, b: int) -> int:
            r, fl = op(fmt, _unbox(fmt, a), _unbox(fmt, b))
            _raise_flags(env, fl)
            return _box(fmt, r)

        return helper

    def compare(op: Callable) -> Callable:
        def helper(env: object, a: int, b: int) -> int:
            r, fl = op(fmt, _unbox(fmt, a), _unbox(fmt, b))
            _raise_flags(env, fl)
            return r

        return helper

    def fclass(env: object, a: int) -> int:
        return sf.classify(fmt, _unbox(fmt, a))

    def to_int(bits: int, signed: bool) -> Callable:
        def helper(env: object, a: int, rm: int) -> int:
            r, fl = sf.to_int(fmt, _unbox(fmt, a), rm, bits, signed)
            _raise_flags(env, fl)
            return r

        return helper

    def from_int(bits: int, signed: bool) -> Callable:
        def helper(env: object, x: int, rm: int) -> int:
            r, fl = sf.from_int(fmt, x, bits, signed, rm)
            _raise_flags(env, fl)
            return _box(fmt, r)

        return helper

    I64 = Type.I64
    fns: dict[str, tuple[Callable, int, HelperFlags]] = {
        "fadd": (arith2(sf.add), 3, FP_FLAGS),
        "fsub": (arith2(sf.sub), 3, FP_FLAGS),
        "fmul": (arith2(sf.mul), 3, FP_FLAGS),
        "fdiv": (arith2(sf.div), 3, FP_FLAGS),
        "fsqrt": (fsqrt, 2, FP_FLAGS),
        "fmadd": (fused(False, False), 4, FP_FLAGS),
        "fmsub": (fused(False, True), 4, FP_FLAGS),
        "fnmsub": (fused(True, False), 4, FP_FLAGS),
        "fnmadd": (fused(True, True), 4, FP_FLAGS),
        "fmin": (minmax(sf.min_), 2, FP_FLAGS),
        "fmax": (minmax(sf.max_), 2, FP_FLAGS),
        "feq": (compare(sf.eq), 2, FP_FLAGS),
        "flt": (compare(sf.lt), 2, FP_FLAGS),
        "fle": (compare(sf.le), 2, FP_FLAGS),
        "fclass": (fclass, 1, HelperFlags.PURE),
        "fcvt_w": (to_int(32, True), 2, FP_FLAGS),
        "fcvt_wu": (to_int(32, False), 2, FP_FLAGS),
        "fcvt_l": (to_int(64, True), 2, FP_FLAGS),
        "fcvt_lu": (to_int(64, False), 2, FP_FLAGS),
        "fcvt_from_w": (from_int(32, True), 2, FP_FLAGS),
        "fcvt_from_wu": (from_int(32, False), 2, FP_FLAGS),
        "fcvt_from_l": (from_int(64, True), 2, FP_FLAGS),
        "fcvt_from_lu": (from_int(64, False), 2, FP_FLAGS),
    }
    return {
        name: Helper(f"{name}_{suffix}", fn, (I64,) * nargs, I64, flags)
        for name, (fn, nargs, flags) in fns.items()
    }


def _convert(src: sf.Format, dst: sf.Format) -> Callable:
    def helper(env: object, a: int, rm: int) -> int:
        r, fl = sf.convert(src, dst, _unbox(src, a), rm)
        _raise_flags(env, fl)
        return _box(dst, r)

    return helper


HELPERS = {"s": _make_helpers(sf.F32, "s"), "d": _make_helpers(sf.F64, "d")}
FCVT_S_D = Helper("fcvt_s_d", _convert(sf.F64, sf.F32), (Type.I64, Type.I64), Type.I64, FP_FLAGS)
FCVT_D_S = Helper("fcvt_d_s", _convert(sf.F32, sf.F64), (Type.I64, Type.I64), Type.I64, FP_FLAGS)
