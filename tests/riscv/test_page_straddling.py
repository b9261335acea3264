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
    MODES,
    build,
    poke,
    pte,
    registers,
    run,
    s_mode_program,
)

# VA 0x40000000 -> 0x80010000 (the lower half, 0x0513, at its last two bytes);
# VA 0x40001000 -> 0x80011000 at first, then 0x80012000. Each of those holds an
# upper half completing `li a0, n` (addi a0, x0, n), then `ret`.
FIRST_L0_ENTRY_OF_NEXT_PAGE = 0x80006008  # s_mode_program's first address space


def upper_half(n: int) -> int:
    """The doubleword at the start of the second page: li a0, n's upper half; ret."""
    return (n << 4) | (0x0000_8067 << 16)


STRADDLING_PROGRAM = s_mode_program(
    [(0x80010, CODE_PAGE)],
    {
        0x80010FF8: 0x0513 << 48,
        0x80011000: upper_half(1),
        0x80012000: upper_half(2),
        FIRST_L0_ENTRY_OF_NEXT_PAGE: pte(0x80011, CODE_PAGE),
    },
    f"""
    li s10, 0x40000FFE
    jalr s10
    mv s4, a0
    jalr s10
    add s4, s4, a0          # twice: compiled by now in the Wasm tiers
    {poke(FIRST_L0_ENTRY_OF_NEXT_PAGE, pte(0x80012, CODE_PAGE)).strip()}
    li t0, 0x40001000
    sfence.vma t0           # only the second page changed its mapping
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
def test_a_straddling_instruction_follows_its_second_page(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, STRADDLING_PROGRAM), mode)
    x = registers(cpu)
    assert x["s4"] == 2, "li a0, 1 across the page boundary, run twice"
    assert x["s5"] == 2, "the second page was remapped"
    assert x["s6"] == 3, "the second page was written"
    if mode != "interp":
        straddling = [tb for (_paddr, vpc, _flags), tb in cpu.tbs.items() if vpc == 0x40000FFE]
        assert [tb.slot is not None for tb in straddling] == [True], "compiled, like any block"
