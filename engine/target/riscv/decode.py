"""Instruction field extraction and expansion of compressed (RVC) instructions.

Every RV64C instruction is rewritten into the 32-bit instruction it stands
for, so the translator has one path per operation; the original length is
kept by the caller for pc arithmetic and link addresses.
"""

from __future__ import annotations


def sext(value: int, bits: int) -> int:
    """Sign-extend the low `bits` of value to a Python int."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def insn_length(low_half: int) -> int:
    """Length in bytes of the instruction whose first 16-bit parcel is given."""
    if low_half & 3 != 3:
        return 2
    if low_half & 0x1C != 0x1C:
        return 4
    return 0  # 48-bit and longer encodings: none are defined for RV64GC


# -- 32-bit fields ----------------------------------------------------------
def rd(i: int) -> int:
    return (i >> 7) & 31


def rs1(i: int) -> int:
    return (i >> 15) & 31


def rs2(i: int) -> int:
    return (i >> 20) & 31


def rs3(i: int) -> int:
    return i >> 27


def funct3(i: int) -> int:
    return (i >> 12) & 7


def funct7(i: int) -> int:
    return i >> 25


def imm_i(i: int) -> int:
    return sext(i >> 20, 12)


def imm_s(i: int) -> int:
    return sext(((i >> 25) << 5) | ((i >> 7) & 31), 12)


def imm_b(i: int) -> int:
    v = (
        ((i >> 31) << 12)
        | (((i >> 7) & 1) << 11)
        | (((i >> 25) & 0x3F) << 5)
        | (((i >> 8) & 0xF) << 1)
    )
    return sext(v, 13)


def imm_u(i: int) -> int:
    return sext(i & 0xFFFFF000, 32)


def imm_j(i: int) -> int:
    v = (
        ((i >> 31) << 20)
        | (((i >> 12) & 0xFF) << 12)
        | (((i >> 20) & 1) << 11)
        | (((i >> 21) & 0x3FF) << 1)
    )
    return sext(v, 21)


# -- encoders for the expansion of RVC ----------------------------------------
def _r(op: int, rd_: int, f3: int, rs1_: int, rs2_: int, f7: int) -> int:
    return (f7 << 25) | (rs2_ << 20) | (rs1_ << 15) | (f3 << 12) | (rd_ << 7) | op


def _i(op: int, rd_: int, f3: int, rs1_: int, imm: int) -> int:
    return ((imm & 0xFFF) << 20) | (rs1_ << 15) | (f3 << 12) | (rd_ << 7) | op


def _s(op: int, f3: int, rs1_: int, rs2_: int, imm: int) -> int:
    imm &= 0xFFF
    return ((imm >> 5) << 25) | (rs2_ << 20) | (rs1_ << 15) | (f3 << 12) | ((imm & 31) << 7) | op


def _b(f3: int, rs1_: int, rs2_: int, imm: int) -> int:
    imm &= 0x1FFF
    return (
        ((imm >> 12) << 31)
        | (((imm >> 5) & 0x3F) << 25)
        | (rs2_ << 20)
        | (rs1_ << 15)
        | (f3 << 12)
        | (((imm >> 1) & 0xF) << 8)
        | (((imm >> 11) & 1) << 7)
        | 0x63
    )


def _j(rd_: int, imm: int) -> int:
    imm &= 0x1FFFFF
    return (
        ((imm >> 20) << 31)
        | (((imm >> 1) & 0x3FF) << 21)
        | (((imm >> 11) & 1) << 20)
        | (((imm >> 12) & 0xFF) << 12)
        | (rd_ << 7)
        | 0x6F
    )


def _u(op: int, rd_: int, imm: int) -> int:
    return (imm & 0xFFFFF000) | (rd_ << 7) | op


OP_LOAD, OP_LOAD_FP, OP_IMM, OP_IMM32, OP_STORE, OP_STORE_FP = 0x03, 0x07, 0x13, 0x1B, 0x23, 0x27
OP_REG, OP_LUI, OP_REG32, OP_JALR = 0x33, 0x37, 0x3B, 0x67


def _bits(h: int, hi: int, lo: int) -> int:
    return (h >> lo) & ((1 << (hi - lo + 1)) - 1)


def expand_compressed(h: int) -> int | None:
    """The 32-bit instruction equivalent to RV64C parcel `h`, or None if it is illegal/reserved."""
    quadrant = h & 3
    f3 = h >> 13
    rd_full = _bits(h, 11, 7)
    rs2_full = _bits(h, 6, 2)
    rd_p = 8 + _bits(h, 4, 2)  # rd' / rs2'
    rs1_p = 8 + _bits(h, 9, 7)  # rs1' / rd'
    if h == 0:
        return None  # the all-zero parcel is defined to be illegal
    if quadrant == 0:
        if f3 == 0:  # c.addi4spn
            imm = (
                (_bits(h, 10, 7) << 6)
                | (_bits(h, 12, 11) << 4)
                | (_bits(h, 5, 5) << 3)
                | (_bits(h, 6, 6) << 2)
            )
            return None if imm == 0 else _i(OP_IMM, rd_p, 0, 2, imm)
        uimm_d = (_bits(h, 12, 10) << 3) | (_bits(h, 6, 5) << 6)  # doubleword offsets
        uimm_w = (_bits(h, 12, 10) << 3) | (_bits(h, 6, 6) << 2) | (_bits(h, 5, 5) << 6)
        if f3 == 1:  # c.fld
            return _i(OP_LOAD_FP, rd_p, 3, rs1_p, uimm_d)
        if f3 == 2:  # c.lw
            return _i(OP_LOAD, rd_p, 2, rs1_p, uimm_w)
        if f3 == 3:  # c.ld
            return _i(OP_LOAD, rd_p, 3, rs1_p, uimm_d)
        if f3 == 5:  # c.fsd
            return _s(OP_STORE_FP, 3, rs1_p, rd_p, uimm_d)
        if f3 == 6:  # c.sw
            return _s(OP_STORE, 2, rs1_p, rd_p, uimm_w)
        if f3 == 7:  # c.sd
            return _s(OP_STORE, 3, rs1_p, rd_p, uimm_d)
        return None
    if quadrant == 1:
        imm6 = sext((_bits(h, 12, 12) << 5) | rs2_full, 6)
        if f3 == 0:  # c.addi (c.nop when rd = 0)
            return _i(OP_IMM, rd_full, 0, rd_full, imm6)
        if f3 == 1:  # c.addiw
            return None if rd_full == 0 else _i(OP_IMM32, rd_full, 0, rd_full, imm6)
        if f3 == 2:  # c.li
            return _i(OP_IMM, rd_full, 0, 0, imm6)
        if f3 == 3:
            if rd_full == 2:  # c.addi16sp
                imm = sext(
                    (_bits(h, 12, 12) << 9)
                    | (_bits(h, 4, 3) << 7)
                    | (_bits(h, 5, 5) << 6)
                    | (_bits(h, 2, 2) << 5)
                    | (_bits(h, 6, 6) << 4),
                    10,
                )
                return None if imm == 0 else _i(OP_IMM, 2, 0, 2, imm)
            if imm6 == 0:
                return None  # c.lui with a zero immediate is reserved
            return _u(OP_LUI, rd_full, imm6 << 12)
        if f3 == 4:
            sub = _bits(h, 11, 10)
            shamt = (_bits(h, 12, 12) << 5) | rs2_full
            if sub == 0:  # c.srli
                return _i(OP_IMM, rs1_p, 5, rs1_p, shamt)
            if sub == 1:  # c.srai
                return _i(OP_IMM, rs1_p, 5, rs1_p, shamt | 0x400)
            if sub == 2:  # c.andi
                return _i(OP_IMM, rs1_p, 7, rs1_p, imm6)
            f2 = _bits(h, 6, 5)
            if _bits(h, 12, 12) == 0:
                f3_op, f7 = ((0, 0x20), (4, 0), (6, 0), (7, 0))[f2]  # sub xor or and
                return _r(OP_REG, rs1_p, f3_op, rs1_p, rd_p, f7)
            if f2 == 0:  # c.subw
                return _r(OP_REG32, rs1_p, 0, rs1_p, rd_p, 0x20)
            if f2 == 1:  # c.addw
                return _r(OP_REG32, rs1_p, 0, rs1_p, rd_p, 0)
            return None
        if f3 == 5:  # c.j
            imm = sext(
                (_bits(h, 12, 12) << 11)
                | (_bits(h, 8, 8) << 10)
                | (_bits(h, 10, 9) << 8)
                | (_bits(h, 6, 6) << 7)
                | (_bits(h, 7, 7) << 6)
                | (_bits(h, 2, 2) << 5)
                | (_bits(h, 11, 11) << 4)
                | (_bits(h, 5, 3) << 1),
                12,
            )
            return _j(0, imm)
        # c.beqz / c.bnez
        imm = sext(
            (_bits(h, 12, 12) << 8)
            | (_bits(h, 6, 5) << 6)
            | (_bits(h, 2, 2) << 5)
            | (_bits(h, 11, 10) << 3)
            | (_bits(h, 4, 3) << 1),
            9,
        )
        return _b(0 if f3 == 6 else 1, rs1_p, 0, imm)
    if quadrant == 2:
        if f3 == 0:  # c.slli
            shamt = (_bits(h, 12, 12) << 5) | rs2_full
            return _i(OP_IMM, rd_full, 1, rd_full, shamt)
        if f3 in (1, 3):  # c.fldsp / c.ldsp
            imm = (_bits(h, 12, 12) << 5) | (_bits(h, 6, 5) << 3) | (_bits(h, 4, 2) << 6)
            if f3 == 3 and rd_full == 0:
                return None
            return _i(OP_LOAD_FP if f3 == 1 else OP_LOAD, rd_full, 3, 2, imm)
        if f3 == 2:  # c.lwsp
            if rd_full == 0:
                return None
            imm = (_bits(h, 12, 12) << 5) | (_bits(h, 6, 4) << 2) | (_bits(h, 3, 2) << 6)
            return _i(OP_LOAD, rd_full, 2, 2, imm)
        if f3 == 4:
            if _bits(h, 12, 12) == 0:
                if rs2_full == 0:  # c.jr
                    return None if rd_full == 0 else _i(OP_JALR, 0, 0, rd_full, 0)
                return _r(OP_REG, rd_full, 0, 0, rs2_full, 0)  # c.mv
            if rs2_full == 0:
                if rd_full == 0:
                    return 0x00100073  # c.ebreak
                return _i(OP_JALR, 1, 0, rd_full, 0)  # c.jalr
            return _r(OP_REG, rd_full, 0, rd_full, rs2_full, 0)  # c.add
        # c.fsdsp / c.swsp / c.sdsp
        if f3 == 6:
            imm = (_bits(h, 12, 9) << 2) | (_bits(h, 8, 7) << 6)
            return _s(OP_STORE, 2, 2, rs2_full, imm)
        imm = (_bits(h, 12, 10) << 3) | (_bits(h, 9, 7) << 6)
        return _s(OP_STORE_FP if f3 == 5 else OP_STORE, 3, 2, rs2_full, imm)
    return None
