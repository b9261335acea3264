"""System-mode translation of CSR accesses, xRET, WFI and SFENCE.VMA.

Most are a call to a helper that works on the hart (`env`, a SystemCpu), after
which the TB ends: a CSR write can change the privilege, the MMU context,
interrupt enables or FP enablement, all of which later code was translated
under, and the returns and fences change the pc or the address space. The
CSRs that are plain storage are read and written in generated code, and so is
sstatus while only its interrupt enables or, in S-mode, SUM and FS change.
"""

from __future__ import annotations

from engine.ir.core import Cond, Exit, Helper, HelperFlags, Type, Value
from engine.target.riscv import decode as d
from engine.target.riscv.csr_file import (
    CYCLE,
    FS,
    FS_SHIFT,
    MSTATUS_WRITABLE,
    PRV_M,
    PRV_S,
    PRV_U,
    SD,
    SIE,
    SPIE,
    SPP,
    SSTATUS_MASK,
    SUM,
    TIME,
)
from engine.target.riscv.exceptions import Cause
from engine.target.riscv.mmu import MMU_S, MMU_S_SUM
from engine.target.riscv.state import GLOBALS as G
from engine.target.riscv.translate import FLAGS_FS_SHIFT, FLAGS_MMU_SHIFT, Ctx, tb_flags

M64 = 0xFFFF_FFFF_FFFF_FFFF

_SIDE = HelperFlags.READS_STATE | HelperFlags.WRITES_STATE | HelperFlags.MAY_RAISE
MRET, SRET, WFI = 0x30200073, 0x10200073, 0x10500073


def _csr(env: object, insn: int, src: int) -> int:
    return env.csr_instruction(insn, src)  # type: ignore[attr-defined]


def _read_time(env: object) -> int:
    return env.csrs.time()  # type: ignore[attr-defined]


def _mret(env: object, insn: int) -> None:
    env.xret(insn)  # type: ignore[attr-defined]


def _wfi(env: object) -> None:
    env.wait_for_interrupt()  # type: ignore[attr-defined]


def _sfence(env: object, vaddr: int, asid: int, scope: int) -> None:
    env.sfence_vma(vaddr, asid, scope)  # type: ignore[attr-defined]


# sfence.vma's scope, from which operands are x0.
SFENCE_EVERY_ADDRESS = 1  # rs1 = x0: all virtual addresses, not one page
SFENCE_ONE_ASID = 2  # rs2 != x0: one address space, global mappings excepted


CSR_HELPER = Helper("csr", _csr, (Type.I64, Type.I64), Type.I64, _SIDE)
# The clock alone: no state read or written, nothing raised (the translator checks
# the counter enables), so generated code calls it without syncing registers.
TIME_HELPER = Helper("read_time", _read_time, (), Type.I64, HelperFlags.NONE)
XRET_HELPER = Helper("xret", _mret, (Type.I64,), None, _SIDE)
WFI_HELPER = Helper("wfi", _wfi, (), None, _SIDE)
SFENCE_HELPER = Helper("sfence_vma", _sfence, (Type.I64,) * 3, None, _SIDE)


# CSRs that are plain storage, by number: (state name, lowest privilege, write mask).
_STORAGE_CSRS = {
    0x140: ("sscratch", 1, M64), 0x141: ("sepc", 1, M64 ^ 1), 0x142: ("scause", 1, M64),
    0x143: ("stval", 1, M64), 0x340: ("mscratch", 3, M64), 0x341: ("mepc", 3, M64 ^ 1),
    0x342: ("mcause", 3, M64), 0x343: ("mtval", 3, M64),
}  # fmt: skip
SSTATUS = 0x100
SSTATUS_WRITABLE = SSTATUS_MASK & MSTATUS_WRITABLE
# sstatus bits a write may change without leaving generated code: they affect
# neither translation nor the MMU (a newly enabled pending interrupt is taken
# when the dispatcher next returns to the host, a bounded delay).
_QUIET_SSTATUS_BITS = SIE | SPIE | SPP
# In S-mode, also the bits the TB flags hold: SUM picks the data MMU context
# and FS enables the FPU. Linux sets and clears SUM around every access to user
# memory and FS on every FPU save and restore, about 30,000 times a boot; the
# code writes the new flags to the state itself and the block after it is
# looked up under them. (MXR stays with the helper: it flushes the TLB.)
_S_MODE_INLINE_BITS = _QUIET_SSTATUS_BITS | SUM | FS
assert MMU_S_SUM == MMU_S + 1  # the context is MMU_S plus SUM's bit


def _sstatus_view(c: Ctx) -> Value:
    """sstatus as software reads it: the S-visible mstatus bits, SD set when FS is dirty."""
    b = c.b
    dirty = b.setcond(Cond.EQ, b.and_(G.mstatus, FS), FS)
    return b.or_(b.and_(G.mstatus, SSTATUS_MASK & ~SD), b.shl(dirty, 63))


def translate_csr(c: Ctx) -> None:
    i, b = c.insn, c.b
    csr, f3, rd, src_field = i >> 20, d.funct3(i), d.rd(i), d.rs1(i)
    op = f3 & 3  # 1 write, 2 set, 3 clear
    # The immediate forms carry their operand in the rs1 field.
    src: Value = src_field if f3 & 4 else c.gpr(src_field)
    writes = op == 1 or src_field != 0
    if csr == TIME and not writes:
        _read_time_csr(c)
        return
    storage = _STORAGE_CSRS.get(csr)
    if storage is not None and c.priv >= storage[1]:
        name, _level, mask = storage
        reg = G.csr[name]
        old = b.copy(reg)
        if writes:
            new = src if op == 1 else b.or_(old, src) if op == 2 else b.and_(old, b.not_(src))
            b.mov(reg, b.and_(new, mask))
        c.set_gpr(rd, old)
        return
    if csr == SSTATUS and c.priv >= PRV_S:
        _sstatus_access(c, op, src, writes)
        return
    _csr_by_helper(c, src)


def _read_time_csr(c: Ctx) -> None:
    """rdtime, which Linux runs about 40,000 times a boot: the counter enables are
    checked inline and the TB goes on, with the clock read by a light helper."""
    b = c.b
    if c.priv != PRV_M:
        enabled = G.csr["mcounteren"]
        if c.priv == PRV_U:
            enabled = b.and_(enabled, G.csr["scounteren"])
        allowed = b.label()
        b.brcond(Cond.NE, b.and_(enabled, 1 << (TIME - CYCLE)), 0, allowed)
        c.raise_exception(Cause.ILLEGAL_INSTRUCTION, c.raw)
        b.set_label(allowed)
    c.set_gpr(d.rd(c.insn), b.call(TIME_HELPER))


def _sstatus_access(c: Ctx, op: int, src: Value, writes: bool) -> None:
    """csrrw/csrrs/csrrc on sstatus: inline when only the bits that may change in
    generated code change (the helper does the rest)."""
    b, i, rd = c.b, c.insn, d.rd(c.insn)
    inline_bits = _S_MODE_INLINE_BITS if c.priv == PRV_S else _QUIET_SSTATUS_BITS
    # csrsi/csrci (Linux's interrupt enable and disable) set or clear a known mask:
    # what it may change is decided here, not on every run.
    may_change = src if isinstance(src, int) and op != 1 else M64
    if writes and may_change != M64 and may_change & SSTATUS_WRITABLE & ~inline_bits:
        _csr_by_helper(c, src)
        return
    # Linux's csrs/csrc of SUM and FS discard the old value (rd = x0): no view then,
    # which the interpreter tiers would otherwise compute on every run.
    result = b.temp() if rd else None
    checked = writes and may_change == M64  # which bits change is known only at run time
    if checked:
        done, slow = b.label(), b.label()
        # A writable bit outside inline_bits would change? (Linux's kernel entry
        # clears SUM, FS and VS in one csrc; VS is not writable here: no V.)
        outside = b.xor(src, G.mstatus) if op == 1 else src
        b.brcond(Cond.NE, b.and_(outside, SSTATUS_WRITABLE & ~inline_bits), 0, slow)
    if result is not None:
        b.mov(result, _sstatus_view(c))
    if writes:
        bits = src & SSTATUS_WRITABLE if isinstance(src, int) else b.and_(src, SSTATUS_WRITABLE)
        if op == 1:
            new = b.or_(b.and_(G.mstatus, M64 ^ SSTATUS_WRITABLE), bits)
        elif op == 2:
            new = b.or_(G.mstatus, bits)
        else:
            new = b.and_(G.mstatus, b.not_(bits))
        b.mov(G.mstatus, new)
        if c.priv == PRV_S and may_change & (SUM | FS):
            _write_s_mode_flags(c)
        if op != 3:  # SIE may have been set
            _exit_if_interrupt_pending(c)
    if checked:
        b.br(done)
        b.set_label(slow)
        c.store_pc()
        old = b.call(CSR_HELPER, i, src)
        if result is not None:
            b.mov(result, old)
        b.set_label(done)
    if result is not None:
        c.set_gpr(rd, result)
    c.goto(c.next_pc)  # looked up under the flags now in force
    c.ended = True


def _write_s_mode_flags(c: Ctx) -> None:
    """The TB flags of S-mode under the new mstatus (what refresh_flags would set)."""
    b = c.b
    sum_bit = b.and_(b.shr(G.mstatus, SUM.bit_length() - 1), 1)
    fs = b.and_(b.shr(G.mstatus, FS_SHIFT), 3)
    fields = b.or_(b.shl(b.add(sum_bit, MMU_S), FLAGS_MMU_SHIFT), b.shl(fs, FLAGS_FS_SHIFT))
    kept = b.and_(G.tb_flags, M64 ^ tb_flags(0, 3, 3))  # the privilege and the ASID
    b.mov(G.tb_flags, b.or_(kept, fields))


def _exit_if_interrupt_pending(c: Ctx) -> None:
    """Enabling interrupts with one pending and enabled must let the host take it now:
    the host looks only at block boundaries it sees, and Linux re-disables
    interrupts before the next WFI, so waiting could leave it pending forever.
    The host keeps the device and timer levels in irq_lines at every return."""
    b = c.b
    quiet = b.label()
    pending = b.and_(b.or_(G.csr["mip"], G.irq_lines), G.csr["mie"])
    b.brcond(Cond.EQ, pending, 0, quiet)
    b.mov(G.exit_request, 1)
    b.set_label(quiet)


def _csr_by_helper(c: Ctx, src: Value) -> None:
    i = c.insn
    c.store_pc()
    old = c.b.call(CSR_HELPER, i, src)
    c.set_gpr(d.rd(i), old)
    c.goto(c.next_pc)
    c.ended = True


def translate_privileged(c: Ctx) -> None:
    i, b = c.insn, c.b
    if i in (MRET, SRET):
        c.store_pc()
        b.call(XRET_HELPER, i)  # sets the pc and the privilege
        c.retire(c.index + 1)
        b.exit(Exit.NEXT)
    elif i == WFI:
        c.store_pc()
        b.call(WFI_HELPER)
        c.goto(c.next_pc)
    elif i >> 25 == 0x09 and d.rd(i) == 0:  # sfence.vma rs1, rs2
        c.store_pc()
        scope = (SFENCE_EVERY_ADDRESS if d.rs1(i) == 0 else 0) | (
            SFENCE_ONE_ASID if d.rs2(i) != 0 else 0
        )
        b.call(SFENCE_HELPER, c.gpr(d.rs1(i)), c.gpr(d.rs2(i)), scope)
        c.goto(c.next_pc)
    else:
        return c.illegal()
    c.ended = True
