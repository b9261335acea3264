"""Builds the ops of one translation block; the frontend's only way to emit IR."""

from __future__ import annotations

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


class Builder:
    def __init__(self, pc: int) -> None:
        self.block = Block(pc)

    # -- temps and labels -------------------------------------------------
    def temp(self, type: Type = Type.I64) -> Temp:
        t = Temp(len(self.block.temps), type, f"t{len(self.block.temps)}")
        self.block.temps.append(t)
        return t

    def label(self) -> Label:
        lab = Label(self.block.labels)
        self.block.labels += 1
        return lab

    def emit(self, opc: Opc, *args: object) -> Op:
        op = Op(opc, *args)
        self.block.ops.append(op)
        return op

    # -- value-returning helpers: each allocates its destination -----------
    def copy(self, a: Value, type: Type = Type.I64) -> Temp:
        """A local snapshot of a value (e.g. of a global about to be overwritten)."""
        d = self.temp(type)
        self.emit(Opc.MOV, d, a)
        return d

    def _binary(self, opc: Opc, a: Value, b: Value, type: Type) -> Temp:
        d = self.temp(type)
        self.emit(opc, d, a, b)
        return d

    def add(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.ADD, a, b, type)

    def sub(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.SUB, a, b, type)

    def mul(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.MUL, a, b, type)

    def mulsh(self, a: Value, b: Value) -> Temp:
        return self._binary(Opc.MULSH, a, b, Type.I64)

    def muluh(self, a: Value, b: Value) -> Temp:
        return self._binary(Opc.MULUH, a, b, Type.I64)

    def mulsuh(self, a: Value, b: Value) -> Temp:
        return self._binary(Opc.MULSUH, a, b, Type.I64)

    def div(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.DIV, a, b, type)

    def divu(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.DIVU, a, b, type)

    def rem(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.REM, a, b, type)

    def remu(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.REMU, a, b, type)

    def and_(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.AND, a, b, type)

    def or_(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.OR, a, b, type)

    def xor(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.XOR, a, b, type)

    def shl(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.SHL, a, b, type)

    def shr(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.SHR, a, b, type)

    def sar(self, a: Value, b: Value, type: Type = Type.I64) -> Temp:
        return self._binary(Opc.SAR, a, b, type)

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
        self.emit(Opc.MOV, dst, src)

    def store(self, value: Value, addr: Value, memop: MemOp, mmu_idx: int = 0) -> None:
        self.emit(Opc.ST, value, addr, memop, mmu_idx)

    def set_label(self, label: Label) -> None:
        self.emit(Opc.LABEL, label)

    def br(self, label: Label) -> None:
        self.emit(Opc.BR, label)

    def brcond(self, cond: Cond, a: Value, b: Value, label: Label) -> None:
        self.emit(Opc.BRCOND, cond, a, b, label)

    def insn_start(self, pc: int, insn: int) -> None:
        self.emit(Opc.INSN_START, pc, insn)

    def goto_tb(self, pc: int) -> None:
        self.emit(Opc.GOTO_TB, pc)

    def goto_ptr(self, pc: Value) -> None:
        self.emit(Opc.GOTO_PTR, pc)

    def exit(self, code: Exit) -> None:
        self.emit(Opc.EXIT, code)
