"""What each tier spends translation time on: the IR optimizer runs where it pays.

The optimizer is about a third of a block's translation time. Under tier auto
most blocks run a few times on the interpreter and are never compiled, so they
run as translated; only blocks about to become Wasm are optimized. Under tier
interp the interpreter is the last tier, so every block is optimized.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import engine.target.riscv.cpu as cpu_module
import engine.target.riscv.system_cpu as system_cpu_module
from tests.riscv.test_system_mode import SV39_PROGRAM, TOOLS, build, run_until_ecall
from tests.riscv.test_translation_cache import run_program

if TYPE_CHECKING:
    from engine.machine.virt import VirtMachine
    from engine.target.riscv.cpu import TB


@pytest.fixture
def optimized(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pc of every block the optimizer runs on (the real optimizer runs)."""
    seen: list[int] = []
    for module in (cpu_module, system_cpu_module):
        real = module.optimize
        monkeypatch.setattr(module, "optimize", lambda b, real=real: seen.append(b.pc) or real(b))
    return seen


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_tier_auto_optimizes_only_the_blocks_it_compiles(
    tmp_path: Path, optimized: list[int]
) -> None:
    code = build(tmp_path, SV39_PROGRAM)
    reference, _ = run_program(code, "interp", "wasm64", tmp_path / "reference")
    optimized.clear()
    results, counts = run_program(code, "auto", "wasm64", tmp_path / "tcache", batch=1)
    assert results == reference
    assert 0 < counts["tbs_compiled"] < counts["tbs_translated"]
    assert len(optimized) == len(set(optimized)) == counts["tbs_compiled"]


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_tier_interp_optimizes_every_block(tmp_path: Path, optimized: list[int]) -> None:
    code = build(tmp_path, SV39_PROGRAM)
    _, counts = run_program(code, "interp", "wasm64", tmp_path / "tcache")
    assert len(optimized) == counts["tbs_translated"] > 0


# Blocks that run once (the start, the ecall) and one that runs ten times (the loop).
COUNTDOWN_PROGRAM = """
    li t0, 10
    j loop                  # so that a block starts at the loop
loop:
    addi t0, t0, -1
    bnez t0, loop
    ecall
"""


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_a_block_is_evaluated_on_its_first_runs_and_then_gets_its_function(
    tmp_path: Path,
) -> None:
    """Most blocks run once or twice: they are evaluated from their IR, never paying
    for a Python function. A block that runs more gets one, and the translation
    cache keeps its code for the next boot."""
    from engine.machine.console import PipeConsole
    from engine.machine.virt import MachineConfig, VirtMachine
    from engine.target.riscv.cpu import TierConfig

    bios = build(tmp_path, COUNTDOWN_PROGRAM)
    config = MachineConfig(ram_size=64 << 20, bios=bios, tier=TierConfig(tier="interp"),
                           tcache_dir=str(tmp_path / "tc"))  # fmt: skip
    machine = VirtMachine(config, PipeConsole())
    run_until_ecall(machine.cpu)
    tbs = list(machine.cpu.tbs.values())
    with_function = [tb for tb in tbs if tb._fn is not None]
    evaluated_only = [tb for tb in tbs if tb._fn is None]
    assert with_function and evaluated_only
    assert all(tb.evaluated == cpu_module.EVALUATED_RUNS for tb in with_function)
    assert all(0 < tb.evaluated <= cpu_module.EVALUATED_RUNS for tb in evaluated_only)
    assert all(tb.block is None for tb in with_function)  # no JIT: the IR is freed
    records = {r[:4]: r for rs in machine.tcache.index.values() for r in rs}
    assert {tb.key for tb in with_function} == {k for k, r in records.items() if r[5] is not None}
    machine.close()


def run_countdown(tmp_path: Path, threshold: int, hot_batch: int) -> tuple[VirtMachine, list[TB]]:
    """Run COUNTDOWN_PROGRAM with a loop of 15 under tier auto; the machine and its TBs."""
    from engine.machine.console import PipeConsole
    from engine.machine.virt import MachineConfig, VirtMachine
    from engine.target.riscv.cpu import TierConfig

    bios = build(tmp_path, COUNTDOWN_PROGRAM.replace("li t0, 10", "li t0, 15"))
    tier = TierConfig(tier="auto", threshold=threshold, hot_batch=hot_batch)
    machine = VirtMachine(MachineConfig(ram_size=64 << 20, bios=bios, tier=tier), PipeConsole())
    run_until_ecall(machine.cpu)
    return machine, list(machine.cpu.tbs.values())


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_a_hot_block_waiting_to_be_compiled_releases_its_batch(tmp_path: Path) -> None:
    """At a boot's threshold of 2 the loop's block is queued for compilation on its
    second run, long before a batch is full. It is evaluated while it waits, up to
    EVALUATED_WHILE_QUEUED times in all; a run after that would make it an
    interpreter function that serves only until the batch fills, so the batch is
    compiled at once instead and the loop finishes in Wasm."""
    machine, tbs = run_countdown(tmp_path, threshold=2, hot_batch=1)  # only the loop runs twice
    (loop,) = [tb for tb in tbs if tb.evaluated == cpu_module.EVALUATED_WHILE_QUEUED]
    assert loop.slot is not None  # compiled, though the batch was far from full
    assert loop._fn is None  # and never interpreted from a function
    assert loop.count == cpu_module.EVALUATED_WHILE_QUEUED + 1  # its last interpreted run
    once = [tb for tb in tbs if tb.count == 1]
    assert once and all(tb._fn is None and tb.evaluated == 1 for tb in once)
    machine.close()


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_a_hot_block_does_not_release_a_batch_smaller_than_hot_batch(tmp_path: Path) -> None:
    """Every module costs the host something to load (V8 in Node 20 most), so a hot
    block releases only a batch of at least `hot_batch` blocks; with fewer queued it
    gets its interpreter function and waits for the batch to fill."""
    machine, tbs = run_countdown(tmp_path, threshold=2, hot_batch=2)
    (loop,) = [tb for tb in tbs if tb.count == 15]
    assert loop.slot is None  # the loop alone was queued, one short of two
    assert loop._fn is not None
    assert loop.evaluated == cpu_module.EVALUATED_WHILE_QUEUED
    machine.close()


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_below_the_threshold_a_block_gets_its_function_after_its_first_runs(
    tmp_path: Path,
) -> None:
    """At user mode's threshold of 50 the loop is never queued: it gets its function
    after EVALUATED_RUNS evaluations and stays on the interpreter."""
    machine, tbs = run_countdown(tmp_path, threshold=50, hot_batch=1)
    (loop,) = [tb for tb in tbs if tb.count == 15]
    assert loop.slot is None
    assert loop._fn is not None
    assert loop.evaluated == cpu_module.EVALUATED_RUNS
    once = [tb for tb in tbs if tb.count == 1]
    assert once and all(tb._fn is None and tb.evaluated == 1 for tb in once)
    machine.close()
