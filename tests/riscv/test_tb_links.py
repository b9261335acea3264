"""Which TBs of a batch call each other directly, and when a reused function may.

A direct call skips the lookup, so it is only made where the lookup could not
have found another TB: the callee is on the caller's virtual page and was
translated from the same physical page under the same flags. A function reused
for the same bytes elsewhere keeps its direct calls, so the callees' bytes must
be there too.
"""

from __future__ import annotations

from engine.ir.builder import Builder
from engine.ir.core import Cond
from engine.target.riscv.mmu import data_mmu_index
from engine.target.riscv.state import GLOBALS as G
from engine.target.riscv.tb_links import exit_targets, links_hold, reachable, same_page_links
from engine.target.riscv.translate import RiscvTranslator, tb_flags
from engine.tcache import code_digest

PAGE = 0x8020_0000
HERE, OTHER_PAGE = ("phys page 1", 0), ("phys page 2", 0)


def jumping(pc: int, *targets: int):
    """A block that branches to targets[0] if x5 == 0, else jumps to targets[-1]."""
    b = Builder(pc)
    b.insn_start(pc, 0)
    b.mov(G.x[5], b.add(G.x[5], 1))
    b.insn_start(pc + 4, 0)
    if len(targets) == 2:
        taken = b.label()
        b.brcond(Cond.EQ, G.x[5], 0, taken)
        b.goto_tb(targets[1])
        b.set_label(taken)
    b.goto_tb(targets[0])
    return b.block


def test_exit_targets_are_the_constant_jumps_of_the_last_instruction() -> None:
    both = exit_targets(jumping(PAGE, PAGE + 0x40, PAGE + 0x80))
    assert sorted(both) == [PAGE + 0x40, PAGE + 0x80]
    assert exit_targets(jumping(PAGE, PAGE)) == []  # a loop of one block loops in its function


def translated(*words: int):
    """The S-mode TB of these instruction words at PAGE."""
    code = b"".join(w.to_bytes(4, "little") for w in words)
    translator = RiscvTranslator(lambda a: int.from_bytes(code[a - PAGE : a - PAGE + 2], "little"))
    return translator.translate(PAGE, tb_flags(1, data_mmu_index(1, 0), 1))


ADDI_A0 = 0x0015_0513  # addi a0, a0, 1
JUMP_8 = 0x0080_006F  # jal x0, +8
CSRS_SSTATUS_A0 = 0x1005_2073  # csrrs x0, sstatus, a0: may set SUM, changing the TB flags
CSRW_SATP_A0 = 0x1805_1073  # csrrw x0, satp, a0: a helper changes the address space


def test_an_instruction_that_changes_the_lookup_state_links_nothing() -> None:
    """Its TB ends so that the next is looked up under the new flags or address
    space; calling the old one directly would run code translated for the old."""
    assert exit_targets(translated(ADDI_A0, JUMP_8)) == [PAGE + 12]
    assert exit_targets(translated(ADDI_A0, CSRS_SSTATUS_A0)) == []
    assert exit_targets(translated(ADDI_A0, CSRW_SATP_A0)) == []


def test_exits_link_to_blocks_of_the_batch_from_the_same_page_and_flags() -> None:
    blocks = [
        jumping(PAGE, PAGE + 0x40, PAGE + 0x1000),  # the second target is on the next page
        jumping(PAGE + 0x40, PAGE + 0x80),  # its target is from another physical page
        jumping(PAGE + 0x80, PAGE),
        jumping(PAGE + 0x1000, PAGE),
    ]
    origins = [HERE, HERE, OTHER_PAGE, HERE]
    assert same_page_links(blocks, origins) == [{PAGE + 0x40: 1}, {}, {}, {}]


def test_a_block_whose_instruction_straddles_two_pages_is_called_through_the_lookup() -> None:
    """Its second page may be mapped anew while the caller's page stays."""
    straddling = jumping(PAGE + 0xFFE, PAGE + 0x1002)
    straddling.size = 4
    blocks = [jumping(PAGE + 0x40, PAGE + 0xFFE), straddling]
    assert same_page_links(blocks, [HERE, HERE]) == [{}, {}]


def test_a_block_without_an_origin_links_nothing_and_is_linked_by_nothing() -> None:
    blocks = [jumping(PAGE, PAGE + 0x40), jumping(PAGE + 0x40, PAGE)]
    assert same_page_links(blocks, [None, HERE]) == [{}, {}]


def test_a_reused_function_keeps_its_direct_calls_only_where_the_callees_bytes_are() -> None:
    ram = {0x9000_0000: bytearray(4096), 0xA000_0000: bytearray(4096)}
    callee_code = b"\x13\x05\x15\x00\x6f\x00\x00\x00"
    ram[0x9000_0000][0x40:0x48] = callee_code
    ram[0xA000_0000][0x40:0x48] = callee_code
    ram[0xA000_0000][0x44] ^= 0xFF  # the same block start, different bytes after it

    def code_at(paddr: int, size: int) -> bytes | None:
        page = ram.get(paddr & ~0xFFF)
        return None if page is None else bytes(page[paddr & 0xFFF : (paddr & 0xFFF) + size])

    callee = (PAGE + 0x40, 0, len(callee_code), code_digest(callee_code))
    assert links_hold((callee,), 0x9000_0010, code_at)
    assert not links_hold((callee,), 0xA000_0010, code_at)
    assert not links_hold((callee,), 0xB000_0010, code_at)  # not RAM: nothing to compare
    assert not links_hold((None,), 0x9000_0010, code_at)  # no key: nothing to check against


def test_a_reused_function_answers_for_every_block_its_direct_calls_reach() -> None:
    """Block 0 calls 1, which calls 2 without a lookup either: reusing 0's function
    elsewhere runs 2's code too, so 2's bytes must be checked as well as 1's."""
    assert reachable([[1], [2], [], [3, 0]]) == [(1, 2), (2,), (), (0, 1, 2, 3)]
