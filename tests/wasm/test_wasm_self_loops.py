"""A TB that jumps back to its own start loops inside its Wasm function.

It must behave exactly as if the dispatcher looked it up and called it again
each time: every round counts against the dispatcher's budget, and it stops
as soon as the host has dropped lookup entries (its own may be among them).
"""

from __future__ import annotations

from engine.backend.wasm.jit import EXIT_BUDGET, EXIT_MISS
from engine.ir.builder import Builder
from engine.ir.core import Helper, HelperFlags
from engine.target.riscv import state as st
from engine.target.riscv.state import GLOBALS as G

PC = 0x10000
_dropping: list = []  # the JIT whose lookup table the helper below empties


def _drop_lookup_entries(env: object) -> None:
    _dropping[0].clear_lookup()


DROP_LOOKUP = Helper("test_drop_lookup_entries", _drop_lookup_entries, (), None, HelperFlags.NONE)


def counting_loop(call_first: Helper | None = None) -> Builder:
    """x5 += 1, then jump back to the start: a loop of one block."""
    b = Builder(PC)
    if call_first is not None:
        b.call(call_first)
    b.mov(G.x[5], b.add(G.x[5], 1))
    b.goto_tb(PC)
    return b


def install(cpu, b: Builder) -> None:
    (slot,) = cpu.jit.compile([b.block])
    cpu.jit.clear_lookup()
    cpu.jit.set_lookup(PC, slot)
    cpu.state[st.PC] = PC
    cpu.state[5] = 0


def test_every_round_of_a_self_loop_counts_against_the_budget(cpu) -> None:
    install(cpu, counting_loop())
    assert cpu.jit.run(1000) == EXIT_BUDGET
    assert cpu.state[5] == 1000  # as many rounds as the dispatcher would have made calls
    assert cpu.state[st.PC] == PC
    assert cpu.jit.run(1) == EXIT_BUDGET and cpu.state[5] == 1001


def test_a_self_loop_stops_when_the_host_drops_lookup_entries(cpu) -> None:
    _dropping[:] = [cpu.jit]
    install(cpu, counting_loop(call_first=DROP_LOOKUP))
    # The first round empties the table; the loop must not go round again on its
    # own, since the dispatcher would no longer find it.
    assert cpu.jit.run(1000) == EXIT_MISS
    assert cpu.state[5] == 1
    assert cpu.state[st.PC] == PC
