"""A TB exit may call the next TB of its module directly (a linked exit).

A linked exit skips the chain function's lookup: the caller vouches that the
callee is the TB the lookup would find (engine.target.riscv.tb_links). Otherwise
it behaves like a chained exit: each call counts against the dispatcher's
budget, and once the host drops any lookup entry the exit goes through the
lookup again.
"""

from __future__ import annotations

from engine.backend.wasm.jit import EXIT_BUDGET, EXIT_MISS
from engine.ir.builder import Builder
from engine.ir.core import Helper, HelperFlags
from engine.target.riscv import state as st
from engine.target.riscv.state import GLOBALS as G

PING, PONG = 0x10000, 0x10100  # one page
_forgetting: list = []  # the JIT the helper below works on, and the slot it forgets


def _forget_pong(env: object) -> None:
    jit, slot = _forgetting
    jit.forget_lookup(PONG, slot)


FORGET_PONG = Helper("test_forget_linked_pong", _forget_pong, (), None, HelperFlags.NONE)


def step(pc: int, to: int, register: int, call: Helper | None = None):
    """x[register] += 1, then jump to `to`."""
    b = Builder(pc)
    if call is not None:
        b.call(call)
    b.mov(G.x[register], b.add(G.x[register], 1))
    b.goto_tb(to)
    return b.block


def install_linked(cpu, ping, pong) -> list[int]:
    """Compile PING and PONG in one module, each exit to the other linked."""
    jit = cpu.jit
    wasm, helpers = jit.build_module([ping, pong], [{PONG: 1}, {PING: 0}])
    slots = jit.load(wasm, helpers, 2)
    jit.clear_lookup()
    for block, slot in zip((ping, pong), slots, strict=True):
        jit.set_lookup(block.pc, slot)
    cpu.state[st.PC] = PING
    cpu.state[5] = cpu.state[6] = 0
    return slots


def test_linked_blocks_spend_the_budget_one_block_each(cpu) -> None:
    install_linked(cpu, step(PING, PONG, 5), step(PONG, PING, 6))
    assert cpu.jit.run(1001) == EXIT_BUDGET
    assert (cpu.state[5], cpu.state[6]) == (501, 500)
    assert cpu.state[st.PC] == PONG


def test_a_linked_exit_does_not_look_the_callee_up(cpu) -> None:
    """PONG's entry is gone before the run: PING, entered after, still calls it."""
    _ping, pong = install_linked(cpu, step(PING, PONG, 5), step(PONG, PING, 6))
    cpu.jit.forget_lookup(PONG, pong)
    assert cpu.jit.run(1001) == EXIT_BUDGET
    assert (cpu.state[5], cpu.state[6]) == (501, 500)


def test_a_linked_exit_looks_up_once_an_entry_was_dropped_since_entry(cpu) -> None:
    """PING's helper drops PONG's entry while PING runs: its exit must look PONG up,
    and find nothing."""
    _ping, pong = install_linked(cpu, step(PING, PONG, 5, call=FORGET_PONG), step(PONG, PING, 6))
    _forgetting[:] = [cpu.jit, pong]
    assert cpu.jit.run(1000) == EXIT_MISS
    assert (cpu.state[5], cpu.state[6]) == (1, 0)
    assert cpu.state[st.PC] == PONG
