"""The second-level TB lookup in Wasm, by physical address (engine/backend/wasm/physical.py).

Compiled code is found again in a new address space without returning to the
host, but only where the current translation leads to the very code it was
made from, with execute permission.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.target.riscv.exceptions import Cause
from tests.riscv.test_system_mode import (
    CODE_PAGE,
    GLOBAL_CODE_PAGE,
    RETURN_1,
    RETURN_3,
    build,
    lookup_contexts,
    poke,
    pte,
    registers,
    run,
    s_mode_program,
)

WASM_MODES = ["wasm64", "wasm32", "wasm64-apart", "wasm32-moved"]
READ_ONLY_PAGE = 0xC3  # V R A D: readable, not executable
# V R, A clear: the Wasm page walk leaves it to the host, which sets A and fills the TLB
READ_ONLY_PAGE_NOT_ACCESSED = 0x03

# One page table, entered under ASIDs 1 to 10 in turn: each is a new address
# space to the lookup's first level, and the same code at VA 0x40000000 in each.
TEN_PROCESSES_PROGRAM = s_mode_program(
    [(0x80010, CODE_PAGE)],
    {0x80010000: RETURN_1},
    """
    li s9, 1
again:
    li t3, (8 << 60) | 0x80002
    slli t4, s9, 44
    or t3, t3, t4
    csrw satp, t3           # ASID s9
    jalr s3
    add s4, s4, a0
    addi s9, s9, 1
    li t0, 11
    bne s9, t0, again
    ecall
""",
)


@pytest.mark.parametrize("mode", WASM_MODES)
def test_code_shared_by_address_spaces_is_found_without_the_host(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, TEN_PROCESSES_PROGRAM), mode)
    x = registers(cpu)
    assert x["s8"] == Cause.ECALL_S
    assert x["s4"] == 10
    # The block at 0x40000000 is compiled once; each of the nine address spaces
    # after the first finds it in Wasm, where the first level alone would send
    # every one of them back to the host.
    assert cpu.stats.exit_causes["lookup miss: compiled"] < 3


def not_executable_program(flags: int, touch: str) -> str:
    """ASID 1 runs the code at 0x80010000 through VA 0x40000000; ASID 2 maps the same
    physical page at that VA with `flags`, not executable, runs `touch` and jumps
    there: an instruction page fault, whatever the lookup knows about that code."""
    return s_mode_program(
        [(0x80010, CODE_PAGE), (0x80010, flags)],
        {0x80010000: RETURN_1},
        f"""
    jalr s3
    jalr s3
    mv s4, a0
    li t3, (8 << 60) | (2 << 44) | 0x80003
    csrw satp, t3
{touch}
    li a0, 0
    jalr s3
    mv s5, a0
    ecall
""",
    )


@pytest.mark.parametrize("mode", WASM_MODES)
@pytest.mark.parametrize(
    ("flags", "touch"),
    [(READ_ONLY_PAGE, ""), (READ_ONLY_PAGE_NOT_ACCESSED, "    ld t0, 0(s3)")],
    ids=["walked in wasm", "cached by the host's walk"],
)
def test_code_is_not_run_through_a_mapping_without_execute(
    tmp_path: Path, mode: str, flags: int, touch: str
) -> None:
    cpu, _ram = run(build(tmp_path, not_executable_program(flags, touch)), mode)
    x = registers(cpu)
    assert x["s4"] == 1
    assert x["s8"] == Cause.INSN_PAGE_FAULT
    assert x["s5"] == 0, "the code must not have run"


# ASIDs 1 and 2 map VA 0x40000000 to the code at 0x80010000 (returns 1), ASID 3 to
# other code (returns 3). ASID 2 finds ASID 1's block in Wasm, which files it
# under ASID 2 alone: ASID 3 must not find it.
THREE_PROCESSES_PROGRAM = s_mode_program(
    [(0x80010, CODE_PAGE), (0x80012, CODE_PAGE)],
    {0x80010000: RETURN_1, 0x80012000: RETURN_3},
    """
    jalr s3
    mv s4, a0
    li t3, (8 << 60) | (2 << 44) | 0x80002
    csrw satp, t3
    jalr s3
    mv s5, a0
    li t3, (8 << 60) | (3 << 44) | 0x80003
    csrw satp, t3
    jalr s3
    mv s6, a0
    ecall
""",
)


@pytest.mark.parametrize("mode", WASM_MODES)
def test_an_entry_filled_in_wasm_serves_its_own_address_space(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, THREE_PROCESSES_PROGRAM), mode)
    x = registers(cpu)
    assert x["s8"] == Cause.ECALL_S
    assert (x["s4"], x["s5"], x["s6"]) == (1, 1, 3)


# ASID 2 finds ASID 1's code in Wasm, which fills its first-level entry. A full
# fence, and ASID 2 finds it in Wasm again: now no entry the host filled itself
# shares that slot. Then ASID 2's mapping moves to other code and only that page
# is fenced.
PAGE_FENCE_PROGRAM = s_mode_program(
    [(0x80010, CODE_PAGE), (0x80010, CODE_PAGE)],
    {0x80010000: RETURN_1, 0x80012000: RETURN_3},
    """
    jalr s3
    li t3, (8 << 60) | (2 << 44) | 0x80003
    csrw satp, t3
    jalr s3
    sfence.vma
    jalr s3
    mv s4, a0
"""
    + poke(0x80007000, pte(0x80012, CODE_PAGE))
    + """
    sfence.vma s3
    jalr s3
    mv s5, a0
    ecall
""",
)


@pytest.mark.parametrize("mode", WASM_MODES)
def test_a_page_fence_drops_entries_filled_in_wasm(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, PAGE_FENCE_PROGRAM), mode)
    x = registers(cpu)
    assert x["s8"] == Cause.ECALL_S
    assert x["s4"] == 1
    assert x["s5"] == 3, "code reached through the remapped page must be the new code"


def test_the_second_level_set_index_keeps_every_flag_bit() -> None:
    """So the lookup need not compare flags: same address, same set, same flags."""
    from engine.backend.wasm.lookup import LOOKUP_GLOBAL
    from engine.backend.wasm.physical import physical_set

    offset = 0x12344
    assert len({physical_set(offset, flags) for flags in range(LOOKUP_GLOBAL)}) == LOOKUP_GLOBAL


# Global code at VA 0x40000000 (0x80010000), run in ASID 1; a fence of that page
# drops the host's entry, and the next run finds the block in Wasm.
GLOBAL_PAGE_FENCE_PROGRAM = s_mode_program(
    [(0x80010, GLOBAL_CODE_PAGE)],
    {0x80010000: RETURN_1},
    """
    jalr s3
    sfence.vma s3
    jalr s3
    mv s4, a0
    ecall
""",
)


@pytest.mark.parametrize("mode", ["wasm64", "wasm32"])
def test_global_code_found_in_wasm_is_filed_for_every_address_space(
    tmp_path: Path, mode: str
) -> None:
    from engine.backend.wasm.lookup import LOOKUP_GLOBAL

    cpu, _ram = run(build(tmp_path, GLOBAL_PAGE_FENCE_PROGRAM), mode)
    assert registers(cpu)["s4"] == 1
    assert cpu.stats.exit_causes["lookup miss: compiled"] == 0
    contexts = lookup_contexts(cpu, 0x40000000)
    assert contexts and all(context & LOOKUP_GLOBAL for context in contexts)


# Two page tables map VA 0x40000000 to code 256 KiB apart (0x80010000 returns 1,
# 0x80050000 returns 3): one set of the second level. They are entered in turn,
# each time under a new ASID, so every call misses the first level.
TWO_PROGRAMS_ONE_SET_PROGRAM = s_mode_program(
    [(0x80010, CODE_PAGE), (0x80050, CODE_PAGE)],
    {0x80010000: RETURN_1, 0x80050000: RETURN_3},
    """
    li s9, 1
again:
    li t3, (8 << 60) | 0x80002
    andi t4, s9, 1
    xori t4, t4, 1
    add t3, t3, t4          # even ASIDs use the second table
    slli t4, s9, 44
    or t3, t3, t4
    csrw satp, t3
    jalr s3
    add s4, s4, a0
    addi s9, s9, 1
    li t0, 13
    bne s9, t0, again
    ecall
""",
)


@pytest.mark.parametrize("mode", ["wasm64", "wasm32"])
def test_two_blocks_in_one_set_are_both_found(tmp_path: Path, mode: str) -> None:
    from engine.backend.wasm.physical import physical_set

    assert physical_set(0x10000, 5) == physical_set(0x50000, 5)
    cpu, _ram = run(build(tmp_path, TWO_PROGRAMS_ONE_SET_PROGRAM), mode)
    x = registers(cpu)
    assert x["s8"] == Cause.ECALL_S
    assert x["s4"] == 6 * 1 + 6 * 3
    assert cpu.stats.exit_causes["lookup miss: compiled"] < 3
