"""One table of small programs per instruction class, with results worked out from the spec.

Each snippet is assembled by GNU as, run from pc 0x10000 until its final
ebreak on every tier, and the named registers are compared. x26 points at a
zeroed, 8-byte aligned scratch area.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from engine.linux_user.execution import ExecutionOptions, create_process_image
from engine.target.riscv import state as st
from engine.target.riscv.cpu import TierConfig
from engine.target.riscv.exceptions import Cause

AS = shutil.which("riscv64-linux-gnu-as")
LD = shutil.which("riscv64-linux-gnu-ld")
OBJCOPY = shutil.which("riscv64-linux-gnu-objcopy")
pytestmark = pytest.mark.skipif(
    not (AS and LD and OBJCOPY), reason="riscv64 binutils not installed"
)

CODE, SCRATCH = 0x10000, 0x20000
M = (1 << 64) - 1
NAN32_BOXED = 0xFFFF_FFFF_7FC0_0000


def r(v: int) -> int:
    return v & M


# (class, assembly, expected {register: value}); x-registers by ABI name,
# "f<n>" for raw FP registers, "fflags"/"frm" for the CSR fields, "trap" for a cause.
CASES = [
    (
        "rv64i alu",
        """
        li a0, -1; li a1, 1; add a2, a0, a1; sub a3, a1, a0
        slt a4, a0, a1; sltu a5, a0, a1; li t0, 0x7fffffffffffffff; addi t1, t0, 1
        """,
        {"a2": 0, "a3": 2, "a4": 1, "a5": 0, "t1": 1 << 63},
    ),
    (
        "rv64i shifts use the low 6 bits",
        """
        li a0, 1; li a1, 65; sll a2, a0, a1; li a3, -16; li a4, 66; sra a5, a3, a4
        srl a6, a3, a4; srai a7, a3, 63
        """,
        {"a2": 2, "a5": r(-4), "a6": r(-16) >> 2, "a7": M},
    ),
    (
        "rv64i upper immediates",
        """
        lui a0, 0x80000; auipc a1, 0; lui a2, 0x7ffff
        """,
        {"a0": r(-(1 << 31)), "a1": CODE + 4, "a2": 0x7FFFF000},
    ),
    (
        "word ops sign-extend",
        """
        li a0, 0x7fffffff; addiw a1, a0, 1; li a2, -1; srliw a3, a2, 4; li a4, 33
        sraw a5, a2, a4; sllw a6, a0, a4; subw a7, zero, a0
        """,
        {"a1": r(-(1 << 31)), "a3": 0x0FFFFFFF, "a5": M, "a6": r(-2), "a7": r(-0x7FFFFFFF)},
    ),
    (
        "m: high products",
        """
        li a0, -1; li a1, -1; mulh a2, a0, a1; mulhu a3, a0, a1; mulhsu a4, a0, a1
        li a5, 3; mul a6, a0, a5
        """,
        {"a2": 0, "a3": M - 1, "a4": M, "a6": r(-3)},
    ),
    (
        "m: division edge cases",
        """
        li a0, 7; div a1, a0, zero; rem a2, a0, zero; divu a3, a0, zero
        li t0, 1; slli t0, t0, 63; li t1, -1; div a4, t0, t1; rem a5, t0, t1
        li t2, -7; li t3, 2; div a6, t2, t3; rem a7, t2, t3
        """,
        {"a1": M, "a2": 7, "a3": M, "a4": 1 << 63, "a5": 0, "a6": r(-3), "a7": r(-1)},
    ),
    (
        "m: word division",
        """
        lui t0, 0x80000; li t1, -1; divw a0, t0, t1; remw a1, t0, t1; li t2, 5
        divuw a2, t1, t2; remuw a3, t1, zero
        """,
        {"a0": r(-(1 << 31)), "a1": 0, "a2": 0x33333333, "a3": M},
    ),
    (
        "loads and stores",
        """
        li a0, -2; sd a0, 0(s10); lb a1, 0(s10); lbu a2, 0(s10); lh a3, 0(s10)
        lhu a4, 0(s10); lwu a5, 4(s10); sw zero, 3(s10); ld a6, 0(s10)
        """,
        {
            "a1": r(-2),
            "a2": 0xFE,
            "a3": r(-2),
            "a4": 0xFFFE,
            "a5": 0xFFFFFFFF,
            "a6": 0xFF00_0000_00FF_FFFE,
        },
    ),
    (
        "branches: signed and unsigned",
        """
        li a0, -1; li a1, 1; li a2, 0; li a3, 0
        blt a0, a1, 1f; li a2, 9
        1: bltu a0, a1, 2f; li a3, 5
        2: nop
        """,
        {"a2": 0, "a3": 5},
    ),
    (
        "jumps link and clear bit 0",
        """
        jal a0, 1f
        1: la t0, 2f; addi t0, t0, 1; jalr a1, 0(t0)
        2: nop
        """,
        {"a0": CODE + 4},
    ),
    (
        "atomics",
        """
        li a0, 0x7fffffff; sw a0, 0(s10); li a1, 1; amoadd.w a2, a1, (s10); lw a3, 0(s10)
        li a4, -1; sd zero, 8(s10); addi t0, s10, 8; amomaxu.d a5, a4, (t0); ld a6, 8(s10)
        amomin.w a7, a1, (s10)
        """,
        {"a2": 0x7FFFFFFF, "a3": r(-(1 << 31)), "a5": 0, "a6": M, "a7": r(-(1 << 31))},
    ),
    (
        "lr/sc",
        """
        li a0, 5; sd a0, 0(s10); lr.d a1, (s10); addi a1, a1, 1; sc.d a2, a1, (s10)
        sc.d a3, a1, (s10); ld a4, 0(s10)
        """,
        {"a1": 6, "a2": 0, "a3": 1, "a4": 6},
    ),
    (
        "f: boxing, arithmetic and flags",
        """
        li a0, 0x3f800000; fmv.w.x fa0, a0; fadd.s fa1, fa0, fa0; fmv.x.w a1, fa1
        fmv.d.x fa2, a0; fadd.s fa3, fa2, fa0; fmv.x.d a2, fa3
        li t0, 3; fcvt.s.w fa4, t0; fdiv.s fa5, fa0, fa4; frflags a3
        """,
        {"a1": 0x40000000, "a2": NAN32_BOXED, "a3": 1},
    ),
    (
        "d: conversions saturate",
        """
        li a0, 0x7ff0000000000000; fmv.d.x fa0, a0; fcvt.w.d a1, fa0; fcvt.wu.d a2, fa0
        fneg.d fa1, fa0; fcvt.l.d a3, fa1; frflags a4; fclass.d a5, fa1
        li t0, 0x7ff8000000000000; fmv.d.x fa2, t0; fcvt.lu.d a6, fa2
        """,
        {"a1": 0x7FFFFFFF, "a2": M, "a3": 1 << 63, "a4": 0x10, "a5": 1, "a6": M},
    ),
    (
        "d: fmin/fmax on zeros and signalling NaN",
        """
        fmv.d.x fa0, zero; li t0, 0x8000000000000000; fmv.d.x fa1, t0
        fmin.d fa2, fa0, fa1; fmv.x.d a0, fa2; fmax.d fa3, fa1, fa0; fmv.x.d a1, fa3
        li t1, 0x7ff4000000000000; fmv.d.x fa4, t1; fmin.d fa5, fa4, fa0; fmv.x.d a2, fa5
        frflags a3
        """,
        {"a0": 1 << 63, "a1": 0, "a2": 0, "a3": 0x10},
    ),
    (
        "zicsr: fcsr fields and counters",
        """
        li a0, 0xff; csrw fcsr, a0; frrm a1; frflags a2; csrrs a3, fflags, zero
        fsrmi a4, 2; frrm a5; rdinstret t0; nop; rdinstret t1; sub a6, t1, t0
        """,
        {"a1": 7, "a2": 0x1F, "a3": 0x1F, "a4": 7, "a5": 2, "a6": 2},
    ),
    (
        "compressed",
        """
        .option rvc
        c.li a0, 5; c.addi a0, -2; c.slli a0, 3; c.mv a1, a0; c.add a1, a0; c.addw a1, a0
        c.sd a1, 0(s0); c.ld a2, 0(s0)
        """,
        {"a0": 24, "a1": 72, "a2": 72},
    ),
    ("zifencei", "fence.i; fence rw, rw; li a0, 1", {"a0": 1}),
    (
        "illegal rounding mode traps",
        "li a0, 1; .word 0x00b55553  # fadd.s, rm=5",
        {"a0": 1, "trap": 2},
    ),
    ("unknown csr traps", "csrr a0, 0x7c0", {"trap": 2}),
]


def assemble(tmp: Path, source: str) -> bytes:
    src = tmp / "t.s"
    src.write_text(".option norvc\n.text\n" + source.replace(";", "\n") + "\nebreak\n")
    obj, elf, out = tmp / "t.o", tmp / "t.elf", tmp / "t.bin"
    subprocess.run([AS, "-march=rv64gc", "-o", obj, src], check=True)
    # Linked at its run address: pc-relative relocations (la) must be resolved.
    subprocess.run([LD, "-Ttext=0x10000", "-e", "0x10000", "-o", elf, obj], check=True)
    subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", elf, out], check=True)
    return out.read_bytes()


MODES = {
    "interp": ExecutionOptions(TierConfig(tier="interp")),
    "wasm64": ExecutionOptions(TierConfig(tier="wasm"), "wasm64"),
    "wasm32": ExecutionOptions(TierConfig(tier="wasm"), "wasm32"),
}
_images: dict[str, tuple] = {}


def run(mode: str, code: bytes) -> dict[str, int]:
    if mode not in _images:
        _images[mode] = create_process_image(64 << 20, MODES[mode])
    space, cpu = _images[mode]
    space.memory.fill(CODE, 0x20000)
    space.memory.write(CODE, code)
    cpu.request_tb_flush()
    s = cpu.state
    for slot in range(st.N_SLOTS):
        s[slot] = 0
    s[st.RES_ADDR] = st.NO_RESERVATION
    s[26] = SCRATCH
    s[8] = SCRATCH + 0x100  # s0, for the compressed forms
    cpu.pc = CODE
    cpu.run()
    regs = {name: s[i] for i, name in enumerate(st.X_NAMES)}
    regs.update({f"f{i}": s[st.F0 + i] for i in range(32)})
    regs["fflags"], regs["frm"] = s[st.FFLAGS], s[st.FRM]
    cause = s[st.EXC_CAUSE]
    regs["trap"] = 0 if cause == Cause.BREAKPOINT else cause
    return regs


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(("name", "asm", "expected"), CASES, ids=[c[0] for c in CASES])
def test_instruction_class(tmp_path: Path, mode: str, name: str, asm: str, expected: dict) -> None:
    regs = run(mode, assemble(tmp_path, asm))
    expected = {"trap": 0, **expected}
    assert {k: regs[k] for k in expected} == expected
