"""Virtual-to-physical translation: Sv39 and Sv48 page-table walks with A/D updates.

Accesses are ACCESS_READ, ACCESS_WRITE or ACCESS_EXEC. A failed translation
raises the page fault the spec prescribes for that access, with the virtual
address as tval. A and D bits are set by the walker (the "hardware update"
option, as QEMU does), with the PTE write done only when it changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from engine.target.riscv import state as st
from engine.target.riscv.csr_file import MPP, MPP_SHIFT, MPRV, MXR, PRV_M, PRV_S, PRV_U, SUM
from engine.target.riscv.exceptions import Cause, GuestException

ACCESS_READ, ACCESS_WRITE, ACCESS_EXEC = 0, 1, 2
PTE_V, PTE_R, PTE_W, PTE_X, PTE_U, PTE_G, PTE_A, PTE_D = 1, 2, 4, 8, 16, 32, 64, 128
PAGE_FAULT = {
    ACCESS_READ: Cause.LOAD_PAGE_FAULT,
    ACCESS_WRITE: Cause.STORE_PAGE_FAULT,
    ACCESS_EXEC: Cause.INSN_PAGE_FAULT,
}
ACCESS_FAULT = {
    ACCESS_READ: Cause.LOAD_ACCESS_FAULT,
    ACCESS_WRITE: Cause.STORE_ACCESS_FAULT,
    ACCESS_EXEC: Cause.INSN_ACCESS_FAULT,
}
LEVELS = {8: 3, 9: 4}  # satp.MODE -> page-table levels (Sv39, Sv48)

# Data-access MMU contexts (the IR's mmu_idx): the privilege the access is
# checked against, plus whether S-mode may touch user pages.
MMU_U, MMU_S, MMU_S_SUM, MMU_M = 0, 1, 2, 3


def data_mmu_index(priv: int, mstatus: int) -> int:
    """The context loads and stores use: MPRV makes M-mode accesses act as MPP's."""
    effective = (mstatus & MPP) >> MPP_SHIFT if priv == PRV_M and mstatus & MPRV else priv
    if effective == PRV_M:
        return MMU_M
    if effective == PRV_S:
        return MMU_S_SUM if mstatus & SUM else MMU_S
    return MMU_U


class Walker:
    """Page-table walks through physical memory (`load64`/`store64` on physical addresses)."""

    def __init__(
        self,
        state: memoryview,
        load64: Callable[[int], int],
        store64: Callable[[int, int], None],
    ) -> None:
        self.s = state
        self.load64 = load64
        self.store64 = store64

    @contextlib.contextmanager
    def remembering_reads(self) -> Iterator[None]:
        """Walks inside read each PTE once: for many walks in a row while nothing else
        can change the tables, such as a full fence's check of every page of kernel
        code, which shares the same few PTEs (each read a JavaScript call under
        Pyodide's wasm64). A/D bits a walk sets are remembered as written."""
        load, store = self.load64, self.store64
        seen: dict[int, int] = {}

        def remembered(paddr: int) -> int:
            value = seen.get(paddr)
            if value is None:
                value = seen[paddr] = load(paddr)
            return value

        def written(paddr: int, value: int) -> None:
            store(paddr, value)
            seen[paddr] = value

        self.load64, self.store64 = remembered, written
        try:
            yield
        finally:
            self.load64, self.store64 = load, store

    def translate(self, vaddr: int, access: int, mmu_idx: int) -> tuple[int, int]:
        """Physical address of vaddr, and the protection the page grants (PTE_R|W|X bits,
        and PTE_G when the mapping is global: the same in every address space)."""
        s = self.s
        satp = s[st.CSR_SLOT["satp"]]
        mode = satp >> 60
        if mmu_idx == MMU_M or mode == 0:
            return vaddr, PTE_R | PTE_W | PTE_X
        levels = LEVELS[mode]
        va_bits = 12 + 9 * levels
        top = vaddr >> (va_bits - 1)
        if top not in (0, (1 << (65 - va_bits)) - 1):
            raise GuestException(PAGE_FAULT[access], vaddr)  # not sign-extended
        table = (satp & ((1 << 44) - 1)) << 12
        global_ = 0  # a G bit on a pointer makes every mapping below it global
        for level in range(levels - 1, -1, -1):
            vpn = (vaddr >> (12 + 9 * level)) & 0x1FF
            pte_addr = table + vpn * 8
            try:
                pte = self.load64(pte_addr)
            except GuestException:
                raise GuestException(ACCESS_FAULT[access], vaddr) from None
            if not pte & PTE_V or (not pte & PTE_R and pte & PTE_W) or pte >> 54:
                raise GuestException(PAGE_FAULT[access], vaddr)
            global_ |= pte & PTE_G
            if not pte & (PTE_R | PTE_X):
                if pte & (PTE_D | PTE_A | PTE_U):
                    raise GuestException(PAGE_FAULT[access], vaddr)  # reserved for non-leaves
                table = ((pte >> 10) & ((1 << 44) - 1)) << 12
                continue
            paddr, prot = self._leaf(vaddr, access, mmu_idx, pte, pte_addr, level)
            return paddr, prot | global_
        raise GuestException(PAGE_FAULT[access], vaddr)

    def _leaf(
        self, vaddr: int, access: int, mmu_idx: int, pte: int, pte_addr: int, level: int
    ) -> tuple[int, int]:
        ppn = (pte >> 10) & ((1 << 44) - 1)
        if level and ppn & ((1 << (9 * level)) - 1):
            raise GuestException(PAGE_FAULT[access], vaddr)  # misaligned superpage
        user_page = bool(pte & PTE_U)
        mstatus = self.s[st.CSR_SLOT["mstatus"]]
        if mmu_idx == MMU_U and not user_page:
            raise GuestException(PAGE_FAULT[access], vaddr)
        # S-mode never executes user pages, and touches them only with SUM.
        s_mode = mmu_idx in (MMU_S, MMU_S_SUM)
        if s_mode and user_page and (access == ACCESS_EXEC or mmu_idx == MMU_S):
            raise GuestException(PAGE_FAULT[access], vaddr)
        readable = bool(pte & PTE_R) or (bool(mstatus & MXR) and bool(pte & PTE_X))
        allowed = {
            ACCESS_READ: readable,
            ACCESS_WRITE: bool(pte & PTE_W),
            ACCESS_EXEC: bool(pte & PTE_X),
        }[access]
        if not allowed:
            raise GuestException(PAGE_FAULT[access], vaddr)
        new = pte | PTE_A | (PTE_D if access == ACCESS_WRITE else 0)
        if new != pte:
            self.store64(pte_addr, new)
        offset_mask = (1 << (12 + 9 * level)) - 1
        paddr = ((ppn << 12) & ~offset_mask) | (vaddr & offset_mask)
        # A page not yet dirty is not writable through a cached translation:
        # the first store must come back here to set D.
        prot = (PTE_R if readable else 0) | (PTE_X if pte & PTE_X else 0)
        if pte & PTE_W and new & PTE_D:
            prot |= PTE_W
        return paddr, prot


def fetch_mmu_index(priv: int) -> int:
    """Instruction fetches ignore MPRV and SUM."""
    return {PRV_M: MMU_M, PRV_S: MMU_S, PRV_U: MMU_U}[priv]
