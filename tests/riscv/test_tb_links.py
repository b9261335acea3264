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
from engine.target.riscv.state import GLOBALS as G
from engine.target.riscv.tb_links import exit_targets, links_hold, same_page_links
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


def test_exits_link_to_blocks_of_the_batch_from_the_same_page_and_flags() -> None:
    blocks = [
        jumping(PAGE, PAGE + 0x40, PAGE + 0x1000),  # the second target is on the next page
        jumping(PAGE + 0x40, PAGE + 0x80),  # its target is from another physical page
        jumping(PAGE + 0x80, PAGE),
        jumping(PAGE + 0x1000, PAGE),
    ]
    origins = [HERE, HERE, OTHER_PAGE, HERE]
    assert same_page_links(blocks, origins) == [{PAGE + 0x40: 1}, {}, {}, {}]


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
