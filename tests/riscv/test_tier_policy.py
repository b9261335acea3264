"""What each tier spends translation time on: the IR optimizer runs where it pays.

The optimizer is about a third of a block's translation time. Under tier auto
most blocks run a few times on the interpreter and are never compiled, so they
run as translated; only blocks about to become Wasm are optimized. Under tier
interp the interpreter is the last tier, so every block is optimized.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import engine.target.riscv.cpu as cpu_module
import engine.target.riscv.system_cpu as system_cpu_module
from tests.riscv.test_system_mode import SV39_PROGRAM, TOOLS, build
from tests.riscv.test_translation_cache import run_program


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
