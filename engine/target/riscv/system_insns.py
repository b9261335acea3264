"""System-mode translation of CSR accesses, xRET, WFI and SFENCE.VMA.

Each is a call to a helper that works on the hart (`env`, a SystemCpu), after
which the TB ends: a CSR write can change the privilege, the MMU context,
interrupt enables or FP enablement, all of which later code was translated
under, and the returns and fences change the pc or the address space.
"""

from __future__ import annotations

from engine.ir.core import Exit, Helper, HelperFlags, Type
from engine.target.riscv import decode as d
from engine.target.riscv.translate import Ctx

_SIDE = HelperFlags.READS_STATE | HelperFlags.WRITES_STATE | HelperFlags.MAY_RAISE
MRET, SRET, WFI = 0x30200073, 0x10200073, 0x10500073


def _csr(env: object, insn: int, src: int) -> int:
    return env.csr_instruction(insn, src)  # type: ignore[attr-defined]


def _mret(env: object, insn: int) -> None:
    env.xret(insn)  # type: ignore[attr-defined]


def _wfi(env: object) -> None:
    env.wait_for_interrupt()  # type: ignore[attr-defined]


def _sfence(env: object, vaddr: int, whole: int) -> None:
    env.sfence_vma(vaddr, bool(whole))  # type: ignore[attr-defined]


CSR_HELPER = Helper("csr", _csr, (Type.I64, Type.I64), Type.I64, _SIDE)
XRET_HELPER = Helper("xret", _mret, (Type.I64,), None, _SIDE)
WFI_HELPER = Helper("wfi", _wfi, (), None, _SIDE)
SFENCE_HELPER = Helper("sfence_vma", _sfence, (Type.I64, Type.I64), None, _SIDE)


def translate_csr(c: Ctx) -> None:
    i = c.insn
    src_field = d.rs1(i)
    # The immediate forms carry their operand in the rs1 field.
    src = src_field if d.funct3(i) & 4 else c.gpr(src_field)
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
        # rs1 = x0 flushes every address; otherwise only the page holding rs1.
        b.call(SFENCE_HELPER, c.gpr(d.rs1(i)), int(d.rs1(i) == 0))
        c.goto(c.next_pc)
    else:
        return c.illegal()
    c.ended = True
