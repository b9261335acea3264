"""The Sv39 page walker (engine/target/riscv/mmu.py) on hand-made page tables."""

from __future__ import annotations

import pytest

from engine.target.riscv import state as st
from engine.target.riscv.exceptions import GuestException
from engine.target.riscv.mmu import ACCESS_EXEC, MMU_S, PTE_A, PTE_G, PTE_R, PTE_V, PTE_X, Walker

ROOT, TEXT = 0x8010_0000, 0x8040_0000  # the root table; 2 MiB of code, mapped by one leaf
KERNEL = 0xFFFF_FFFF_8000_0000  # the root's entry 510, then entry 0 of the next level
MID = 0x8010_1000


class Memory:
    def __init__(self) -> None:
        self.words: dict[int, int] = {}
        self.loads = self.stores = 0

    def load(self, paddr: int) -> int:
        self.loads += 1
        return self.words.get(paddr, 0)

    def store(self, paddr: int, value: int) -> None:
        self.stores += 1
        self.words[paddr] = value


def pointer(paddr: int) -> int:
    return (paddr >> 12) << 10 | PTE_V


def kernel_text() -> tuple[Walker, Memory]:
    memory = Memory()
    memory.words[ROOT + 510 * 8] = pointer(MID)
    memory.words[MID] = (TEXT >> 12) << 10 | PTE_V | PTE_R | PTE_X | PTE_G  # a megapage
    state = memoryview(bytearray(8 * st.N_SLOTS)).cast("Q")
    state[st.CSR_SLOT["satp"]] = 8 << 60 | ROOT >> 12
    return Walker(state, memory.load, memory.store), memory


def test_walks_that_remember_their_reads_read_each_pte_once() -> None:
    walker, memory = kernel_text()
    pages = [KERNEL + (k << 12) for k in range(512)]
    first = [walker.translate(va, ACCESS_EXEC, MMU_S) for va in pages]
    assert memory.loads == 2 * 512 and memory.stores == 1  # A set by the first walk
    memory.loads = memory.stores = 0
    memory.words[MID] &= ~PTE_A
    with walker.remembering_reads():
        again = [walker.translate(va, ACCESS_EXEC, MMU_S) for va in pages]
    assert again == first
    assert (memory.loads, memory.stores) == (2, 1), "A is set once, and remembered as set"
    assert first[5] == (TEXT + 0x5000, PTE_R | PTE_X | PTE_G)
    walker.translate(KERNEL, ACCESS_EXEC, MMU_S)
    assert memory.loads == 4, "afterwards, walks read the tables again"


def test_a_walk_that_remembers_still_faults_where_it_should() -> None:
    walker, memory = kernel_text()
    with walker.remembering_reads(), pytest.raises(GuestException):
        walker.translate(KERNEL + (2 << 20), ACCESS_EXEC, MMU_S)  # entry 1: not valid
    assert walker.load64 == memory.load, "the walker reads memory directly again"
