"""The IR evaluator runs real blocks exactly as their generated Python functions do.

Blocks translated from Debian's busybox run twice from the same random
registers and memory: once evaluated, once as the interpreter tier's
function. The registers, memory, exit code and any guest fault must agree.
Registers point into the memory often enough that loads and stores land.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from engine.backend.interp import InterpBackend
from engine.ir.core import Opc
from engine.ir.optimize import optimize
from engine.memory import FlatMemory
from engine.target.riscv import state as st
from engine.target.riscv.exceptions import GuestException
from tests.ir.test_ir_serialize import text_of, translate_all

MEMORY = 1 << 16


def machine(seed: int) -> tuple[InterpBackend, memoryview, bytearray]:
    rng = random.Random(seed)
    ram = bytearray(rng.getrandbits(8) for _ in range(MEMORY))
    state = memoryview(bytearray(st.STATE_BYTES)).cast("Q")
    for slot in range(1, 32):
        state[slot] = rng.randrange(64, MEMORY - 64) if rng.random() < 0.7 else rng.getrandbits(64)
    return InterpBackend(None, state, FlatMemory(ram, 0), st.PC), state, ram


def outcome(run, state: memoryview, ram: bytearray) -> tuple:
    try:
        result: object = run()
    except GuestException as e:
        result = ("fault", e.cause, e.tval, e.pc)
    return result, bytes(state.cast("B")), bytes(ram)


@pytest.mark.parametrize("optimized", [False, True])
def test_busybox_blocks_evaluate_as_their_functions_run(
    busybox_riscv64: Path, optimized: bool
) -> None:
    code = text_of(busybox_riscv64)
    starts = sorted(random.Random(7).sample(range(0, len(code) - 64, 2), 400))
    blocks = [b for b in translate_all(code, starts, None)
              if not any(op.opc == Opc.CALL for op in b.ops)]  # fmt: skip
    assert len(blocks) > 300
    branches = loads = stores = faults = 0
    for k, block in enumerate(blocks):
        if optimized:
            optimize(block)
        evaluator, state_e, ram_e = machine(k)
        compiled, state_c, ram_c = machine(k)
        evaluated = outcome(lambda: evaluator.evaluate(block), state_e, ram_e)  # noqa: B023
        ran = outcome(compiled.compile(block), state_c, ram_c)
        assert evaluated == ran, block.dump()
        opcodes = {op.opc for op in block.ops}
        branches += Opc.BRCOND in opcodes
        loads += Opc.LD in opcodes
        stores += Opc.ST in opcodes
        faults += isinstance(ran[0], tuple)
    # The sample covers what the evaluator does besides arithmetic.
    assert min(branches, loads, stores, faults) > 20
