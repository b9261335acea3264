"""Random RV64GC instruction sequences for differential testing.

Encodings are written here from the ISA manual, independently of the
emulator's decoder, so a shared misreading of the spec cannot hide a bug.

Reserved registers keep every memory access inside the data window:
sp (x2) and s11 (x27) point at its middle, s10 (x26) at an 8-byte aligned
slot for atomics; no generated instruction writes them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

CODE_BASE = 0x10000
DATA_BASE = 0x40000
DATA_SIZE = 0x2000
DATA_MID = DATA_BASE + 0x1000
ATOMIC_SLOT = DATA_BASE + 0x200
RESERVED = {2, 26, 27}
WRITABLE = [r for r in range(32) if r not in RESERVED]
EBREAK = 0x00100073

INTERESTING = [
    0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
    0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
    0xFFFF_FFFF_8000_0000, 0xFFFF_FFFF_FFFF_FFFE, 31, 32, 63, 64,
]  # fmt: skip
FP_SPECIAL_D = [
    0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
    0x7FF8000000000000, 0x7FF4000000000000, 0x0000000000000001, 0x000FFFFFFFFFFFFF,
    0x7FEFFFFFFFFFFFFF, 0x0010000000000000, 0x41DFFFFFFFC00000, 0x43E0000000000000,
    0xC3E0000000000000, 0x3FE0000000000000, 0x4000000000000000, 0x3FD5555555555555,
]  # fmt: skip
FP_SPECIAL_S = [
    0, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7FA00000,
    0x00000001, 0x007FFFFF, 0x7F7FFFFF, 0x00800000, 0x4F000000, 0xCF000000, 0x5F000000,
    0x3F000000, 0x40000000, 0x3EAAAAAB,
]  # fmt: skip
# Singles live in f0..f15 and doubles in f16..f31 so every single-precision
# operand is properly NaN-boxed, whatever the reference does with unboxed ones.
S_REGS = list(range(16))
D_REGS = list(range(16, 32))


def r_type(op: int, rd: int, f3: int, rs1: int, rs2: int, f7: int) -> int:
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def i_type(op: int, rd: int, f3: int, rs1: int, imm: int) -> int:
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def s_type(op: int, f3: int, rs1: int, rs2: int, imm: int) -> int:
    imm &= 0xFFF
    return ((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | op


def b_type(f3: int, rs1: int, rs2: int, imm: int) -> int:
    imm &= 0x1FFF
    return (
        ((imm >> 12) & 1) << 31 | ((imm >> 5) & 0x3F) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12
        | ((imm >> 1) & 0xF) << 8 | ((imm >> 11) & 1) << 7 | 0x63
    )  # fmt: skip


def j_type(rd: int, imm: int) -> int:
    imm &= 0x1FFFFF
    return (
        ((imm >> 20) & 1) << 31 | ((imm >> 1) & 0x3FF) << 21 | ((imm >> 11) & 1) << 20
        | ((imm >> 12) & 0xFF) << 12 | rd << 7 | 0x6F
    )  # fmt: skip


def r4_type(op: int, rd: int, rm: int, rs1: int, rs2: int, fmt: int, rs3: int) -> int:
    return (rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | op


@dataclass
class Insn:
    word: int
    size: int  # 2 or 4
    branch_to: int | None = None  # index of the target instruction (patched later)
    kind: str = ""


class Generator:
    def __init__(
        self, rng: random.Random, fp: bool = True, compressed: bool = True, legacy_ref: bool = False
    ) -> None:
        self.rng = rng
        self.fp = fp
        self.compressed = compressed
        # For a reference built on QEMU 5 (unicorn): fmin/fmax changed meaning
        # for signalling NaNs in ISA 2.2, and LR/SC of mixed width or with
        # same-hart stores in between is "may fail" territory where it differs.
        self.minmax = self.lrsc = not legacy_ref

    # -- operand choices ----------------------------------------------------------
    def rd(self) -> int:
        return self.rng.choice(WRITABLE)

    def rs(self) -> int:
        return self.rng.randrange(32)

    def imm12(self) -> int:
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice([0, 1, -1, 2047, -2048, 31, 32, 63])
        return self.rng.randrange(-2048, 2048)

    def value(self) -> int:
        if self.rng.random() < 0.5:
            v = self.rng.choice(INTERESTING)
            return (v + self.rng.choice([0, 0, 0, 1, -1])) & 0xFFFF_FFFF_FFFF_FFFF
        return self.rng.getrandbits(64)

    def fp_value(self, double: bool) -> int:
        if self.rng.random() < 0.6:
            v = self.rng.choice(FP_SPECIAL_D if double else FP_SPECIAL_S)
            if self.rng.random() < 0.3:
                v ^= 1 << (63 if double else 31)
            return v
        return self.rng.getrandbits(64 if double else 32)

    # -- instruction classes -----------------------------------------------------------
    def alu_reg(self) -> Insn:
        rng = self.rng
        choices = (
            [(f3, 0) for f3 in range(8)] + [(0, 0x20), (5, 0x20)] + [(f3, 1) for f3 in range(8)]
        )
        f3, f7 = rng.choice(choices)
        if rng.random() < 0.4:
            f3, f7 = rng.choice(
                [(0, 0), (0, 0x20), (1, 0), (5, 0), (5, 0x20)] + [(f, 1) for f in (0, 4, 5, 6, 7)]
            )
            return Insn(r_type(0x3B, self.rd(), f3, self.rs(), self.rs(), f7), 4, kind="op32")
        return Insn(r_type(0x33, self.rd(), f3, self.rs(), self.rs(), f7), 4, kind="op")

    def alu_imm(self) -> Insn:
        rng = self.rng
        if rng.random() < 0.3:
            f3 = rng.choice([0, 1, 5, 5])
            if f3 == 0:
                return Insn(i_type(0x1B, self.rd(), 0, self.rs(), self.imm12()), 4)
            sh = rng.randrange(32) | (0x400 if f3 == 5 and rng.random() < 0.5 else 0)
            return Insn(i_type(0x1B, self.rd(), f3, self.rs(), sh), 4)
        f3 = rng.randrange(8)
        if f3 in (1, 5):
            sh = rng.randrange(64) | (0x400 if f3 == 5 and rng.random() < 0.5 else 0)
            return Insn(i_type(0x13, self.rd(), f3, self.rs(), sh), 4)
        return Insn(i_type(0x13, self.rd(), f3, self.rs(), self.imm12()), 4)

    def upper(self) -> Insn:
        op = self.rng.choice([0x37, 0x17])
        return Insn((self.rng.getrandbits(20) << 12) | (self.rd() << 7) | op, 4)

    def load_store(self) -> Insn:
        rng = self.rng
        imm = rng.randrange(-2048, 2041)
        if rng.random() < 0.5:
            f3 = rng.choice([0, 1, 2, 3, 4, 5, 6])
            return Insn(i_type(0x03, self.rd(), f3, 27, imm), 4, kind="load")
        f3 = rng.randrange(4)
        return Insn(s_type(0x23, f3, 27, self.rs(), imm), 4, kind="store")

    def atomic(self) -> Insn:
        rng = self.rng
        f3 = rng.choice([2, 3])
        amos = [0x00, 0x01, 0x04, 0x0C, 0x08, 0x10, 0x14, 0x18, 0x1C]
        f5 = rng.choice([*amos, 0x02, 0x03] if self.lrsc else amos)
        rs2 = 0 if f5 == 0x02 else self.rs()
        aqrl = rng.randrange(4)
        word = (
            (f5 << 27)
            | (aqrl << 25)
            | (rs2 << 20)
            | (26 << 15)
            | (f3 << 12)
            | (self.rd() << 7)
            | 0x2F
        )
        return Insn(word, 4, kind="amo")

    def branch(self, index: int, n: int) -> Insn:
        rng = self.rng
        target = min(n, index + rng.randrange(1, 4))
        if rng.random() < 0.2:
            return Insn(j_type(self.rd(), 0), 4, branch_to=target, kind="jal")
        f3 = rng.choice([0, 1, 4, 5, 6, 7])
        rs1, rs2 = self.rs(), self.rs()
        return Insn(b_type(f3, rs1, rs2, 0), 4, branch_to=target, kind=f"b{f3}")

    def compressed_insn(self) -> Insn:
        rng = self.rng
        k = rng.randrange(12)
        rdp, rsp = rng.randrange(8), rng.randrange(8)  # x8..x15, never reserved
        full = self.rd()
        imm6 = rng.randrange(64)
        if k == 0 and full:  # c.addi
            return Insn(0x0001 | ((imm6 >> 5) << 12) | (full << 7) | ((imm6 & 31) << 2), 2)
        if k == 1 and full:  # c.li
            return Insn(0x4001 | ((imm6 >> 5) << 12) | (full << 7) | ((imm6 & 31) << 2), 2)
        if k == 2 and full:  # c.addiw
            return Insn(0x2001 | ((imm6 >> 5) << 12) | (full << 7) | ((imm6 & 31) << 2), 2)
        if k == 3:  # c.srli / c.srai / c.andi
            sub = rng.randrange(3)
            return Insn(
                0x8001 | ((imm6 >> 5) << 12) | (sub << 10) | (rdp << 7) | ((imm6 & 31) << 2), 2
            )
        if k == 4:  # c.sub c.xor c.or c.and c.subw c.addw
            hi = rng.randrange(2)
            f2 = rng.randrange(4) if hi == 0 else rng.randrange(2)
            return Insn(0x8C01 | (hi << 12) | (rdp << 7) | (f2 << 5) | (rsp << 2), 2)
        if k == 5 and full:  # c.slli
            return Insn(0x0002 | ((imm6 >> 5) << 12) | (full << 7) | ((imm6 & 31) << 2), 2)
        if k == 6 and full:  # c.mv
            src = rng.randrange(1, 32)
            return Insn(0x8002 | (full << 7) | (src << 2), 2)
        if k == 7 and full:  # c.add
            src = rng.randrange(1, 32)
            return Insn(0x9002 | (full << 7) | (src << 2), 2)
        if k == 8 and full and imm6:  # c.lui (nonzero immediate)
            return Insn(0x6001 | ((imm6 >> 5) << 12) | (full << 7) | ((imm6 & 31) << 2), 2)
        if k == 9 and full:  # c.lwsp / c.ldsp
            off = rng.randrange(64)
            if rng.random() < 0.5:  # c.lwsp: uimm[5] uimm[4:2|7:6]
                u = off << 2
                enc = ((u >> 5) & 1) << 12 | ((u >> 2) & 7) << 4 | ((u >> 6) & 3) << 2
                return Insn(0x4002 | enc | (full << 7), 2)
            u = off << 3
            enc = ((u >> 5) & 1) << 12 | ((u >> 3) & 3) << 5 | ((u >> 6) & 7) << 2
            return Insn(0x6002 | enc | (full << 7), 2)
        if k == 10:  # c.swsp / c.sdsp
            src = rng.randrange(32)
            off = rng.randrange(64)
            if rng.random() < 0.5:
                u = off << 2
                enc = ((u >> 2) & 0xF) << 9 | ((u >> 6) & 3) << 7
                return Insn(0xC002 | enc | (src << 2), 2)
            u = off << 3
            enc = ((u >> 3) & 7) << 10 | ((u >> 6) & 7) << 7
            return Insn(0xE002 | enc | (src << 2), 2)
        # c.addi4spn: rd' = sp + nzuimm
        u = rng.randrange(1, 256) << 2
        enc = (
            ((u >> 4) & 3) << 11 | ((u >> 6) & 0xF) << 7 | ((u >> 2) & 1) << 6 | ((u >> 3) & 1) << 5
        )
        return Insn(0x0000 | enc | (rdp << 2), 2)

    def fp_insn(self) -> Insn:
        rng = self.rng
        double = rng.random() < 0.5
        fmt = 1 if double else 0
        regs = D_REGS if double else S_REGS
        fd, fa, fb, fc = (rng.choice(regs) for _ in range(4))
        rm = rng.choice([0, 1, 2, 3, 4, 7])
        k = rng.randrange(14)
        if k < 4:  # fadd fsub fmul fdiv
            return Insn(r_type(0x53, fd, rm, fa, fb, (k << 2) | fmt), 4, kind="fp")
        if k == 4:
            return Insn(r_type(0x53, fd, rm, fa, 0, (0x0B << 2) | fmt), 4, kind="fp")
        if k == 5:  # fsgnj*
            return Insn(r_type(0x53, fd, rng.randrange(3), fa, fb, (0x04 << 2) | fmt), 4)
        if k == 6 and not self.minmax:
            k = 5
        if k == 5:  # fsgnj*
            return Insn(r_type(0x53, fd, rng.randrange(3), fa, fb, (0x04 << 2) | fmt), 4)
        if k == 6:  # fmin/fmax
            return Insn(r_type(0x53, fd, rng.randrange(2), fa, fb, (0x05 << 2) | fmt), 4)
        if k == 7:  # fmadd fmsub fnmsub fnmadd
            op = rng.choice([0x43, 0x47, 0x4B, 0x4F])
            return Insn(r4_type(op, fd, rm, fa, fb, fmt, fc), 4, kind="fp")
        if k == 8:  # feq flt fle
            return Insn(r_type(0x53, self.rd(), rng.randrange(3), fa, fb, (0x14 << 2) | fmt), 4)
        if k == 9:  # fclass
            return Insn(r_type(0x53, self.rd(), 1, fa, 0, (0x1C << 2) | fmt), 4)
        if k == 10:  # fcvt.{w,wu,l,lu}.fmt
            return Insn(r_type(0x53, self.rd(), rm, fa, rng.randrange(4), (0x18 << 2) | fmt), 4)
        if k == 11:  # fcvt.fmt.{w,wu,l,lu}
            return Insn(r_type(0x53, fd, rm, self.rs(), rng.randrange(4), (0x1A << 2) | fmt), 4)
        if k == 12:  # fcvt.s.d / fcvt.d.s between the two register pools
            if double:
                return Insn(r_type(0x53, rng.choice(D_REGS), rm, rng.choice(S_REGS), 0, 0x21), 4)
            return Insn(r_type(0x53, rng.choice(S_REGS), rm, rng.choice(D_REGS), 1, 0x20), 4)
        # fmv.x.{w,d}: moves bits, valid on any register
        return Insn(r_type(0x53, self.rd(), 0, fa, 0, (0x1C << 2) | fmt), 4)

    def sequence(self, n: int) -> list[Insn]:
        rng = self.rng
        out: list[Insn] = []
        for index in range(n):
            r = rng.random()
            if r < 0.25:
                insn = self.alu_reg()
            elif r < 0.42:
                insn = self.alu_imm()
            elif r < 0.47:
                insn = self.upper()
            elif r < 0.57:
                insn = self.load_store()
            elif r < 0.62:
                insn = self.atomic()
            elif r < 0.70:
                insn = self.branch(index, n)
            elif r < 0.82 and self.compressed:
                insn = self.compressed_insn()
            elif self.fp:
                insn = self.fp_insn()
            else:
                insn = self.alu_reg()
            out.append(insn)
        return out


def assemble(insns: list[Insn]) -> bytes:
    """Lay out the sequence, patch forward branch offsets, and end with ebreak."""
    offsets = []
    pos = 0
    for insn in insns:
        offsets.append(pos)
        pos += insn.size
    offsets.append(pos)  # the ebreak
    code = bytearray()
    for k, insn in enumerate(insns):
        word = insn.word
        if insn.branch_to is not None:
            delta = offsets[insn.branch_to] - offsets[k]
            if insn.kind == "jal":
                word = j_type((word >> 7) & 31, delta)
            else:
                word = b_type((word >> 12) & 7, (word >> 15) & 31, (word >> 20) & 31, delta)
        code += word.to_bytes(insn.size, "little")
    code += EBREAK.to_bytes(4, "little")
    return bytes(code)


@dataclass
class Case:
    code: bytes
    x: list[int]
    f: list[int]
    frm: int
    data: bytes


def make_case(seed: int, n: int = 40, fp: bool = True, legacy_ref: bool = False) -> Case:
    rng = random.Random(seed)
    gen = Generator(rng, fp=fp, legacy_ref=legacy_ref)
    code = assemble(gen.sequence(n))
    x = [0] + [gen.value() for _ in range(31)]
    x[2] = DATA_MID
    x[27] = DATA_MID
    x[26] = ATOMIC_SLOT
    boxed = 0xFFFF_FFFF_0000_0000
    f = [gen.fp_value(False) | boxed for _ in S_REGS] + [gen.fp_value(True) for _ in D_REGS]
    data = bytes(rng.getrandbits(8) for _ in range(DATA_SIZE))
    return Case(code, x, f, rng.randrange(5), data)
