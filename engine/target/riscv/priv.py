"""Traps, interrupts and returns from traps (privileged spec, machine and supervisor levels)."""

from __future__ import annotations

from engine.target.riscv import state as st
from engine.target.riscv.csr_file import (
    MEI,
    MIE,
    MPIE,
    MPP,
    MPP_SHIFT,
    MPRV,
    MSI,
    MTI,
    PRV_M,
    PRV_S,
    PRV_U,
    SEI,
    SIE,
    SPIE,
    SPP,
    SSI,
    STI,
    CsrFile,
)

INTERRUPT = 1 << 63
# Priority order of simultaneous interrupts (highest first).
_PRIORITY = [(MEI, 11), (MSI, 3), (MTI, 7), (SEI, 9), (SSI, 1), (STI, 5)]


def take_trap(csrs: CsrFile, cause: int, tval: int, pc: int, interrupt: bool = False) -> None:
    """Enter the trap handler for `cause` raised at `pc` (an interrupt when `interrupt`)."""
    s = csrs.s
    priv = s[st.PRIV]
    deleg = csrs.get("mideleg" if interrupt else "medeleg")
    code = cause | (INTERRUPT if interrupt else 0)
    old = csrs.get("mstatus")
    if priv <= PRV_S and deleg >> cause & 1:
        csrs.put("scause", code)
        csrs.put("sepc", pc)
        csrs.put("stval", tval)
        # SPIE keeps the SIE the trap interrupted; sret puts it back.
        status = (old & ~(SPP | SPIE | SIE)) | (SPP if priv == PRV_S else 0)
        status |= SPIE if old & SIE else 0
        csrs.put("mstatus", status)
        vector = csrs.get("stvec")
        s[st.PRIV] = PRV_S
    else:
        csrs.put("mcause", code)
        csrs.put("mepc", pc)
        csrs.put("mtval", tval)
        status = (old & ~(MPP | MPIE | MIE)) | (priv << MPP_SHIFT)
        status |= MPIE if old & MIE else 0
        csrs.put("mstatus", status)
        vector = csrs.get("mtvec")
        s[st.PRIV] = PRV_M
    base = vector & ~3
    s[st.PC] = base + 4 * cause if interrupt and vector & 3 == 1 else base
    s[st.RES_ADDR] = st.NO_RESERVATION


def pending_interrupt(csrs: CsrFile) -> int | None:
    """The cause of the interrupt to take now, if any (enabled and not masked)."""
    pending = csrs.mip() & csrs.get("mie")
    if not pending:
        return None
    priv = csrs.s[st.PRIV]
    status = csrs.get("mstatus")
    mideleg = csrs.get("mideleg")
    m_enabled = priv < PRV_M or bool(status & MIE)
    s_enabled = priv < PRV_S or (priv == PRV_S and bool(status & SIE))
    for bit, cause in _PRIORITY:
        if not pending & bit:
            continue
        if mideleg & bit:
            if s_enabled:
                return cause
        elif m_enabled:
            return cause
    return None


def mret(csrs: CsrFile) -> None:
    s = csrs.s
    status = csrs.get("mstatus")
    new_priv = (status & MPP) >> MPP_SHIFT
    status = (status & ~(MIE | MPP)) | (MIE if status & MPIE else 0) | MPIE
    if new_priv != PRV_M:
        status &= ~MPRV
    csrs.put("mstatus", status | (PRV_U << MPP_SHIFT))
    s[st.PRIV] = new_priv
    s[st.PC] = csrs.get("mepc")
    s[st.RES_ADDR] = st.NO_RESERVATION


def sret(csrs: CsrFile) -> None:
    s = csrs.s
    status = csrs.get("mstatus")
    new_priv = PRV_S if status & SPP else PRV_U
    status = (status & ~(SIE | SPP | MPRV)) | (SIE if status & SPIE else 0) | SPIE
    csrs.put("mstatus", status)
    s[st.PRIV] = new_priv
    s[st.PC] = csrs.get("sepc")
    s[st.RES_ADDR] = st.NO_RESERVATION
