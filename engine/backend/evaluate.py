"""The IR evaluator: runs a TB's ops one by one, for its first few runs.

Most blocks a boot translates run only a handful of times: of the 81,000 a
Debian boot meets, 24,000 run once. Giving each of them a Python function
(engine.backend.interp: source, then compile()) costs about 0.3 ms, ten
times what evaluating its ops once costs. So a TB is evaluated from its IR
until it has run a few times, and only then gets its function (see
engine.target.riscv.cpu.TB.fn).

The evaluator computes every op with the same expressions the interpreter
tier pastes into its source (engine.backend.op_source), compiled once each
at import, and calls the same memory accessors and helpers with the same
arguments: a block behaves identically on both.
"""

from __future__ import annotations

from typing import Any

from engine.backend import op_source
from engine.ir.core import BINARY_OPS, UNARY_OPS, Block, Cond, ExtKind, Opc, Temp, Type

_TYPES = (Type.I32, Type.I64, Type.F32, Type.F64)
# fn(a, b) for each binary op and result type; fn(a) for each unary op and result type.
_BINARY = {(opc, t): op_source.function("a, b", op_source.binary(opc, t, "a", "b"))
           for opc in BINARY_OPS for t in _TYPES}  # fmt: skip
_UNARY = {(opc, t): op_source.function("a", op_source.unary(opc, t, "a"))
          for opc in UNARY_OPS for t in _TYPES}  # fmt: skip
_EXTEND = {kind: op_source.function("a", op_source.extend(kind, "a")) for kind in ExtKind}
_COMPARE = {(cond, bits): op_source.function("a, b", op_source.compare(cond, bits, "a", "b"))
            for cond in Cond for bits in (32, 64)}  # fmt: skip
_MASK = {t: t.mask for t in _TYPES}
# The mask of what each unary op reads, by op and result type.
_UNARY_OPERAND_MASK = {(opc, t): op_source.unary_operand_type(opc, t).mask
                       for opc in UNARY_OPS for t in _TYPES}  # fmt: skip
_M64 = Type.I64.mask
_MEMOPS = range(16)  # every combination of MemOp's size, sign and alignment bits

_LABEL, _INSN_START, _MOV = Opc.LABEL, Opc.INSN_START, Opc.MOV
_LD, _ST, _BR, _BRCOND, _CALL = Opc.LD, Opc.ST, Opc.BR, Opc.BRCOND, Opc.CALL
_GOTO_TB, _GOTO_PTR, _EXIT = Opc.GOTO_TB, Opc.GOTO_PTR, Opc.EXIT
_SETCOND, _MOVCOND, _EXT = Opc.SETCOND, Opc.MOVCOND, Opc.EXT


class Evaluator:
    """Runs IR blocks against one CPU's state, memory and helpers."""

    def __init__(self, env: Any, state: memoryview, memory: Any, pc_slot: int) -> None:
        self.env = env
        self.state = state
        self.pc_slot = pc_slot
        # The accessor each access calls, by its memop.
        self.loaders = {m: getattr(memory, op_source.loader(m)) for m in _MEMOPS} if memory else {}
        self.storers = {m: getattr(memory, op_source.storer(m)) for m in _MEMOPS} if memory else {}

    def run(self, block: Block) -> int:
        """Run `block` once; returns its Exit code with the next pc in the state."""
        S = self.state
        temps: list[int] = [0] * len(block.temps)

        def read(v: Temp | int, mask: int = _M64) -> int:
            if v.__class__ is Temp:
                return S[v.offset >> 3] if v.is_global else temps[v.index]  # type: ignore[union-attr]
            return v & mask  # type: ignore[operator]  # a constant: an int, or an IntEnum

        def write(d: Temp, value: int) -> None:
            if d.is_global:
                S[d.offset >> 3] = value  # type: ignore[operator]
            else:
                temps[d.index] = value

        def condition(cond: Cond, a: Temp | int, b: Temp | int) -> bool:
            bits = op_source.compared_bits(a, b)
            mask = (1 << bits) - 1
            return _COMPARE[cond, bits](read(a, mask), read(b, mask))

        insn_pc = block.pc
        skip_to = -1  # a forward branch was taken: skip ops until this label
        for op in block.ops:
            opc, args = op.opc, op.args
            if skip_to >= 0:
                if opc is _LABEL and args[0].index == skip_to:
                    skip_to = -1
                continue
            if opc is _INSN_START:
                insn_pc = args[0]
            elif opc in BINARY_OPS:
                d, a, b = args
                t = d.type
                mask = _MASK[t]
                write(d, _BINARY[opc, t](read(a, mask), read(b, mask)))
            elif opc in UNARY_OPS:
                d, a = args
                t = d.type
                operand = read(a, _UNARY_OPERAND_MASK[opc, t])
                write(d, operand if opc is _MOV else _UNARY[opc, t](operand))
            elif opc is _LD:
                d, addr, memop, mmu = args
                write(d, self.loaders[memop](read(addr), insn_pc, mmu))
            elif opc is _ST:
                value, addr, memop, mmu = args
                self.storers[memop](read(addr), read(value), insn_pc, mmu)
            elif opc is _BRCOND:
                cond, a, b, label = args
                if condition(cond, a, b):
                    skip_to = label.index
            elif opc is _BR:
                skip_to = args[0].index
            elif opc is _LABEL:
                pass
            elif opc is _GOTO_TB:
                S[self.pc_slot] = args[0]
                return 0
            elif opc is _GOTO_PTR:
                S[self.pc_slot] = read(args[0])
                return 0
            elif opc is _EXIT:
                return int(args[0])
            elif opc is _CALL:
                helper, d = args[0], args[1]
                result = helper.fn(self.env, *[read(v) for v in args[2:]])
                if d is not None:
                    write(d, result)
            elif opc is _EXT:
                d, a, kind = args
                write(d, _EXTEND[kind](read(a)))
            elif opc is _SETCOND:
                d, cond, a, b = args
                write(d, 1 if condition(cond, a, b) else 0)
            elif opc is _MOVCOND:
                d, cond, a, b, if_true, if_false = args
                mask = _MASK[d.type]
                write(d, read(if_true, mask) if condition(cond, a, b) else read(if_false, mask))
            else:
                raise ValueError(f"the evaluator cannot run {op!r}")
        raise ValueError(f"TB {block.pc:#x} ran off its end")
