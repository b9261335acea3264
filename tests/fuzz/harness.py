"""Runs one generated case under unicorn (the independent model) and under wasmemu."""

from __future__ import annotations

from dataclasses import dataclass

from rvgen import CODE_BASE, DATA_BASE, DATA_SIZE, S_REGS, Case

from engine.linux_user.execution import ExecutionOptions, create_process_image
from engine.target.riscv import state as st
from engine.target.riscv.cpu import TierConfig
from engine.target.riscv.exceptions import Cause

SPACE = 64 << 20


@dataclass
class Outcome:
    x: list[int]
    f: list[int]
    fcsr: int
    data: bytes
    finished: bool  # reached the final ebreak

    def differences(self, other: Outcome) -> list[str]:
        out = []
        for i in range(32):
            if self.x[i] != other.x[i]:
                out.append(f"x{i}: {self.x[i]:#x} != {other.x[i]:#x}")
        for i in range(32):
            # The reference does not NaN-box singles (f0..f15 hold singles):
            # compare their payload; wasmemu's boxing is checked by its own tests.
            mask = 0xFFFF_FFFF if i in S_REGS else 0xFFFF_FFFF_FFFF_FFFF
            if (self.f[i] ^ other.f[i]) & mask:
                out.append(f"f{i}: {self.f[i]:#x} != {other.f[i]:#x}")
        if self.fcsr != other.fcsr:
            out.append(f"fcsr: {self.fcsr:#x} != {other.fcsr:#x}")
        if self.data != other.data:
            first = next(i for i in range(len(self.data)) if self.data[i] != other.data[i])
            out.append(f"data differs first at {DATA_BASE + first:#x}")
        if self.finished != other.finished:
            out.append(f"finished: {self.finished} != {other.finished}")
        return out


def run_unicorn(case: Case) -> Outcome:
    import unicorn as uc
    from unicorn import riscv_const as rc

    mu = uc.Uc(uc.UC_ARCH_RISCV, uc.UC_MODE_RISCV64)
    mu.mem_map(CODE_BASE, 0x10000)
    mu.mem_map(DATA_BASE, DATA_SIZE)
    mu.mem_write(CODE_BASE, case.code)
    mu.mem_write(DATA_BASE, case.data)
    mu.reg_write(rc.UC_RISCV_REG_MSTATUS, 0x6000)  # FS = dirty: enable the FPU
    for i in range(1, 32):
        mu.reg_write(rc.UC_RISCV_REG_X0 + i, case.x[i])
        mu.reg_write(rc.UC_RISCV_REG_F0 + i if i else rc.UC_RISCV_REG_F0, case.f[i])
    mu.reg_write(rc.UC_RISCV_REG_F0, case.f[0])
    mu.reg_write(rc.UC_RISCV_REG_FRM, case.frm)
    end = CODE_BASE + len(case.code) - 4
    finished = True
    try:
        mu.emu_start(CODE_BASE, end, count=10_000)
    except uc.UcError:
        finished = False
    finished = finished and mu.reg_read(rc.UC_RISCV_REG_PC) == end
    return Outcome(
        x=[0] + [mu.reg_read(rc.UC_RISCV_REG_X0 + i) for i in range(1, 32)],
        f=[mu.reg_read(rc.UC_RISCV_REG_F0 + i) for i in range(32)],
        fcsr=mu.reg_read(rc.UC_RISCV_REG_FFLAGS) | (mu.reg_read(rc.UC_RISCV_REG_FRM) << 5),
        data=bytes(mu.mem_read(DATA_BASE, DATA_SIZE)),
        finished=finished,
    )


TIER_MODES = {
    "interp": ExecutionOptions(TierConfig(tier="interp")),
    "wasm64": ExecutionOptions(TierConfig(tier="wasm"), "wasm64"),
    "wasm32": ExecutionOptions(TierConfig(tier="wasm"), "wasm32"),
}
_machines: dict[str, tuple] = {}


def _machine(mode: str) -> tuple:
    """One address space and hart per mode, reused: creating a Wasm engine is slow."""
    if mode not in _machines:
        _machines[mode] = create_process_image(SPACE, TIER_MODES[mode])
    return _machines[mode]


def run_wasmemu(case: Case, mode: str = "interp") -> Outcome:
    space, cpu = _machine(mode)
    mem = space.memory
    mem.fill(CODE_BASE, 0x10000)
    mem.write(CODE_BASE, case.code)
    mem.write(DATA_BASE, case.data)
    cpu.request_tb_flush()
    s = cpu.state
    for slot in range(st.N_SLOTS):
        s[slot] = 0
    s[st.RES_ADDR] = st.NO_RESERVATION
    for i in range(1, 32):
        s[st.X0 + i] = case.x[i]
    for i in range(32):
        s[st.F0 + i] = case.f[i]
    s[st.FRM] = case.frm
    cpu.pc = CODE_BASE
    cpu.run()
    end = CODE_BASE + len(case.code) - 4
    finished = s[st.EXC_CAUSE] == Cause.BREAKPOINT and cpu.pc == end
    return Outcome(
        x=[s[st.X0 + i] for i in range(32)],
        f=[s[st.F0 + i] for i in range(32)],
        fcsr=s[st.FFLAGS] | (s[st.FRM] << 5),
        data=mem.read(DATA_BASE, DATA_SIZE),
        finished=finished,
    )
