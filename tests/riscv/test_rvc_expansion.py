"""Every RV64C instruction expands to the 32-bit instruction GNU as encodes for the same text.

The assembler is the oracle: each line is assembled once with compression
forced on and once with it off, and the expansion of the first must be the second.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from engine.target.riscv.decode import expand_compressed, insn_length

AS = shutil.which("riscv64-linux-gnu-as")
OBJCOPY = shutil.which("riscv64-linux-gnu-objcopy")
pytestmark = pytest.mark.skipif(not (AS and OBJCOPY), reason="riscv64 binutils not installed")

LINES = [
    "addi a0, sp, 1020", "addi s1, sp, 4",  # c.addi4spn
    "fld fa0, 248(a1)", "lw a2, 124(a3)", "ld a4, 248(a5)",
    "fsd fs0, 8(s1)", "sw a0, 64(a1)", "sd s0, 0(a5)",
    "addi a0, a0, -32", "addi t6, t6, 31", "addiw a1, a1, -1", "addiw ra, ra, 17",
    "li a0, -32", "li t0, 31", "addi sp, sp, -512", "addi sp, sp, 496",
    "lui a5, 0x1f", "lui s0, 0xfffe0",
    "srli a0, a0, 63", "srai s1, s1, 1", "andi a2, a2, -1", "andi a3, a3, 0",
    "sub a0, a0, a1", "xor s0, s0, s1", "or a4, a4, a5", "and a2, a2, a3",
    "subw a0, a0, a5", "addw s1, s1, a2",
    "slli t0, t0, 63", "slli a1, a1, 1",
    "fld ft0, 504(sp)", "lw ra, 252(sp)", "ld s11, 504(sp)",
    "jr ra", "jalr t0", "add a0, zero, a1", "add s0, s0, t6", "ebreak",
    "fsd fs11, 504(sp)", "sw t6, 252(sp)", "sd ra, 0(sp)",
]  # fmt: skip
# Control transfers have pc-relative immediates; check them by encoding too.
BRANCH_LINES = ["j .+2046", "j .-2048", "beqz a0, .+254", "bnez s1, .-256"]


def assemble(tmp: Path, lines: list[str], compressed: bool) -> bytes:
    src = tmp / f"{'c' if compressed else 'n'}.s"
    body = "\n".join(f"{line}\n.balign 4" for line in lines)
    src.write_text(f".option {'rvc' if compressed else 'norvc'}\n.text\n{body}\n")
    obj, binary = tmp / "x.o", tmp / "x.bin"
    subprocess.run([AS, "-march=rv64gc", "-o", obj, src], check=True)
    subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", obj, binary], check=True)
    return binary.read_bytes()


@pytest.mark.parametrize("lines", [LINES, BRANCH_LINES], ids=["ops", "branches"])
def test_expansion_matches_the_assembler(tmp_path: Path, lines: list[str]) -> None:
    packed = assemble(tmp_path, lines, compressed=True)
    full = assemble(tmp_path, lines, compressed=False)
    for k, line in enumerate(lines):
        half = int.from_bytes(packed[4 * k : 4 * k + 2], "little")
        word = int.from_bytes(full[4 * k : 4 * k + 4], "little")
        assert insn_length(half) == 2, f"{line}: the assembler did not compress it"
        assert expand_compressed(half) == word, f"{line}: {half:#06x} -> {expand_compressed(half)}"


@pytest.mark.parametrize(
    "half",
    [0x0000, 0x2001 & ~(31 << 7), 0x6001 | (5 << 7), 0x4002, 0x6002, 0x8002, 0x9C41 | (1 << 12)],
    ids=[
        "all-zero",
        "c.addiw-x0",
        "c.lui-zero-imm",
        "c.lwsp-x0",
        "c.ldsp-x0",
        "c.jr-x0",
        "reserved-op",
    ],
)
def test_reserved_encodings_are_illegal(half: int) -> None:
    assert expand_compressed(half) is None
