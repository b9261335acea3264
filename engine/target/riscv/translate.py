"""RISC-V guest instructions to IR: forming translation blocks.

A TB starts at a pc and runs until an instruction that changes control flow,
a system instruction, an exception, the page's end, or MAX_INSNS. Each
instruction is decoded and handed to a translator function per major opcode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.ir.builder import Builder
from engine.ir.core import Block, Cond, Exit, MemOp, Temp, Value
from engine.target.riscv import decode as d
from engine.target.riscv.exceptions import Cause
from engine.target.riscv.state import GLOBALS as G

PAGE_SIZE = 4096
MAX_INSNS = 256
M64 = 0xFFFF_FFFF_FFFF_FFFF


def crosses_page(pc: int, size: int) -> bool:
    """Whether `size` guest bytes from pc run onto the next page: a TB's do only when
    its one instruction straddles the boundary (it can only start a TB)."""
    return (pc & (PAGE_SIZE - 1)) + size > PAGE_SIZE


def next_page(pc: int) -> int:
    """The address of the page after pc's."""
    return (pc | (PAGE_SIZE - 1)) + 1


# A system-mode TB's flags: the privilege, the data MMU context and mstatus.FS.
FLAGS_MMU_SHIFT, FLAGS_FS_SHIFT = 2, 4
TB_FLAG_BITS = 0x3F


def tb_flags(priv: int, mmu_idx: int, fs: int) -> int:
    """The translation-time facts a system-mode TB depends on, packed into its cache key."""
    return priv | (mmu_idx << FLAGS_MMU_SHIFT) | (fs << FLAGS_FS_SHIFT)


@dataclass
class Ctx:
    """What a per-instruction translator needs: the builder and where we are."""

    b: Builder
    pc: int  # address of the current instruction
    insn: int  # the 32-bit (or expanded) instruction word
    raw: int  # the instruction as fetched (16-bit parcel for RVC)
    length: int
    index: int  # position of the instruction in the TB
    ended: bool = False  # the instruction ended the TB (jump, trap, ...)
    # System mode: the TB flags (None in user mode).
    flags: int | None = None
    fs_dirty_marked: bool = False

    @property
    def system(self) -> bool:
        return self.flags is not None

    @property
    def priv(self) -> int:
        return 0 if self.flags is None else self.flags & 3

    @property
    def mmu(self) -> int:
        return 0 if self.flags is None else (self.flags >> 2) & 3

    @property
    def fs(self) -> int:
        return 3 if self.flags is None else (self.flags >> 4) & 3

    def mark_fs_dirty(self) -> None:
        """The instruction writes FP state: mstatus.FS becomes dirty (once per TB)."""
        if self.flags is None or self.fs == 3 or self.fs_dirty_marked:
            return
        from engine.target.riscv.csr_file import FS

        b = self.b
        b.mov(G.mstatus, b.or_(G.mstatus, FS))
        self.fs_dirty_marked = True

    @property
    def next_pc(self) -> int:
        return (self.pc + self.length) & M64

    # -- registers ---------------------------------------------------------
    def gpr(self, r: int) -> Value:
        return 0 if r == 0 else G.x[r]

    def set_gpr(self, r: int, v: Value) -> None:
        if r != 0:
            self.b.mov(G.x[r], v)

    # -- TB exits ------------------------------------------------------------
    def retire(self, count: int) -> None:
        """Account `count` retired instructions of this TB in instret."""
        if count:
            self.b.mov(G.instret, self.b.add(G.instret, count))

    def goto(self, pc: int) -> None:
        self.retire(self.index + 1)
        self.b.goto_tb(pc & M64)

    def goto_ptr(self, pc: Value) -> None:
        self.retire(self.index + 1)
        self.b.goto_ptr(pc)

    def raise_exception(self, cause: int, tval: Value = 0) -> None:
        """Trap at this instruction; instructions that trap do not retire."""
        b = self.b
        b.mov(G.pc, self.pc)
        b.mov(G.exc_cause, cause)
        b.mov(G.exc_tval, tval)
        self.retire(self.index)
        b.exit(Exit.EXCEPTION)

    def illegal(self) -> None:
        self.raise_exception(Cause.ILLEGAL_INSTRUCTION, self.raw)
        self.ended = True

    def store_pc(self) -> None:
        """Make the state's pc exact before a helper that may raise."""
        self.b.mov(G.pc, self.pc)


Translator = Callable[[Ctx], None]


# -- RV64I ------------------------------------------------------------------
def _lui(c: Ctx) -> None:
    c.set_gpr(d.rd(c.insn), d.imm_u(c.insn) & M64)


def _auipc(c: Ctx) -> None:
    c.set_gpr(d.rd(c.insn), (c.pc + d.imm_u(c.insn)) & M64)


def _jal(c: Ctx) -> None:
    c.set_gpr(d.rd(c.insn), c.next_pc)
    c.goto(c.pc + d.imm_j(c.insn))
    c.ended = True


def _jalr(c: Ctx) -> None:
    i = c.insn
    if d.funct3(i) != 0:
        return c.illegal()
    # The target is computed before rd is written: rd may equal rs1.
    target = c.b.and_(c.b.add(c.gpr(d.rs1(i)), d.imm_i(i) & M64), M64 ^ 1)
    c.set_gpr(d.rd(i), c.next_pc)
    c.goto_ptr(target)
    c.ended = True


_BRANCH_CONDS = {0: Cond.EQ, 1: Cond.NE, 4: Cond.LT, 5: Cond.GE, 6: Cond.LTU, 7: Cond.GEU}


def _branch(c: Ctx) -> None:
    i = c.insn
    cond = _BRANCH_CONDS.get(d.funct3(i))
    if cond is None:
        return c.illegal()
    taken = c.b.label()
    c.b.brcond(cond, c.gpr(d.rs1(i)), c.gpr(d.rs2(i)), taken)
    c.goto(c.next_pc)
    c.b.set_label(taken)
    c.goto(c.pc + d.imm_b(i))
    c.ended = True


_LOAD_OPS = {
    0: MemOp.SIZE_8 | MemOp.SIGN,
    1: MemOp.SIZE_16 | MemOp.SIGN,
    2: MemOp.SIZE_32 | MemOp.SIGN,
    3: MemOp.SIZE_64,
    4: MemOp.SIZE_8,
    5: MemOp.SIZE_16,
    6: MemOp.SIZE_32,
}
_STORE_OPS = {0: MemOp.SIZE_8, 1: MemOp.SIZE_16, 2: MemOp.SIZE_32, 3: MemOp.SIZE_64}


def address(c: Ctx, base: int, offset: int) -> Value:
    return c.b.add(c.gpr(base), offset & M64)


def _load(c: Ctx) -> None:
    i = c.insn
    memop = _LOAD_OPS.get(d.funct3(i))
    if memop is None:
        return c.illegal()
    c.set_gpr(d.rd(i), c.b.load(address(c, d.rs1(i), d.imm_i(i)), memop, c.mmu))


def _store(c: Ctx) -> None:
    i = c.insn
    memop = _STORE_OPS.get(d.funct3(i))
    if memop is None:
        return c.illegal()
    c.b.store(c.gpr(d.rs2(i)), address(c, d.rs1(i), d.imm_s(i)), memop, c.mmu)


def _op_imm(c: Ctx) -> None:
    i = c.insn
    b, f3, src, imm = c.b, d.funct3(i), c.gpr(d.rs1(i)), d.imm_i(i) & M64
    if f3 == 0:
        r = b.add(src, imm)
    elif f3 == 2:
        r = b.setcond(Cond.LT, src, imm)
    elif f3 == 3:
        r = b.setcond(Cond.LTU, src, imm)
    elif f3 == 4:
        r = b.xor(src, imm)
    elif f3 == 6:
        r = b.or_(src, imm)
    elif f3 == 7:
        r = b.and_(src, imm)
    else:
        shamt, funct6 = (i >> 20) & 63, i >> 26
        if f3 == 1 and funct6 == 0:
            r = b.shl(src, shamt)
        elif f3 == 5 and funct6 == 0:
            r = b.shr(src, shamt)
        elif f3 == 5 and funct6 == 0x10:
            r = b.sar(src, shamt)
        else:
            return c.illegal()
    c.set_gpr(d.rd(i), r)


def _op_imm32(c: Ctx) -> None:
    i = c.insn
    b, f3, src = c.b, d.funct3(i), c.gpr(d.rs1(i))
    shamt, f7 = (i >> 20) & 31, d.funct7(i)
    if f3 == 0:
        r = b.sext32(b.add(src, d.imm_i(i) & M64))
    elif f3 == 1 and f7 == 0:
        r = b.sext32(b.shl(src, shamt))
    elif f3 == 5 and f7 == 0:
        r = b.sext32(b.shr(b.zext32(src), shamt))
    elif f3 == 5 and f7 == 0x20:
        r = b.sar(b.sext32(src), shamt)
    else:
        return c.illegal()
    c.set_gpr(d.rd(i), r)


def _div(c: Ctx, a: Value, v: Value, signed: bool, want_rem: bool, min_value: int) -> Temp:
    """RISC-V division: x/0 = -1, x%0 = x, MIN/-1 = MIN, MIN%-1 = 0; the IR op never sees them."""
    b = c.b
    zero = b.setcond(Cond.EQ, v, 0)
    bad: Value = zero
    if signed and min_value:
        overflow = b.and_(b.setcond(Cond.EQ, a, min_value), b.setcond(Cond.EQ, v, M64))
        bad = b.or_(zero, overflow)
    safe = b.movcond(Cond.NE, bad, 0, 1, v)
    if want_rem:
        r = b.rem(a, safe) if signed else b.remu(a, safe)
        return b.movcond(Cond.NE, zero, 0, a, r)
    q = b.div(a, safe) if signed else b.divu(a, safe)
    return b.movcond(Cond.NE, zero, 0, M64, q)


def _op(c: Ctx) -> None:
    i = c.insn
    b, f3, f7 = c.b, d.funct3(i), d.funct7(i)
    a, v = c.gpr(d.rs1(i)), c.gpr(d.rs2(i))
    if f7 == 0 or (f7 == 0x20 and f3 in (0, 5)):
        alt = f7 == 0x20
        if f3 == 0:
            r = b.sub(a, v) if alt else b.add(a, v)
        elif f3 == 1:
            r = b.shl(a, v)
        elif f3 == 2:
            r = b.setcond(Cond.LT, a, v)
        elif f3 == 3:
            r = b.setcond(Cond.LTU, a, v)
        elif f3 == 4:
            r = b.xor(a, v)
        elif f3 == 5:
            r = b.sar(a, v) if alt else b.shr(a, v)
        elif f3 == 6:
            r = b.or_(a, v)
        else:
            r = b.and_(a, v)
    elif f7 == 1:  # M extension
        if f3 == 0:
            r = b.mul(a, v)
        elif f3 == 1:
            r = b.mulsh(a, v)
        elif f3 == 2:
            r = b.mulsuh(a, v)
        elif f3 == 3:
            r = b.muluh(a, v)
        else:
            signed, want_rem = f3 in (4, 6), f3 >= 6
            r = _div(c, a, v, signed, want_rem, 1 << 63)
    else:
        return c.illegal()
    c.set_gpr(d.rd(i), r)


def _op32(c: Ctx) -> None:
    i = c.insn
    b, f3, f7 = c.b, d.funct3(i), d.funct7(i)
    a, v = c.gpr(d.rs1(i)), c.gpr(d.rs2(i))
    if f7 in (0, 0x20):
        alt = f7 == 0x20
        if f3 == 0:
            r = b.sext32(b.sub(a, v) if alt else b.add(a, v))
        elif f3 == 1 and not alt:
            r = b.sext32(b.shl(a, b.and_(v, 31)))
        elif f3 == 5 and not alt:
            r = b.sext32(b.shr(b.zext32(a), b.and_(v, 31)))
        elif f3 == 5:
            r = b.sar(b.sext32(a), b.and_(v, 31))
        else:
            return c.illegal()
    elif f7 == 1 and f3 == 0:
        r = b.sext32(b.mul(a, v))
    elif f7 == 1 and f3 >= 4:
        signed, want_rem = f3 in (4, 6), f3 >= 6
        # 64-bit division of extended 32-bit operands cannot overflow, and
        # its low 32 bits are the 32-bit result, including for MIN / -1.
        ext = b.sext32 if signed else b.zext32
        r = b.sext32(_div(c, ext(a), ext(v), signed, want_rem, 0))
    else:
        return c.illegal()
    c.set_gpr(d.rd(i), r)


def _misc_mem(c: Ctx) -> None:
    f3 = d.funct3(c.insn)
    if f3 == 0:
        return  # fence: a single hart with sequentially consistent memory needs nothing
    if f3 == 1:  # fence.i: later instructions must see earlier stores
        if not c.system:
            # User mode does not watch code pages, so the TBs go. System mode needs
            # no call: a store to a code page already discarded its TBs.
            from engine.target.riscv.system import flush_icache

            c.b.call(flush_icache)
        # Ending the TB makes the next instruction a fresh lookup.
        c.goto(c.next_pc)
        c.ended = True
        return
    c.illegal()


def _system(c: Ctx) -> None:
    from engine.target.riscv import csr

    i = c.insn
    f3 = d.funct3(i)
    if f3 == 0:
        if i == 0x00000073:
            c.raise_exception(Cause.ECALL_U + c.priv)  # 8, 9 or 11 by privilege
            c.ended = True
        elif i == 0x00100073:
            c.raise_exception(Cause.BREAKPOINT, c.pc)
            c.ended = True
        elif c.system:
            from engine.target.riscv import system_insns

            system_insns.translate_privileged(c)
        else:
            c.illegal()
        return
    if f3 == 4:
        return c.illegal()
    if c.system:
        from engine.target.riscv import system_insns

        return system_insns.translate_csr(c)
    csr.translate_csr(c)


def _unimplemented(c: Ctx) -> None:
    c.illegal()


def _opcode_table() -> dict[int, Translator]:
    from engine.target.riscv import rv_atomic, rv_fp

    return {
        0x03: _load,
        0x07: rv_fp.translate_load,
        0x0F: _misc_mem,
        0x13: _op_imm,
        0x17: _auipc,
        0x1B: _op_imm32,
        0x23: _store,
        0x27: rv_fp.translate_store,
        0x2F: rv_atomic.translate_amo,
        0x33: _op,
        0x37: _lui,
        0x3B: _op32,
        0x43: rv_fp.translate_fma,
        0x47: rv_fp.translate_fma,
        0x4B: rv_fp.translate_fma,
        0x4F: rv_fp.translate_fma,
        0x53: rv_fp.translate_op_fp,
        0x63: _branch,
        0x67: _jalr,
        0x6F: _jal,
        0x73: _system,
    }


class RiscvTranslator:
    """Translates guest code at a pc into an IR Block.

    `fetch16(addr)` returns the 16-bit parcel at a guest address or raises any
    exception if it cannot be fetched.
    """

    def __init__(self, fetch16: Callable[[int], int], max_insns: int = MAX_INSNS) -> None:
        self.fetch16 = fetch16
        self.max_insns = max_insns
        self.table = _opcode_table()

    def _fetch(self, pc: int, first: bool) -> tuple[int, int] | None:
        """(raw instruction, length) at pc. A fault on the TB's first instruction is the
        guest's (raised); on a later one it ends the TB, to be raised when that runs."""
        try:
            low = self.fetch16(pc)
            length = d.insn_length(low)
            if length == 2:
                return low, 2
            high = self.fetch16((pc + 2) & M64)
            # Longer encodings are not defined: report their first 32 bits.
            return low | (high << 16), length
        except Exception:
            if first:
                raise
            return None

    def translate(self, pc: int, flags: int | None = None) -> Block:
        """The TB at pc; `flags` (system mode) are the privilege, MMU context and FS state."""
        b = Builder(pc)
        page = pc & ~(PAGE_SIZE - 1)
        cur = pc
        fs_marked = False
        for index in range(self.max_insns):
            fetched = self._fetch(cur, index == 0)
            if fetched is None:
                break  # fault on a later instruction: it starts a TB of its own
            raw, length = fetched
            # An instruction straddling a page boundary only starts a TB.
            if index and (cur + max(length, 2) - 1) & ~(PAGE_SIZE - 1) != page:
                break
            b.insn_start(cur, raw)
            c = Ctx(b, cur, raw, raw, length or 2, index, flags=flags, fs_dirty_marked=fs_marked)
            if length == 2:
                expanded = d.expand_compressed(raw)
                if expanded is None:
                    c.illegal()
                else:
                    c.insn = expanded
                    self.table.get(expanded & 0x7F, _unimplemented)(c)
            elif length == 4:
                self.table.get(raw & 0x7F, _unimplemented)(c)
            else:
                c.illegal()
            b.block.n_insns = index + 1
            fs_marked = c.fs_dirty_marked  # later instructions need not mark FS dirty again
            cur = c.next_pc
            if c.ended:
                break
            if cur & ~(PAGE_SIZE - 1) != page:
                break
        else:
            index = self.max_insns - 1
        if not c.ended:
            c.index = b.block.n_insns - 1
            c.goto(cur)
        b.block.size = (cur - pc) & M64
        return b.block
