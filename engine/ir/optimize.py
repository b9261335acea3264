"""Block-local optimizations: constant folding and propagation, then dead-code removal.

Knowledge about values is kept per basic block: it is dropped at every label
(another path may join there) and, for globals, at helper calls that write
the CPU state.
"""

from __future__ import annotations

from engine.ir import semantics
from engine.ir.core import (
    BINARY_OPS,
    DST_POSITION,
    EXIT_OPS,
    INPUT_SLICE,
    UNARY_OPS,
    Block,
    HelperFlags,
    Op,
    Opc,
    Temp,
    Type,
    Value,
)

_PURE_VALUE_OPS = BINARY_OPS | UNARY_OPS | {Opc.EXT, Opc.SETCOND, Opc.MOVCOND}
_COMPARING_OPS = frozenset({Opc.SETCOND, Opc.MOVCOND, Opc.BRCOND})
_COALESCED_OPS = _PURE_VALUE_OPS | {Opc.LD, Opc.CALL}
_BRANCH_OPS = frozenset({Opc.BR, Opc.BRCOND})
# Each pass runs over every op of every compiled block (millions a boot), so the
# opcodes it tests most are plain module constants rather than enum lookups.
_INSN_START, _LABEL, _MOV, _CALL = Opc.INSN_START, Opc.LABEL, Opc.MOV, Opc.CALL
_BR, _BRCOND, _GOTO_PTR = Opc.BR, Opc.BRCOND, Opc.GOTO_PTR


def optimize(block: Block) -> Block:
    fold_constants(block)
    propagate_copies(block)
    remove_unreachable(block)
    remove_dead_code(block)
    coalesce_moves(block)
    return block


def _simplify(op: Op) -> tuple[Opc, tuple] | None:
    """Algebraic identities with one constant operand; returns a replacement (opc, args)."""
    opc = op.opc
    d, a, b = op.args
    mask = d.type.mask
    if isinstance(b, int):
        b &= mask
        if b == 0 and opc in (Opc.ADD, Opc.SUB, Opc.OR, Opc.XOR, Opc.SHL, Opc.SHR, Opc.SAR):
            return Opc.MOV, (d, a)
        if (b == 0 and opc in (Opc.AND, Opc.MUL)) or (b == mask and opc == Opc.OR):
            return Opc.MOV, (d, b)
        if (b == mask and opc == Opc.AND) or (b == 1 and opc in (Opc.MUL, Opc.DIV, Opc.DIVU)):
            return Opc.MOV, (d, a)
    if isinstance(a, int):
        a &= mask
        if a == 0 and opc in (Opc.ADD, Opc.OR, Opc.XOR):
            return Opc.MOV, (d, b)
        if a == 0 and opc in (Opc.AND, Opc.MUL, Opc.SHL, Opc.SHR, Opc.SAR):
            return Opc.MOV, (d, 0)
        if a == 1 and opc == Opc.MUL:
            return Opc.MOV, (d, b)
    return None


def _fold(op: Op, bits: int) -> int | None:
    """The constant result of a pure op whose inputs are all constants, else None.

    `bits` is the width of the compared operands of SETCOND/MOVCOND, which the
    constants themselves no longer carry.
    """
    opc = op.opc
    args = op.args
    d = args[0]
    try:
        if opc in BINARY_OPS:
            return semantics.binary(opc, args[1], args[2], d.type)
        if opc in UNARY_OPS:
            return semantics.unary(opc, args[1], d.type)
        if opc == Opc.EXT:
            return semantics.extend(args[2], args[1])
        if opc == Opc.SETCOND:
            return int(semantics.compare(args[1], args[2], args[3], bits))
        if opc == Opc.MOVCOND:
            chosen = args[4] if semantics.compare(args[1], args[2], args[3], bits) else args[5]
            return chosen & d.type.mask
    except ArithmeticError:
        # A division whose precondition fails is never executed by a correct
        # frontend (it is guarded); leave it for the backend rather than guess.
        return None
    return None


def _operand_bits(a: Value, b: Value) -> int:
    for v in (a, b):
        if isinstance(v, Temp):
            return v.type.bits
    return 64


def fold_constants(block: Block) -> None:
    known: dict[int, int] = {}  # storage key -> the constant it holds
    out: list[Op] = []
    append = out.append
    for op in block.ops:
        opc = op.opc
        if opc == _INSN_START:
            append(op)
            continue
        if opc == _LABEL:
            known.clear()
            append(op)
            continue
        where = INPUT_SLICE.get(opc)
        inputs: tuple = () if where is None else op.args[where]
        # Comparisons take their width from their operands, which may become constants.
        bits = _operand_bits(*inputs[:2]) if opc in _COMPARING_OPS else 64
        if known and inputs:
            resolved = tuple([known.get(v.key, v) if v.__class__ is Temp else v for v in inputs])
            if resolved != inputs:
                op.replace_inputs(resolved)
                inputs = resolved
        if opc in _PURE_VALUE_OPS:
            if opc in BINARY_OPS:
                repl = _simplify(op)
                if repl is not None:
                    op.opc, op.args = repl
                    inputs = op.args[1:]
            if all(v.__class__ is not Temp for v in inputs):
                value = _fold(op, bits)
                if value is not None:
                    op.opc, op.args = _MOV, (op.args[0], value)
        elif opc == _CALL:
            helper, d = op.args[0], op.args[1]
            args = op.args[2:]
            if helper.flags & HelperFlags.PURE and d is not None:
                if all(isinstance(v, int) for v in args):
                    op.opc, op.args = _MOV, (d, helper.fn(None, *args) & d.type.mask)
            elif helper.flags & HelperFlags.WRITES_STATE:
                for k in [k for k in known if k >= 0]:  # the globals'
                    del known[k]
        elif opc == _BRCOND:
            cond, a, b, label = op.args
            if isinstance(a, int) and isinstance(b, int):
                if not semantics.compare(cond, a, b, bits):
                    continue  # never taken
                op.opc, op.args = _BR, (label,)
        elif opc == _GOTO_PTR and isinstance(op.args[0], int):
            op.opc, op.args = Opc.GOTO_TB, (op.args[0] & Type.I64.mask,)

        position = DST_POSITION.get(op.opc)
        if position is not None:
            d = op.args[position]
            if d is not None:
                if op.opc == _MOV and isinstance(op.args[1], int):
                    known[d.key] = op.args[1] & d.type.mask
                else:
                    known.pop(d.key, None)
        append(op)
    block.ops = out


def propagate_copies(block: Block) -> None:
    """Read the original instead of a local copy while neither has been overwritten."""
    copies: dict[int, Temp] = {}  # local temp index -> the temp it copies
    for op in block.ops:
        opc = op.opc
        if opc == _INSN_START:
            continue
        if opc == _LABEL:
            copies.clear()
            continue
        if copies:
            where = INPUT_SLICE.get(opc)
            if where is not None:
                inputs = op.args[where]
                replaced = tuple([
                    copies.get(v.index, v) if v.__class__ is Temp and not v.is_global else v
                    for v in inputs
                ])  # fmt: skip
                if replaced != inputs:
                    op.replace_inputs(replaced)
            if opc == _CALL and op.args[0].flags & HelperFlags.WRITES_STATE:
                for k in [k for k, src in copies.items() if src.is_global]:
                    del copies[k]
        position = DST_POSITION.get(opc)
        if position is None:
            continue
        d = op.args[position]
        if d is None:
            continue
        if copies:
            # The write ends every copy of d, and d's own copy of something else.
            key = d.key
            for k in [k for k, src in copies.items() if src.key == key]:
                del copies[k]
            if not d.is_global:
                copies.pop(d.index, None)
        if opc == _MOV and not d.is_global:
            src = op.args[1]
            if src.__class__ is Temp and src.type == d.type:
                copies[d.index] = src


def coalesce_moves(block: Block) -> None:
    """Make `op t, ...; mov g, t` write g directly when t is used nowhere else."""
    uses: dict[int, int] = {}
    for op in block.ops:
        where = INPUT_SLICE.get(op.opc)
        if where is not None:
            for v in op.args[where]:
                if v.__class__ is Temp and not v.is_global:
                    uses[v.index] = uses.get(v.index, 0) + 1
    out: list[Op] = []
    for op in block.ops:
        if op.opc == _MOV and out and op.args[1].__class__ is Temp:
            src, prev = op.args[1], out[-1]
            if (
                not src.is_global
                and uses.get(src.index) == 1
                and prev.opc in _COALESCED_OPS
                and prev.args[DST_POSITION[prev.opc]] is src
                and src.type == op.args[0].type
            ):
                args = list(prev.args)
                args[DST_POSITION[prev.opc]] = op.args[0]
                prev.args = tuple(args)
                continue
        out.append(op)
    block.ops = out


def remove_unreachable(block: Block) -> None:
    """Drop ops after an unconditional transfer up to the next label that is branched to."""
    ops = block.ops
    targets = {op.args[-1].index for op in ops if op.opc in _BRANCH_OPS}
    out: list[Op] = []
    if not targets:
        # Nothing branches: every label goes, and so does all after the first exit.
        for op in ops:
            if op.opc == _LABEL:
                continue
            out.append(op)
            if op.opc in EXIT_OPS:
                break
        block.ops = out
        return
    dead = False
    for op in ops:
        opc = op.opc
        if opc == _LABEL:
            if op.args[0].index not in targets:
                continue
            dead = False
        if dead:
            continue
        out.append(op)
        if opc in EXIT_OPS or opc == _BR:
            dead = True
    # A branch straight to the label that follows it does nothing; a label
    # nobody branches to any more is dropped so blocks can merge.
    cleaned: list[Op] = []
    for i, op in enumerate(out):
        if (
            op.opc == _BR
            and i + 1 < len(out)
            and out[i + 1].opc == _LABEL
            and out[i + 1].args[0] is op.args[0]
        ):
            continue
        cleaned.append(op)
    targets = {op.args[-1].index for op in cleaned if op.opc in _BRANCH_OPS}
    block.ops = [op for op in cleaned if op.opc != _LABEL or op.args[0].index in targets]


def remove_dead_code(block: Block) -> None:
    """Backward liveness over local temps; branches are forward, so one pass suffices."""
    live: set[int] = set()
    live_at_label: dict[int, set[int]] = {}
    kept: list[Op] = []
    keep = kept.append
    for op in reversed(block.ops):
        opc = op.opc
        if opc == _INSN_START:
            keep(op)
            continue
        args = op.args
        if opc == _LABEL:
            live_at_label[args[0].index] = set(live)
            keep(op)
            continue
        if opc in EXIT_OPS:
            live = set()
        elif opc == _BR:
            live = set(live_at_label.get(args[0].index, ()))
        elif opc == _BRCOND:
            live |= live_at_label.get(args[3].index, set())
        position = DST_POSITION.get(opc)
        if position is not None:
            d = args[position]
            if d is not None and not d.is_global:
                # A local nobody reads is dropped with its op unless the op does
                # more than compute it: loads may fault, impure helpers act.
                if d.index not in live and (
                    opc in _PURE_VALUE_OPS or (opc == _CALL and args[0].flags & HelperFlags.PURE)
                ):
                    continue
                live.discard(d.index)
        where = INPUT_SLICE.get(opc)
        if where is not None:
            for v in args[where]:
                if v.__class__ is Temp and not v.is_global:
                    live.add(v.index)
        keep(op)
    kept.reverse()
    block.ops = kept
