"""Compiling on the host's compile thread while the hart interprets (TierConfig.compile_thread).

A batch of hot blocks becomes a module on the hart's thread; wasmtime compiles
it on a thread of its own, and the blocks switch to Wasm at a block boundary
after it is ready. These tests hold the compile thread with a gate (a job
queued ahead of the module) so that "still compiling" lasts as long as they
need, and check that nothing the hart does meanwhile runs stale code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.machine.console import PipeConsole
from engine.machine.virt import MachineConfig, VirtMachine
from engine.target.riscv import state as st
from engine.target.riscv.cpu import TB, TierConfig
from engine.target.riscv.system_cpu import SystemCpu
from tests.riscv.test_system_mode import RAM, TOOLS, build, registers, run_until_ecall

pytestmark = pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")

ADDI_S0_16 = (16 << 20) | (8 << 15) | (8 << 7) | 0x13  # addi s0, s0, 16

# Count to 100 in a loop of one block and stop; then patch the loop to count
# in sixteens and stop. The tests run the loop again from there.
PATCHED_BETWEEN_STOPS = f"""
    li s0, 0
    li s1, 100
    j loop
loop:
step:
    addi s0, s0, 1
    blt s0, s1, loop
    ecall                   # first stop: the loop's module is still compiling
    la t3, step
    li t2, {ADDI_S0_16}
    sw t2, 0(t3)            # drops the loop's block while its module compiles
    ecall                   # second stop: the module may now finish
"""
LOOP = RAM + 12  # after the two li and the j


def machine(code: bytes, wasm: str, tier: str = "auto") -> VirtMachine:
    config = MachineConfig(
        ram_size=64 << 20, bios=code, wasm=wasm,
        tier=TierConfig(tier=tier, threshold=5, batch=1, compile_thread=True),
    )  # fmt: skip
    return VirtMachine(config, PipeConsole())


@contextmanager
def compile_thread_held(m: VirtMachine) -> Iterator[threading.Event]:
    """Keep the compile thread busy until the event is set (or the block ends)."""
    gate = threading.Event()
    m.host._compiler.submit(gate.wait)
    try:
        yield gate
    finally:
        gate.set()


def resume(cpu: SystemCpu) -> None:
    """Go on after the ecall the program stopped at, to its next one."""
    run_until_ecall(cpu, start=cpu.state[st.PC] + 4)


@pytest.fixture(params=["wasm64", "wasm32"])
def wasm(request: pytest.FixtureRequest) -> str:
    return request.param


def loop_blocks(cpu: SystemCpu) -> list[TB]:
    return [tb for (_paddr, vpc, _flags), tb in cpu.tbs.items() if vpc == LOOP]


def test_the_hart_interprets_a_block_while_its_module_compiles(tmp_path: Path, wasm: str) -> None:
    m = machine(build(tmp_path, PATCHED_BETWEEN_STOPS), wasm)
    cpu = m.cpu
    with compile_thread_held(m) as gate:
        run_until_ecall(cpu)
        assert registers(cpu)["s0"] == 100
        (loop,) = loop_blocks(cpu)
        assert loop.count == 100 and loop.slot is None  # every round interpreted
        assert len(cpu.in_flight) == 1 and cpu.stats.tbs_compiled == 0
        gate.set()
        pending, _tbs = cpu.in_flight[0]
        pending.compiled.result()  # compiled now; instantiated at the next run
        cpu.run(1)
    assert not cpu.in_flight and loop.slot is not None and cpu.stats.tbs_compiled == 1


def test_a_block_written_while_its_module_compiles_never_runs_from_it(
    tmp_path: Path, wasm: str
) -> None:
    m = machine(build(tmp_path, PATCHED_BETWEEN_STOPS), wasm)
    cpu = m.cpu
    with compile_thread_held(m) as gate:
        run_until_ecall(cpu)
        (old_loop,) = loop_blocks(cpu)
        resume(cpu)  # the patch drops the block whose module is compiling
        assert loop_blocks(cpu) == [] and len(cpu.in_flight) == 1
        gate.set()
        cpu.in_flight[0][0].compiled.result()
        # Straight into the dispatcher at the loop: the module is installed first, and
        # nothing may lead from the loop's address to the old code in it.
        cpu.state[8] = 0  # s0
        run_until_ecall(cpu, start=LOOP)
    assert old_loop.slot is not None  # installed, for a block nothing reaches any more
    assert registers(cpu)["s0"] == 112  # 16 at a time: the old loop would stop at 100
    (new_loop,) = loop_blocks(cpu)
    assert new_loop is not old_loop and new_loop.slot != old_loop.slot


def test_the_eager_tier_waits_for_the_compile_thread(tmp_path: Path, wasm: str) -> None:
    """Tier wasm runs nothing on the interpreter, so it waits for each module."""
    m = machine(build(tmp_path, PATCHED_BETWEEN_STOPS), wasm, tier="wasm")
    cpu = m.cpu
    run_until_ecall(cpu)
    assert registers(cpu)["s0"] == 100 and not cpu.in_flight
    resume(cpu)
    cpu.state[8] = 0  # s0
    run_until_ecall(cpu, start=LOOP)
    assert registers(cpu)["s0"] == 112
    assert cpu.stats.exit_causes["exception (interpreted)"] == 0
