"""A TB's exit calls the next TB directly (a tail call) instead of returning.

Chaining must be invisible except in speed: the next TB is the one the
dispatcher would have found, each chained TB counts against the dispatcher's
budget, and an entry the host dropped is never chained to.
"""

from __future__ import annotations

import pytest

from engine.backend.wasm.jit import EXIT_BUDGET, EXIT_MISS
from engine.ir.builder import Builder
from engine.ir.core import Helper, HelperFlags
from engine.target.riscv import state as st
from engine.target.riscv.state import GLOBALS as G

PING, PONG = 0x10000, 0x20000
_forgetting: list = []  # the JIT the helper below works on, and the slot it forgets


def _forget_pong(env: object) -> None:
    jit, slot = _forgetting
    jit.forget_lookup(PONG, slot)


FORGET_PONG = Helper("test_forget_pong", _forget_pong, (), None, HelperFlags.NONE)


def step(pc: int, to: int, register: int, computed: bool = False, call: Helper | None = None):
    """x[register] += 1, then continue at `to`: a constant jump, or one through a temp."""
    b = Builder(pc)
    if call is not None:
        b.call(call)
    b.mov(G.x[register], b.add(G.x[register], 1))
    if computed:
        b.goto_ptr(b.add(G.x[0], to))
    else:
        b.goto_tb(to)
    return b.block


def install(cpu, *blocks) -> list[int]:
    slots = cpu.jit.compile(list(blocks))
    cpu.jit.clear_lookup()
    for block, slot in zip(blocks, slots, strict=True):
        cpu.jit.set_lookup(block.pc, slot)
    cpu.state[st.PC] = blocks[0].pc
    cpu.state[5] = cpu.state[6] = 0
    return slots


@pytest.mark.parametrize("computed", [False, True], ids=["goto_tb", "goto_ptr"])
def test_chained_blocks_spend_the_budget_one_block_each(cpu, computed: bool) -> None:
    install(cpu, step(PING, PONG, 5, computed), step(PONG, PING, 6, computed))
    assert cpu.jit.run(1001) == EXIT_BUDGET
    assert (cpu.state[5], cpu.state[6]) == (501, 500)  # as many blocks as calls it allows
    assert cpu.state[st.PC] == PONG
    assert cpu.jit.run(1) == EXIT_BUDGET and cpu.state[6] == 501


def test_a_block_is_not_chained_to_once_its_entry_is_dropped(cpu) -> None:
    """PING's helper forgets PONG's lookup entry: PING must then return, not call it."""
    _ping, pong = install(cpu, step(PING, PONG, 5, call=FORGET_PONG), step(PONG, PING, 6))
    _forgetting[:] = [cpu.jit, pong]
    assert cpu.jit.run(1000) == EXIT_MISS
    assert (cpu.state[5], cpu.state[6]) == (1, 0)
    assert cpu.state[st.PC] == PONG


def test_an_exit_to_a_block_not_compiled_returns_for_it(cpu) -> None:
    install(cpu, step(PING, PONG, 5))
    assert cpu.jit.run(1000) == EXIT_MISS
    assert cpu.state[5] == 1 and cpu.state[st.PC] == PONG
