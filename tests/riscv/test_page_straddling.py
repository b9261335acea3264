"""An instruction that straddles two pages is made of both pages' bytes.

A block is otherwise found by where its first byte is (virtual pc, physical
address, flags), and invalidated by writes to that page. A 32-bit instruction
at offset 0xFFE takes its upper half from the next virtual page, which may be
remapped on its own or written on its own: the instruction must then run as
the bytes now say, in every tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.riscv.test_system_mode import (
    CODE_PAGE,
    GLOBAL_CODE_PAGE,
    MODES,
    build,
    poke,
    pte,
    registers,
    run,
    s_mode_program,
)
from tests.riscv.test_translation_cache import run_program

# VA 0x40000000 -> 0x80010000 (the lower half, 0x0513, at its last two bytes);
# VA 0x40001000 -> 0x80011000 at first, then 0x80012000. Each of those holds an
# upper half completing `li a0, n` (addi a0, x0, n), then `ret`.
FIRST_L0_ENTRY_OF_NEXT_PAGE = 0x80006008  # s_mode_program's first address space


def upper_half(n: int) -> int:
    """The doubleword at the start of the second page: li a0, n's upper half; ret."""
    return (n << 4) | (0x0000_8067 << 16)


def straddling_program(flags: int, fence: str) -> str:
    """Run the straddling `li a0, n` at VA 0x40000FFE (both pages mapped with PTE
    `flags`), remap its second page alone and fence with `fence`, then rewrite that
    page's bytes: s4, s5, s6 hold what it returned each time."""
    return s_mode_program(
        [(0x80010, flags)],
        {
            0x80010FF8: 0x0513 << 48,
            0x80011000: upper_half(1),
            0x80012000: upper_half(2),
            FIRST_L0_ENTRY_OF_NEXT_PAGE: pte(0x80011, flags),
        },
        f"""
    li s10, 0x40000FFE
    jalr s10
    mv s4, a0
    jalr s10
    add s4, s4, a0          # twice: compiled by now in the Wasm tiers
    {poke(FIRST_L0_ENTRY_OF_NEXT_PAGE, pte(0x80012, flags)).strip()}
    li t0, 0x40001000
    {fence}
    jalr s10
    mv s5, a0
    {poke(0x80012000, upper_half(3)).strip()}
    fence.i                 # only the second page's bytes changed
    jalr s10
    mv s6, a0
    ecall
""",
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flags", [CODE_PAGE, GLOBAL_CODE_PAGE], ids=["local", "global"])
@pytest.mark.parametrize(
    "fence", ["sfence.vma t0", "sfence.vma"], ids=["second page fenced", "full fence"]
)
def test_a_straddling_instruction_follows_its_second_page(
    tmp_path: Path, mode: str, flags: int, fence: str
) -> None:
    cpu, _ram = run(build(tmp_path, straddling_program(flags, fence)), mode)
    x = registers(cpu)
    assert x["s4"] == 2, "li a0, 1 across the page boundary, run twice"
    assert x["s5"] == 2, "the second page was remapped"
    assert x["s6"] == 3, "the second page was written"
    if mode != "interp":
        straddling = [tb for (_paddr, vpc, _flags), tb in cpu.tbs.items() if vpc == 0x40000FFE]
        assert [tb.slot is not None for tb in straddling] == [True], "compiled, like any block"


@pytest.mark.parametrize("wasm", ["wasm64", "wasm32"])
def test_a_straddling_block_is_kept_by_the_bytes_of_both_pages(tmp_path: Path, wasm: str) -> None:
    """The translation cache knows such a block by both pages' bytes, so a second run
    translates nothing, and each of its three versions is told apart."""
    code = build(tmp_path, straddling_program(CODE_PAGE, "sfence.vma t0"))
    first, _ = run_program(code, "wasm", wasm, tmp_path / "tcache")
    second, counts2 = run_program(code, "wasm", wasm, tmp_path / "tcache")
    assert second == first
    assert counts2["insns_translated"] == 0 and counts2["tbs_compiled"] == 0
    s4, s5, s6 = (first["x"][r - 1] for r in (20, 21, 22))
    assert (s4, s5, s6) == (2, 2, 3)
