"""The optimizer folds constants, simplifies identities and drops dead code, never semantics."""

from __future__ import annotations

from engine.ir.builder import Builder, make_global
from engine.ir.core import Cond, Exit, MemOp, Opc, Type
from engine.ir.optimize import optimize

X1 = make_global("x1", 8)
X2 = make_global("x2", 16)


def opcodes(block) -> list[Opc]:
    return [op.opc for op in block.ops]


def test_constants_fold_through_a_chain_into_the_global_write() -> None:
    b = Builder(0x1000)
    t = b.add(3, 4)
    u = b.mul(t, 6)
    b.mov(X1, b.sub(u, 2))
    b.goto_tb(0x1004)
    block = optimize(b.block)
    assert opcodes(block) == [Opc.MOV, Opc.GOTO_TB]
    assert block.ops[0].args == (X1, 40)


def test_folding_respects_the_width_of_i32_ops() -> None:
    b = Builder(0)
    t = b.add(0xFFFF_FFFF, 1, Type.I32)
    b.mov(X1, b.extu_i32_i64(t))
    b.goto_tb(4)
    block = optimize(b.block)
    assert block.ops[0].args == (X1, 0)


def test_signed_comparison_of_constants_uses_the_operand_width() -> None:
    b = Builder(0)
    t = b.temp(Type.I32)
    b.mov(t, 0x8000_0000)  # negative as an i32
    b.mov(X1, b.setcond(Cond.LT, t, 0, Type.I64))
    b.goto_tb(4)
    block = optimize(b.block)
    assert block.ops[-2].args == (X1, 1)


def test_identities_become_moves() -> None:
    b = Builder(0)
    b.mov(X1, b.add(X2, 0))
    b.mov(X2, b.and_(X1, 0))
    b.goto_tb(4)
    block = optimize(b.block)
    assert [(op.opc, op.args) for op in block.ops[:2]] == [(Opc.MOV, (X1, X2)), (Opc.MOV, (X2, 0))]


def test_dead_temps_are_removed_but_loads_stay_because_they_may_fault() -> None:
    b = Builder(0)
    b.add(X1, X2)  # result unused
    b.load(X1, MemOp.SIZE_64)  # unused, but may trap
    b.goto_tb(4)
    block = optimize(b.block)
    assert opcodes(block) == [Opc.LD, Opc.GOTO_TB]


def test_a_branch_on_constants_is_resolved_and_unreachable_code_dropped() -> None:
    b = Builder(0)
    skip = b.label()
    b.brcond(Cond.EQ, 1, 1, skip)
    b.mov(X1, 5)  # never executed
    b.set_label(skip)
    b.goto_tb(8)
    block = optimize(b.block)
    assert opcodes(block) == [Opc.GOTO_TB]


def test_knowledge_does_not_cross_a_label() -> None:
    b = Builder(0)
    t = b.temp()
    join = b.label()
    b.mov(t, 1)
    b.brcond(Cond.EQ, X1, 0, join)
    b.mov(t, 2)
    b.set_label(join)
    b.mov(X2, t)  # 1 or 2 depending on the path: must stay a read of t
    b.exit(Exit.NEXT)
    block = optimize(b.block)
    assert block.ops[-2].args == (X2, t)


def test_liveness_flows_backwards_through_forward_branches() -> None:
    b = Builder(0)
    t = b.temp()
    join = b.label()
    b.mov(t, X1)
    b.brcond(Cond.NE, X2, 0, join)
    b.goto_tb(4)
    b.set_label(join)
    b.mov(X2, t)
    b.goto_tb(8)
    block = optimize(b.block)
    assert block.ops[0].opc == Opc.MOV and block.ops[0].args == (t, X1)


def test_verify_rejects_backward_branches_and_missing_exits() -> None:
    import pytest

    b = Builder(0)
    top = b.label()
    b.set_label(top)
    b.br(top)
    with pytest.raises(ValueError, match="backward"):
        b.block.verify()
    b2 = Builder(0)
    b2.mov(X1, 1)
    with pytest.raises(ValueError, match="exit"):
        b2.block.verify()
