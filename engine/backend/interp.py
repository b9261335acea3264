"""The interpreter tier: runs IR translation blocks in Python.

Each TB's ops are turned into the body of one Python function, one statement
per op from a fixed template, and compiled once; running the TB is one call.
This keeps the tier exact and easy to audit (every template states the op's
meaning on unsigned Python ints) while avoiding a dispatch per op.

Control flow inside a TB only goes forward, so the basic blocks are emitted in
order, each guarded by `if _b == k:`; a branch sets `_b` to its target block.

The generated function takes no arguments. It reads the CPU state as `S`, a
memoryview of u64 slots, calls guest-memory accessors that raise on faults,
and returns an `Exit` code with the next pc stored in the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from time import perf_counter
from types import CodeType
from typing import Any

from engine.backend import op_source
from engine.backend.evaluate import Evaluator
from engine.ir.core import BINARY_OPS, HELPERS, UNARY_OPS, Block, Cond, Op, Opc, Temp, Type, Value

TBFunction = Callable[[], int]


class _Emitter:
    """Writes the Python source of one TB."""

    def __init__(self, block: Block, pc_slot: int) -> None:
        self.block = block
        self.pc_slot = pc_slot
        self.lines: list[str] = []
        self.helpers: dict[str, Callable[..., int | None]] = {}
        self.insn_pc = block.pc

    # -- operands ------------------------------------------------------------
    def val(self, v: Value, type: Type = Type.I64) -> str:
        if isinstance(v, Temp):
            return f"S[{v.offset >> 3}]" if v.is_global else f"t{v.index}"
        return hex(v & type.mask)

    def target(self, t: Temp) -> str:
        return f"S[{t.offset >> 3}]" if t.is_global else f"t{t.index}"

    def compare(self, cond: Cond, a: Value, b: Value) -> str:
        bits = op_source.compared_bits(a, b)
        type = Type.I64 if bits == 64 else Type.I32
        return op_source.compare(cond, bits, self.val(a, type), self.val(b, type))

    # -- ops --------------------------------------------------------------------
    def op(self, op: Op, indent: str) -> list[str]:
        opc, args = op.opc, op.args
        if opc in BINARY_OPS:
            d, a, b = args
            t = d.type
            expr = op_source.binary(opc, t, self.val(a, t), self.val(b, t))
            return [f"{indent}{self.target(d)} = {expr}"]
        if opc in UNARY_OPS:
            d, a = args
            source = self.val(a, op_source.unary_operand_type(opc, d.type))
            return [f"{indent}{self.target(d)} = {op_source.unary(opc, d.type, source)}"]
        if opc == Opc.EXT:
            d, a, kind = args
            return [f"{indent}{self.target(d)} = {op_source.extend(kind, self.val(a))}"]
        if opc == Opc.SETCOND:
            d, cond, a, b = args
            return [f"{indent}{self.target(d)} = 1 if {self.compare(cond, a, b)} else 0"]
        if opc == Opc.MOVCOND:
            d, cond, a, b, vt, vf = args
            t = d.type
            expr = f"{self.val(vt, t)} if {self.compare(cond, a, b)} else {self.val(vf, t)}"
            return [f"{indent}{self.target(d)} = {expr}"]
        if opc == Opc.LD:
            d, addr, memop, mmu = args
            call = f"{op_source.loader(memop)}({self.val(addr)}, {hex(self.insn_pc)}, {mmu})"
            return [f"{indent}{self.target(d)} = {call}"]
        if opc == Opc.ST:
            v, addr, memop, mmu = args
            fn = op_source.storer(memop)
            return [f"{indent}{fn}({self.val(addr)}, {self.val(v)}, {hex(self.insn_pc)}, {mmu})"]
        if opc == Opc.CALL:
            helper, d = args[0], args[1]
            name = f"h_{helper.name}"
            self.helpers[name] = helper.fn
            call_args = ", ".join(["env"] + [self.val(a) for a in args[2:]])
            call = f"{name}({call_args})"
            return [f"{indent}{self.target(d)} = {call}" if d is not None else indent + call]
        if opc == Opc.INSN_START:
            self.insn_pc = args[0]
            return [f"{indent}# {args[0]:#x}: {args[1]:#x}"]
        if opc == Opc.GOTO_TB:
            return [f"{indent}S[{self.pc_slot}] = {hex(args[0])}", f"{indent}return 0"]
        if opc == Opc.GOTO_PTR:
            return [f"{indent}S[{self.pc_slot}] = {self.val(args[0])}", f"{indent}return 0"]
        if opc == Opc.EXIT:
            return [f"{indent}return {int(args[0])}"]
        raise ValueError(f"interpreter cannot run {op!r}")

    # -- structure ----------------------------------------------------------------
    def emit(self) -> str:
        segments: list[list[Op]] = [[]]
        segment_of_label: dict[int, int] = {}
        for op in self.block.ops:
            if op.opc == Opc.LABEL:
                segment_of_label[op.args[0].index] = len(segments)
                segments.append([])
            else:
                segments[-1].append(op)
        out = ["def tb():"]
        if len(segments) > 1:
            out.append("    _b = 0")
        for k, seg in enumerate(segments):
            indent = "    "
            if k:
                out.append(f"    if _b == {k}:")
                indent = "        "
            body_start = len(out)
            falls_through = True
            for op in seg:
                if op.opc == Opc.BR:
                    out.append(f"{indent}_b = {segment_of_label[op.args[0].index]}")
                    falls_through = False
                    break
                if op.opc == Opc.BRCOND:
                    cond, a, b, label = op.args
                    out.append(f"{indent}if {self.compare(cond, a, b)}:")
                    out.append(f"{indent}    _b = {segment_of_label[label.index]}")
                    out.append(f"{indent}else:")
                    indent += "    "
                    continue
                out.extend(self.op(op, indent))
                if op.opc in (Opc.GOTO_TB, Opc.GOTO_PTR, Opc.EXIT):
                    falls_through = False
                    break
            if falls_through and k + 1 < len(segments):
                out.append(f"{indent}_b = {k + 1}")
            if len(out) == body_start:
                out.append(f"{indent}pass")
        return "\n".join(out) + "\n"


class InterpBackend:
    """Runs TBs in Python against one CPU's state and memory: evaluates their IR, or
    compiles them to Python functions."""

    def __init__(self, env: Any, state: memoryview, memory: Any, pc_slot: int) -> None:
        self.pc_slot = pc_slot
        self.evaluate = Evaluator(env, state, memory, pc_slot).run
        # Told of each TB's function when it is made, with its code object and the
        # seconds it took: for the stats, for a translation cache to keep, and to
        # free IR that nothing will compile.
        self.on_code: Callable[[Any, CodeType, float], None] | None = None
        self.namespace: dict[str, Any] = {"S": state, "env": env, **op_source.RUNTIME}
        if memory is not None:
            for name in {*op_source.LOADERS.values(), *op_source.STORERS.values()}:
                self.namespace[name] = getattr(memory, name)

    def source(self, block: Block) -> tuple[str, dict[str, Callable[..., int | None]]]:
        emitter = _Emitter(block, self.pc_slot)
        return emitter.emit(), emitter.helpers

    def compile(self, block: Block) -> TBFunction:
        return self.bind(self.code(block))

    def function(self, tb: Any, block: Block) -> TBFunction:
        """tb's function, made from its IR `block`; on_code hears of it."""
        start = perf_counter()
        code = self.code(block)
        fn = self.bind(code)
        if self.on_code is not None:
            self.on_code(tb, code, perf_counter() - start)
        return fn

    def code(self, block: Block) -> CodeType:
        """The block's Python code object (what the translation cache keeps)."""
        src, _helpers = self.source(block)
        return compile(src, f"<tb {block.pc:#x}>", "exec")

    def bind(self, code: CodeType) -> TBFunction:
        """The TB function from its code object, with the helpers it calls in scope.

        The helpers are found by the names the code uses, not from the block's IR,
        so a block kept by the translation cache runs without its IR being loaded."""
        namespace = self.namespace
        for name in _global_names(code):
            if name.startswith("h_") and name not in namespace:
                helper = HELPERS.get(name[2:])
                if helper is None:
                    raise ValueError(f"TB code calls {name[2:]}, which is not a registered helper")
                namespace[name] = helper.fn
        local: dict[str, Any] = {}
        exec(code, namespace, local)
        return local["tb"]


def _global_names(code: CodeType) -> Iterator[str]:
    """Every global name `code` and the functions defined in it refer to."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _global_names(const)
