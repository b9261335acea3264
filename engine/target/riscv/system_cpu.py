"""A RISC-V hart in system mode: privilege levels, CSRs, the MMU, and a TB cache that
survives address-space changes.

TBs are keyed by (physical address, virtual pc, flags): the virtual pc because
translated code embeds pc-relative values, the physical page so that a TB is
found again after sfence.vma or a satp write (which only flush the TLB and the
fast virtual-pc cache), and the flags (privilege, data MMU context, FS state)
because translation depends on them. fence.i discards every TB.

`run(budget)` executes TBs until a synchronous exception, a host request
(device interrupt, WFI, CSR write that may unmask an interrupt) or the
budget runs out; the machine loop takes traps and interrupts in between.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

from engine.backend.interp import InterpBackend
from engine.ir.optimize import optimize
from engine.target.riscv import priv as privmod
from engine.target.riscv import state as st
from engine.target.riscv.cpu import HOST_INTERRUPT, TB, Stats
from engine.target.riscv.csr_file import (
    FS,
    FS_SHIFT,
    MXR,
    PRV_M,
    PRV_S,
    PRV_U,
    TSR,
    TVM,
    TW,
    CsrFile,
)
from engine.target.riscv.exceptions import Cause, GuestException
from engine.target.riscv.mmu import data_mmu_index, fetch_mmu_index
from engine.target.riscv.softmmu import SoftMmu
from engine.target.riscv.system_insns import MRET
from engine.target.riscv.translate import RiscvTranslator, tb_flags

M64 = 0xFFFF_FFFF_FFFF_FFFF


class SystemCpu:
    def __init__(self, state: memoryview, mmu: SoftMmu, time: Callable[[], int]) -> None:
        self.state = state
        self.mmu = mmu
        self.csrs = CsrFile(state, time)
        self.csrs.on_change = self._csr_changed
        self.csrs.reset()
        state[st.RES_ADDR] = st.NO_RESERVATION
        self.translator = RiscvTranslator(self._fetch16)
        self.backend = InterpBackend(self, state, mmu, st.PC)
        self.fetch_mmu = fetch_mmu_index(PRV_M)
        self.flags = 0
        self.tbs: dict[tuple[int, int, int], TB] = {}  # (paddr, vpc, flags) -> TB
        self.fast: dict[int, TB] = {}  # (vpc << 6) | flags -> TB, flushed with the TLB
        self.stats = Stats()
        self.exit_request = False
        self.waiting = False  # WFI executed: the machine sleeps until an interrupt
        self.refresh_flags()

    # -- translation state -------------------------------------------------------------
    def refresh_flags(self) -> None:
        """Recompute what translation depends on; call after privilege or mstatus change."""
        s = self.state
        priv = s[st.PRIV]
        mstatus = s[st.CSR_SLOT["mstatus"]]
        self.fetch_mmu = fetch_mmu_index(priv)
        self.flags = tb_flags(priv, data_mmu_index(priv, mstatus), (mstatus & FS) >> FS_SHIFT)

    def _fetch16(self, vaddr: int) -> int:
        return self.mmu.fetch16(vaddr, self.fetch_mmu)

    def flush_tlb(self) -> None:
        self.mmu.flush()
        self.fast.clear()

    def request_tb_flush(self) -> None:
        """fence.i: later fetches must see earlier stores, so every TB goes."""
        self.tbs.clear()
        self.fast.clear()

    def _lookup(self, vpc: int) -> TB:
        flags = self.flags
        key = (vpc << 6) | flags
        tb = self.fast.get(key)
        if tb is not None:
            return tb
        try:
            paddr = self.mmu.fetch_page(vpc, self.fetch_mmu)
        except GuestException as e:
            e.pc = vpc
            raise
        full_key = (paddr, vpc, flags)
        tb = self.tbs.get(full_key)
        if tb is None:
            tb = self._translate(vpc, flags)
            self.tbs[full_key] = tb
        self.fast[key] = tb
        return tb

    def _translate(self, vpc: int, flags: int) -> TB:
        start = perf_counter()
        try:
            block = self.translator.translate(vpc, flags)
        except GuestException as e:
            e.pc = vpc
            raise
        optimize(block)
        tb = TB(vpc, block, self.backend)
        tb.fn  # noqa: B018 - build the interpreter function now
        tb.block = None
        self.stats.translate_seconds += perf_counter() - start
        self.stats.tbs_translated += 1
        self.stats.insns_translated += block.n_insns
        return tb

    # -- execution -------------------------------------------------------------------------
    def run(self, budget: int) -> None:
        """Run up to `budget` TBs; on return exc_cause says why (HOST_INTERRUPT if not a trap)."""
        state = self.state
        lookup = self._lookup
        try:
            for _ in range(budget):
                if lookup(state[st.PC]).fn():
                    self.stats.exits += 1
                    return
                if self.exit_request:
                    break
        except GuestException as exc:
            self.stats.exits += 1
            if exc.pc is not None:
                state[st.PC] = exc.pc
            state[st.EXC_CAUSE] = exc.cause
            state[st.EXC_TVAL] = exc.tval & M64
            return
        self.exit_request = False
        state[st.EXC_CAUSE] = HOST_INTERRUPT

    def take_trap(self, cause: int, tval: int, pc: int, interrupt: bool = False) -> None:
        privmod.take_trap(self.csrs, cause, tval, pc, interrupt)
        self.waiting = False
        self.refresh_flags()

    def check_interrupts(self) -> bool:
        """Take a pending enabled interrupt, if any; True if one was taken."""
        cause = privmod.pending_interrupt(self.csrs)
        if cause is None:
            return False
        self.take_trap(cause, 0, self.state[st.PC], interrupt=True)
        return True

    def interrupt_pending(self) -> bool:
        """Whether an interrupt would wake a WFI (pending and enabled, ignoring global enables)."""
        return bool(self.csrs.mip() & self.csrs.get("mie"))

    # -- helpers called from translated code ----------------------------------------------------
    def _csr_changed(self, name: str) -> None:
        if name == "satp" or (name == "mstatus" and self._mxr_changed()):
            self.flush_tlb()
        self.exit_request = True  # interrupts may be unmasked, flags may differ

    def _mxr_changed(self) -> bool:
        mxr = bool(self.csrs.get("mstatus") & MXR)
        changed = mxr != getattr(self, "_mxr", False)
        self._mxr = mxr
        return changed

    def csr_instruction(self, insn: int, src: int) -> int:
        csr, f3 = insn >> 20, (insn >> 12) & 7
        rd, rs1 = (insn >> 7) & 31, (insn >> 15) & 31
        op = f3 & 3
        priv = self.state[st.PRIV]
        try:
            if op == 1 and rd == 0:
                old = 0  # csrrw without a destination does not read
            else:
                old = self.csrs.read(csr, priv, self.state[st.INSTRET])
            if op == 1 or rs1 != 0:
                new = src if op == 1 else (old | src) if op == 2 else (old & ~src)
                self.csrs.write(csr, new, priv)
        except GuestException as e:
            e.tval = insn
            raise
        self.refresh_flags()
        return old

    def xret(self, insn: int) -> None:
        priv = self.state[st.PRIV]
        mstatus = self.csrs.get("mstatus")
        if insn == MRET:
            if priv != PRV_M:
                raise GuestException(Cause.ILLEGAL_INSTRUCTION, insn)
            privmod.mret(self.csrs)
        else:
            if priv == PRV_U or (priv == PRV_S and mstatus & TSR):
                raise GuestException(Cause.ILLEGAL_INSTRUCTION, insn)
            privmod.sret(self.csrs)
        self.refresh_flags()
        self.exit_request = True

    def wait_for_interrupt(self) -> None:
        priv = self.state[st.PRIV]
        if priv == PRV_U or (priv == PRV_S and self.csrs.get("mstatus") & TW):
            raise GuestException(Cause.ILLEGAL_INSTRUCTION, 0x10500073)
        self.waiting = True
        self.exit_request = True

    def sfence_vma(self, vaddr: int) -> None:
        priv = self.state[st.PRIV]
        if priv == PRV_U or (priv == PRV_S and self.csrs.get("mstatus") & TVM):
            raise GuestException(Cause.ILLEGAL_INSTRUCTION, 0x12000073)
        self.flush_tlb()

    def describe(self) -> dict[str, Any]:
        s = self.state
        return {"pc": s[st.PC], "priv": s[st.PRIV], "flags": self.flags}
