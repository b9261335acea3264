"""The machine- and supervisor-level CSRs of one RV64GC hart (privileged spec 1.12).

Storage lives in the hart state (engine/target/riscv/state.py), so generated
code and snapshots see the same values; this module gives CSR accesses their
meaning: privilege and read-only checks, WARL legalisation, the S-level views
of mstatus/mie/mip, the counters, Sstc's stimecmp and the PMP registers.
Illegal accesses raise the illegal-instruction exception.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.target.riscv import state as st
from engine.target.riscv.exceptions import Cause, GuestException

M64 = 0xFFFF_FFFF_FFFF_FFFF
PRV_U, PRV_S, PRV_M = 0, 1, 3

# mstatus fields
SIE, MIE, SPIE, MPIE, SPP = 1 << 1, 1 << 3, 1 << 5, 1 << 7, 1 << 8
MPP_SHIFT, MPP = 11, 3 << 11
FS_SHIFT, FS = 13, 3 << 13
MPRV, SUM, MXR, TVM, TW, TSR = 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22
UXL, SXL, SD = 2 << 32, 2 << 34, 1 << 63
MSTATUS_WRITABLE = SIE | MIE | SPIE | MPIE | SPP | MPP | FS | MPRV | SUM | MXR | TVM | TW | TSR
SSTATUS_MASK = SIE | SPIE | SPP | FS | SUM | MXR | UXL | SD

# interrupt bits (mip/mie)
SSI, MSI, STI, MTI, SEI, MEI = 1 << 1, 1 << 3, 1 << 5, 1 << 7, 1 << 9, 1 << 11
S_INTERRUPTS = SSI | STI | SEI
ALL_INTERRUPTS = S_INTERRUPTS | MSI | MTI | MEI
# Bits of mip that software may write (the others are driven by devices or by Sstc).
MIP_WRITABLE = SSI | STI | SEI

MISA = (2 << 62) | sum(1 << (ord(c) - ord("A")) for c in "IMAFDCSU")
# Exceptions that may be delegated to S-mode (all synchronous causes but ecall from M).
MEDELEG_WRITABLE = 0xB3FF
MENVCFG_STCE = 1 << 63
SATP_MODES = {0, 8, 9}  # bare, Sv39, Sv48
SATP_ASID_SHIFT = 44
SATP_WRITABLE = (0xF << 60) | (0xFFFF << SATP_ASID_SHIFT) | ((1 << 44) - 1)


ASID_MASK = 0xFFFF  # 16 ASID bits (ASIDLEN = 16)


def satp_asid(satp: int) -> int:
    return (satp >> SATP_ASID_SHIFT) & ASID_MASK


CSR_NUMBERS = {
    0x300: "mstatus", 0x302: "medeleg", 0x303: "mideleg", 0x304: "mie", 0x305: "mtvec",
    0x306: "mcounteren", 0x30A: "menvcfg", 0x340: "mscratch", 0x341: "mepc",
    0x342: "mcause", 0x343: "mtval", 0x344: "mip", 0x105: "stvec", 0x106: "scounteren",
    0x10A: "senvcfg", 0x140: "sscratch", 0x141: "sepc", 0x142: "scause", 0x143: "stval",
    0x180: "satp", 0x14D: "stimecmp", 0x320: "mcountinhibit", 0x747: "mseccfg",
}  # fmt: skip
FFLAGS, FRM, FCSR = 0x001, 0x002, 0x003
CYCLE, TIME, INSTRET = 0xC00, 0xC01, 0xC02


def illegal() -> GuestException:
    return GuestException(Cause.ILLEGAL_INSTRUCTION)


class CsrFile:
    """CSR semantics over the hart state. `time()` gives the 10 MHz time counter."""

    def __init__(self, state: memoryview, time: Callable[[], int]) -> None:
        self.s = state
        self.time = time
        # Called after a write that may change interrupts, translation or the MMU.
        self.on_change: Callable[[str], None] = lambda name: None

    def reset(self) -> None:
        s = self.s
        for slot in range(st.PRIV, st.N_SLOTS):
            s[slot] = 0
        s[st.PRIV] = PRV_M
        s[st.CSR_SLOT["mstatus"]] = UXL | SXL
        s[st.CSR_SLOT["stimecmp"]] = M64

    # -- helpers ------------------------------------------------------------------
    def get(self, name: str) -> int:
        return self.s[st.CSR_SLOT[name]]

    def put(self, name: str, value: int) -> None:
        self.s[st.CSR_SLOT[name]] = value & M64

    def mstatus(self) -> int:
        v = self.get("mstatus")
        return v | SD if (v & FS) == FS else v & ~SD

    def stip(self) -> bool:
        """Sstc: the supervisor timer interrupt is pending while time >= stimecmp."""
        return bool(self.get("menvcfg") & MENVCFG_STCE) and self.time() >= self.get("stimecmp")

    def mip(self) -> int:
        v = self.get("mip") | self.s[st.IRQ_LINES]
        if self.get("menvcfg") & MENVCFG_STCE:
            v = (v & ~STI) | (STI if self.stip() else 0)
        return v

    # -- access checks ------------------------------------------------------------
    def _check_privilege(self, csr: int, priv: int, writes: bool) -> None:
        if (csr >> 8) & 3 > priv:
            raise illegal()
        if writes and csr >> 10 == 3:
            raise illegal()  # read-only CSR

    def _counter_allowed(self, index: int, priv: int) -> bool:
        if priv == PRV_M:
            return True
        if not self.get("mcounteren") >> index & 1:
            return False
        return priv == PRV_S or bool(self.get("scounteren") >> index & 1)

    # -- read ---------------------------------------------------------------------------
    def read(self, csr: int, priv: int, instret: int) -> int:
        self._check_privilege(csr, priv, False)
        s = self.s
        if csr in (FFLAGS, FRM, FCSR):
            if not self.get("mstatus") & FS:
                raise illegal()
            if csr == FFLAGS:
                return s[st.FFLAGS]
            if csr == FRM:
                return s[st.FRM]
            return (s[st.FRM] << 5) | s[st.FFLAGS]
        if 0xC00 <= csr <= 0xC1F:
            index = csr - 0xC00
            if not self._counter_allowed(index, priv):
                raise illegal()
            if csr == TIME:
                return self.time()
            return instret if csr in (CYCLE, INSTRET) else 0
        if csr in (0xB00, 0xB02):  # mcycle, minstret
            return instret
        if 0xB03 <= csr <= 0xB1F or 0x323 <= csr <= 0x33F:  # hpm counters and events
            return 0
        if csr == 0x301:
            return MISA
        if csr in (0xF11, 0xF12, 0xF13, 0xF14, 0xF15):  # vendor, arch, impl, hart id, config
            return 0
        if csr == 0x300:
            return self.mstatus()
        if csr == 0x100:
            return self.mstatus() & SSTATUS_MASK
        if csr == 0x344:
            return self.mip()
        if csr == 0x104:
            return self.get("mie") & self.get("mideleg")
        if csr == 0x144:
            return self.mip() & self.get("mideleg")
        if csr == 0x180:
            if priv == PRV_S and self.get("mstatus") & TVM:
                raise illegal()
            return self.get("satp")
        if csr == 0x14D:
            self._check_stimecmp(priv)
            return self.get("stimecmp")
        if 0x3A0 <= csr <= 0x3AF:
            if csr & 1:
                raise illegal()  # odd pmpcfg registers do not exist on RV64
            return s[st.PMPCFG_BASE + (csr - 0x3A0) // 2]
        if 0x3B0 <= csr <= 0x3EF:
            return s[st.PMPADDR_BASE + csr - 0x3B0]
        name = CSR_NUMBERS.get(csr)
        if name is None:
            raise illegal()
        return self.get(name)

    def _check_stimecmp(self, priv: int) -> None:
        if priv == PRV_S and not self.get("menvcfg") & MENVCFG_STCE:
            raise illegal()
        if priv == PRV_S and not self.get("mcounteren") & 2:
            raise illegal()  # Sstc: S-mode access also needs mcounteren.TM

    # -- write ----------------------------------------------------------------------
    def write(self, csr: int, value: int, priv: int) -> None:
        self._check_privilege(csr, priv, True)
        s = self.s
        value &= M64
        if csr in (FFLAGS, FRM, FCSR):
            if not self.get("mstatus") & FS:
                raise illegal()
            if csr in (FFLAGS, FCSR):
                s[st.FFLAGS] = value & 0x1F
            if csr == FRM:
                s[st.FRM] = value & 7
            elif csr == FCSR:
                s[st.FRM] = (value >> 5) & 7
            self.put("mstatus", self.get("mstatus") | FS)
            return
        if csr == 0x300:
            self._write_mstatus(value, MSTATUS_WRITABLE)
        elif csr == 0x100:
            self._write_mstatus(value, SSTATUS_MASK & MSTATUS_WRITABLE)
        elif csr == 0x344:
            self.put("mip", (self.get("mip") & ~MIP_WRITABLE) | (value & MIP_WRITABLE))
            self.on_change("mip")
        elif csr == 0x144:
            mask = SSI & self.get("mideleg")
            self.put("mip", (self.get("mip") & ~mask) | (value & mask))
            self.on_change("mip")
        elif csr == 0x304:
            self.put("mie", value & ALL_INTERRUPTS)
            self.on_change("mie")
        elif csr == 0x104:
            mask = self.get("mideleg")
            self.put("mie", (self.get("mie") & ~mask) | (value & mask))
            self.on_change("mie")
        elif csr == 0x303:
            self.put("mideleg", value & S_INTERRUPTS)
            self.on_change("mideleg")
        elif csr == 0x302:
            self.put("medeleg", value & MEDELEG_WRITABLE)
        elif csr in (0x305, 0x105):  # mtvec/stvec: direct or vectored, aligned base
            mode = value & 3
            name = "mtvec" if csr == 0x305 else "stvec"
            self.put(name, value & ~3 | (mode if mode < 2 else 0))
        elif csr in (0x341, 0x141):  # xepc: IALIGN=16 clears bit 0
            self.put("mepc" if csr == 0x341 else "sepc", value & ~1)
        elif csr == 0x180:
            if priv == PRV_S and self.get("mstatus") & TVM:
                raise illegal()
            mode = value >> 60
            if mode in SATP_MODES:
                # 16 ASID bits: Linux then tags address spaces instead of flushing
                # everything at each context switch.
                self.put("satp", value & SATP_WRITABLE)
                self.on_change("satp")
        elif csr == 0x30A:
            self.put("menvcfg", value & (MENVCFG_STCE | 0xF1))
            self.on_change("menvcfg")
        elif csr == 0x10A:
            self.put("senvcfg", value & 0xF1)
        elif csr == 0x14D:
            self._check_stimecmp(priv)
            self.put("stimecmp", value)
            self.on_change("stimecmp")
        elif csr in (0x306, 0x106):
            self.put("mcounteren" if csr == 0x306 else "scounteren", value & 0xFFFF_FFFF)
        elif 0x3A0 <= csr <= 0x3AF:
            if csr & 1:
                raise illegal()
            s[st.PMPCFG_BASE + (csr - 0x3A0) // 2] = self._legal_pmpcfg(value)
        elif 0x3B0 <= csr <= 0x3EF:
            s[st.PMPADDR_BASE + csr - 0x3B0] = value & ((1 << 54) - 1)
        elif csr in (0xB00, 0xB02) or 0xB03 <= csr <= 0xB1F or 0x323 <= csr <= 0x33F:
            pass  # counters and events: writes are accepted and ignored
        elif csr in (0x301, 0x340, 0x342, 0x343, 0x140, 0x142, 0x143, 0x320, 0x747):
            if csr == 0x301:
                return  # misa is read-only here (WARL)
            name = CSR_NUMBERS[csr]
            self.put(name, value)
        else:
            raise illegal()

    def _write_mstatus(self, value: int, mask: int) -> None:
        old = self.get("mstatus")
        new = (old & ~mask) | (value & mask)
        if (new & MPP) == (2 << MPP_SHIFT):
            new = (new & ~MPP) | (old & MPP)  # MPP=2 is reserved: keep the old value
        self.put("mstatus", new | UXL | SXL)
        self.on_change("mstatus")

    @staticmethod
    def _legal_pmpcfg(value: int) -> int:
        # Each byte: R/W/X/A/L; W without R is reserved and reads back without W.
        out = 0
        for k in range(8):
            b = (value >> (8 * k)) & 0x9F
            if b & 2 and not b & 1:
                b &= ~2
            out |= b << (8 * k)
        return out
