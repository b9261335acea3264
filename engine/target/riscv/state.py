"""Layout of the RISC-V hart state in memory, and the IR globals that name it.

Every field is an 8-byte little-endian slot, so the state is one array of u64:
Python views it as memoryview('Q'), generated Wasm addresses it with constant
offsets, and helpers read and write the same bytes.
"""

from __future__ import annotations

from engine.ir.builder import make_global
from engine.ir.core import Temp

# Slot indices (multiply by 8 for byte offsets).
X0 = 0  # x0..x31 occupy slots 0..31; slot 0 always holds zero
PC = 32
F0 = 33  # f0..f31 occupy slots 33..64, raw 64-bit (NaN-boxed singles)
FFLAGS = 65
FRM = 66
INSTRET = 67  # retired instructions (also reported as cycle)
RES_ADDR = 68  # LR reservation address, or NO_RESERVATION
EXC_CAUSE = 69  # synchronous trap being reported to the host (mcause encoding)
EXC_TVAL = 70
RES_VALUE = 71  # the value LR loaded (sign-extended for .w)

# System mode: the privilege level, then the CSRs that have storage.
PRIV = 72  # 0 U, 1 S, 3 M
IRQ_LINES = 73  # interrupt-pending bits driven by devices (MSIP, MTIP, MEIP, SEIP)
EXIT_REQUEST = 74  # nonzero: the host wants the hart to stop at the next block boundary
# The flags the current privilege and mstatus imply (translate.tb_flags) and the
# ASID: the context TBs are looked up under. The host sets it on every privilege
# or CSR change it handles; generated code too, when it writes sstatus inline.
TB_FLAGS = 75
# The Wasm dispatcher's TB budget, in memory so that a TB looping on itself counts too.
DISPATCH_BUDGET = 76
# Bumped by the host whenever it drops compiled-block lookup entries: a TB looping on
# itself stops when it changes, as its own entry may be among the dropped.
LOOKUP_EPOCH = 77
# How many first-level lookup entries generated code has filled and logged since the
# host last read the log (engine/backend/wasm/physical.py).
LOOKUP_LOG = 78
CSR_BASE = 80
CSR_NAMES = (
    "mstatus medeleg mideleg mie mtvec mcounteren menvcfg mscratch mepc mcause mtval mip "
    "stvec scounteren senvcfg sscratch sepc scause stval satp stimecmp mcountinhibit mseccfg"
).split()
CSR_SLOT = {name: CSR_BASE + i for i, name in enumerate(CSR_NAMES)}
PMPCFG_BASE = CSR_BASE + 32  # pmpcfg0, 2, ..., 14 (RV64 has only the even ones)
PMPADDR_BASE = PMPCFG_BASE + 8  # pmpaddr0..63
N_SLOTS = PMPADDR_BASE + 64

NO_RESERVATION = 0xFFFF_FFFF_FFFF_FFFF
STATE_BYTES = N_SLOTS * 8

X_NAMES = (
    "zero ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 "
    "s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 t3 t4 t5 t6"
).split()


class Globals:
    """IR globals for the hart state; one instance is shared by all translations."""

    def __init__(self) -> None:
        self.x: list[Temp] = [make_global(X_NAMES[i], (X0 + i) * 8) for i in range(32)]
        self.f: list[Temp] = [make_global(f"f{i}", (F0 + i) * 8) for i in range(32)]
        self.pc = make_global("pc", PC * 8)
        self.fflags = make_global("fflags", FFLAGS * 8)
        self.frm = make_global("frm", FRM * 8)
        self.instret = make_global("instret", INSTRET * 8)
        self.res_addr = make_global("res_addr", RES_ADDR * 8)
        self.res_value = make_global("res_value", RES_VALUE * 8)
        self.exc_cause = make_global("exc_cause", EXC_CAUSE * 8)
        self.exc_tval = make_global("exc_tval", EXC_TVAL * 8)
        self.mstatus = make_global("mstatus", CSR_SLOT["mstatus"] * 8)
        self.irq_lines = make_global("irq_lines", IRQ_LINES * 8)
        self.exit_request = make_global("exit_request", EXIT_REQUEST * 8)
        self.tb_flags = make_global("tb_flags", TB_FLAGS * 8)
        self.csr: dict[str, Temp] = {
            name: make_global(name, slot * 8) for name, slot in CSR_SLOT.items()
        }


GLOBALS = Globals()
