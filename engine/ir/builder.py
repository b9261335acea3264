"""Builds the ops of one translation block; the frontend's only way to emit IR."""

from __future__ import annotations

from collections.abc import Callable

from engine.ir.core import (
    Block,
    Cond,
    Exit,
    ExtKind,
    Helper,
    Label,
    MemOp,
    Op,
    Opc,
    Temp,
    Type,
    Value,
)


def make_global(name: str, offset: int, type: Type = Type.I64) -> Temp:
    """A temp backed by the CPU state at `offset` bytes; shared by all TBs."""
    if type != Type.I64 or offset % 8:
        raise ValueError("globals are 8-byte aligned i64 state slots")
    return Temp(-1, type, name, offset)


_TEMP_NAMES = [f"t{i}" for i in range(256)]


def _temp_name(index: int) -> str:
    return _TEMP_NAMES[index] if index < 256 else f"t{index}"


def _binary_method(opc: Opc, doc: str) -> Callable[..., Temp]:
    # Translation builds a few ops per guest instruction, most of them binary: each
    # method makes its temp and op itself rather than through temp() and emit().
    def method(self: Builder, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        temps = self.temps
        index = len(temps)
        d = Temp(index, type, _TEMP_NAMES[index] if index < 256 else f"t{index}")
        temps.append(d)
        self.ops.append(Op(opc, d, a, b))
        return d

    method.__doc__ = doc
    return method


class Builder:
    def __init__(self, pc: int) -> None:
        self.block = Block(pc)
        # The block's lists, appended to for every op and temp.
        self.ops = self.block.ops
        self.temps = self.block.temps

    # -- temps and labels -------------------------------------------------
    def temp(self, type: Type = Type.I64) -> Temp:
        temps = self.temps
        t = Temp(len(temps), type, _temp_name(len(temps)))
        temps.append(t)
        return t

    def label(self) -> Label:
        lab = Label(self.block.labels)
        self.block.labels += 1
        return lab

    def emit(self, opc: Opc, *args: object) -> Op:
        op = Op(opc, *args)
        self.ops.append(op)
        return op

    # -- value-returning helpers: each allocates its destination -----------
    def copy(self, a: Value, type: Type = Type.I64) -> Temp:
        """A local snapshot of a value (e.g. of a global about to be overwritten)."""
        d = self.temp(type)
        self.ops.append(Op(Opc.MOV, d, a))
        return d

    add = _binary_method(Opc.ADD, "a + b")
    sub = _binary_method(Opc.SUB, "a - b")
    mul = _binary_method(Opc.MUL, "the low half of a * b")
    div = _binary_method(Opc.DIV, "signed a / b (the frontend guards b == 0 and MIN / -1)")
    divu = _binary_method(Opc.DIVU, "unsigned a / b (the frontend guards b == 0)")
    rem = _binary_method(Opc.REM, "signed a % b")
    remu = _binary_method(Opc.REMU, "unsigned a % b")
    and_ = _binary_method(Opc.AND, "a & b")
    or_ = _binary_method(Opc.OR, "a | b")
    xor = _binary_method(Opc.XOR, "a ^ b")
    shl = _binary_method(Opc.SHL, "a << b, the count modulo the width")
    shr = _binary_method(Opc.SHR, "a >> b unsigned, the count modulo the width")
    sar = _binary_method(Opc.SAR, "a >> b signed, the count modulo the width")

    mulsh = _binary_method(Opc.MULSH, "the high half of signed a * signed b")
    muluh = _binary_method(Opc.MULUH, "the high half of unsigned a * unsigned b")
    mulsuh = _binary_method(Opc.MULSUH, "the high half of signed a * unsigned b")

    def binary(self, opc: Opc, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        """Any binary op by its opcode (the named methods above are the usual way)."""
        d = self.temp(type)
        self.ops.append(Op(opc, d, a, b))
        return d

    def neg(self, a: Value, type: Type = Type.I64) -> Temp:
        d = self.temp(type)
        self.emit(Opc.NEG, d, a)
        return d

    def not_(self, a: Value, type: Type = Type.I64) -> Temp:
        d = self.temp(type)
        self.emit(Opc.NOT, d, a)
        return d

    def ext(self, a: Value, kind: ExtKind) -> Temp:
        d = self.temp(Type.I64)
        self.emit(Opc.EXT, d, a, kind)
        return d

    def sext32(self, a: Value) -> Temp:
        return self.ext(a, ExtKind.S32)

    def zext32(self, a: Value) -> Temp:
        return self.ext(a, ExtKind.U32)

    def extu_i32_i64(self, a: Value) -> Temp:
        d = self.temp(Type.I64)
        self.emit(Opc.EXTU_I32_I64, d, a)
        return d

    def exts_i32_i64(self, a: Value) -> Temp:
        d = self.temp(Type.I64)
        self.emit(Opc.EXTS_I32_I64, d, a)
        return d

    def trunc_i64_i32(self, a: Value) -> Temp:
        d = self.temp(Type.I32)
        self.emit(Opc.TRUNC_I64_I32, d, a)
        return d

    def setcond(self, cond: Cond, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        d = self.temp(type)
        self.emit(Opc.SETCOND, d, cond, a, b)
        return d

    def movcond(
        self, cond: Cond, a: Value, b: Value, if_true: Value, if_false: Value,
        type: Type = Type.I64,
    ) -> Temp:  # fmt: skip
        d = self.temp(type)
        self.emit(Opc.MOVCOND, d, cond, a, b, if_true, if_false)
        return d

    def load(self, addr: Value, memop: MemOp, mmu_idx: int = 0) -> Temp:
        d = self.temp(Type.I64)
        self.emit(Opc.LD, d, addr, memop, mmu_idx)
        return d

    def call(self, helper: Helper, *args: Value) -> Temp | None:
        d = self.temp(helper.ret_type) if helper.ret_type is not None else None
        self.emit(Opc.CALL, helper, d, *args)
        return d

    # -- statements ---------------------------------------------------------
    def mov(self, dst: Temp, src: Value) -> None:
        self.ops.append(Op(Opc.MOV, dst, src))

    def store(self, value: Value, addr: Value, memop: MemOp, mmu_idx: int = 0) -> None:
        self.emit(Opc.ST, value, addr, memop, mmu_idx)

    def set_label(self, label: Label) -> None:
        self.emit(Opc.LABEL, label)

    def br(self, label: Label) -> None:
        self.emit(Opc.BR, label)

    def brcond(self, cond: Cond, a: Value, b: Value, label: Label) -> None:
        self.emit(Opc.BRCOND, cond, a, b, label)

    def insn_start(self, pc: int, insn: int) -> None:
        self.ops.append(Op(Opc.INSN_START, pc, insn))

    def goto_tb(self, pc: int) -> None:
        self.emit(Opc.GOTO_TB, pc)

    def goto_ptr(self, pc: Value) -> None:
        self.emit(Opc.GOTO_PTR, pc)

    def exit(self, code: Exit) -> None:
        self.emit(Opc.EXIT, code)
