"""Guest registers live in Wasm locals while a TB runs, and the state stays exact.

A TB function loads the registers it reads once at entry. Whatever looks at the
state while or after it runs must still see every write the block made before
that point: a helper that reads the state, a helper that writes it (the block
must then use the new value), and the host after a guest access fault.
"""

from __future__ import annotations

from engine.backend.wasm.codegen import Layout
from engine.backend.wasm.jit import EXIT_BUDGET
from engine.backend.wasm.registers import RegisterPlan, fixed_offsets
from engine.ir.builder import Builder
from engine.ir.core import Exit, Helper, HelperFlags, MemOp, Type
from engine.target.riscv import state as st
from engine.target.riscv.state import GLOBALS as G

PC = 0x10000
X5, X6, X7 = G.x[5], G.x[6], G.x[7]


def _peek_x5(env) -> int:
    return env.state[5]


def _bump_x6(env) -> None:
    env.state[6] += 100


PEEK_X5 = Helper("test_peek_x5", _peek_x5, (), Type.I64, HelperFlags.READS_STATE)
BUMP_X6 = Helper("test_bump_x6", _bump_x6, (), None, HelperFlags.WRITES_STATE)


def run_block(cpu, b: Builder, budget: int = 1) -> int:
    (slot,) = cpu.jit.compile([b.block])
    cpu.jit.clear_lookup()
    cpu.jit.set_lookup(PC, slot)
    cpu.state[st.PC] = PC
    return cpu.jit.run(budget)


def test_a_helper_reading_the_state_sees_registers_the_block_wrote(cpu) -> None:
    b = Builder(PC)
    b.mov(X5, b.add(X5, 1))  # used often enough to be held in a local
    b.mov(X5, b.add(X5, 1))
    b.mov(X7, b.call(PEEK_X5))
    b.goto_tb(PC + 4)
    cpu.state[5] = 40
    assert run_block(cpu, b) == EXIT_BUDGET
    assert (cpu.state[5], cpu.state[7]) == (42, 42)


def test_a_block_uses_what_a_helper_wrote_to_a_register_it_had_read(cpu) -> None:
    b = Builder(PC)
    b.mov(X5, b.add(X6, X6))  # x6 is read before the call...
    b.call(BUMP_X6)
    b.mov(X7, b.add(X6, 1))  # ...and after it, as the helper left it
    b.goto_tb(PC + 4)
    cpu.state[6] = 1
    assert run_block(cpu, b) == EXIT_BUDGET
    assert (cpu.state[5], cpu.state[6], cpu.state[7]) == (2, 101, 102)


def test_an_access_fault_leaves_earlier_writes_in_the_state_and_later_ones_undone(cpu) -> None:
    b = Builder(PC)
    b.mov(X5, b.add(X5, 1))
    b.mov(X5, b.add(X5, 1))
    b.mov(X6, b.load(0, MemOp.SIZE_64))  # address 0 is outside the guest window
    b.mov(X7, b.add(X7, 1))
    b.mov(X7, b.add(X7, 1))
    b.goto_tb(PC + 4)
    cpu.state[5], cpu.state[6], cpu.state[7] = 10, 20, 30
    assert run_block(cpu, b) == Exit.EXCEPTION
    assert cpu.state[st.EXC_CAUSE] == 5  # load access fault
    assert (cpu.state[5], cpu.state[6], cpu.state[7]) == (12, 20, 30)


def test_a_loop_of_one_block_stores_its_registers_when_it_stops(cpu) -> None:
    b = Builder(PC)
    b.mov(X5, b.add(X5, 1))
    b.mov(X6, b.add(X6, X5))
    b.goto_tb(PC)
    cpu.state[5] = cpu.state[6] = 0
    assert run_block(cpu, b, budget=100) == EXIT_BUDGET
    assert (cpu.state[5], cpu.state[6]) == (100, sum(range(101)))


def test_registers_read_are_cached_and_the_slots_generated_code_touches_are_not() -> None:
    layout = Layout(
        memory64=True, state_base=0, guest_base=0, guest_low=0, guest_high=1 << 30,
        pc_slot=st.PC, cause_slot=st.EXC_CAUSE, tval_slot=st.EXC_TVAL,
        budget_slot=st.DISPATCH_BUDGET, epoch_slot=st.LOOKUP_EPOCH, lookup_base=0,
    )  # fmt: skip
    b = Builder(PC)
    for _ in range(3):  # x5 read and written three times, x6 read three times
        b.mov(X5, b.add(X5, X6))
    b.mov(X7, b.add(X7, 1))  # x7 read once and written once: no gain in a local
    b.mov(G.pc, b.add(G.pc, 4))  # the pc is the dispatcher's: never cached
    b.mov(G.pc, b.add(G.pc, 4))
    b.exit(Exit.NEXT)
    fixed = fixed_offsets(layout)
    plan = RegisterPlan(b.block, fixed)
    assert plan.cached == (X5.offset, X6.offset)
    assert plan.written == {X5.offset}
    # Round a loop, every access but the first of each round is saved.
    assert RegisterPlan(b.block, fixed, loops=True).cached == (X5.offset, X6.offset, X7.offset)
