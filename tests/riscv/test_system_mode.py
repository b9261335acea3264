"""The system-mode hart on bare metal: traps, delegation, xRET, Sv39 translation with A/D.

Programs are assembled and linked at 0x80000000 and start in M-mode; a
program ends by an ecall from M-mode, which stops the harness. Other
exceptions go through the hart's own trap entry, as on a board.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from engine.target.riscv import state as st
from engine.target.riscv.cpu import HOST_INTERRUPT
from engine.target.riscv.exceptions import Cause
from engine.target.riscv.softmmu import SoftMmu
from engine.target.riscv.system_cpu import SystemCpu
from tests.relocated_host import machines_placed_at

TOOLS = [shutil.which(f"riscv64-linux-gnu-{t}") for t in ("as", "ld", "objcopy")]
pytestmark = pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
RAM = 0x80000000


class NoDevices:
    def read(self, addr: int, size: int) -> int:
        raise KeyError(addr)

    def write(self, addr: int, size: int, value: int) -> None:
        raise KeyError(addr)


def build(tmp: Path, source: str) -> bytes:
    asm, obj, elf, out = (tmp / n for n in ("p.S", "p.o", "p.elf", "p.bin"))
    asm.write_text(".option norvc\n.text\n.globl _start\n_start:\n" + source)
    as_, ld, objcopy = TOOLS
    subprocess.run([as_, "-march=rv64gc", "-o", obj, asm], check=True)
    subprocess.run([ld, "-Ttext=0x80000000", "-o", elf, obj], check=True)
    subprocess.run([objcopy, "-O", "binary", elf, out], check=True)
    return out.read_bytes()


# The two modes as they run under Pyodide, natively: the state, TLB and lookup table
# are a region at an address of a larger memory (Pyodide's heap) that generated code
# reads at run time. "wasm64-apart" also keeps guest RAM in a 64-bit memory of its
# own; "wasm32-moved" has RAM in the region, after the rest.
MODES = ["interp", "wasm64", "wasm32", "wasm64-apart", "wasm32-moved"]
PYODIDE_LIKE_OFFSET = 0x30000


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def run(code: bytes, mode: str = "interp", max_steps: int = 10_000) -> tuple[SystemCpu, memoryview]:
    if mode == "interp":
        ram = memoryview(bytearray(1 << 20))
        ram[: len(code)] = code
        state = memoryview(bytearray(st.STATE_BYTES)).cast("Q")
        cpu = SystemCpu(state, SoftMmu(state, ram, RAM, NoDevices()), time=lambda: 0)
    else:
        # The board's Wasm memory layout, softmmu and dispatcher; every block compiled.
        from engine.machine.virt import MachineConfig, VirtMachine
        from engine.target.riscv.cpu import TierConfig

        config = MachineConfig(ram_size=64 << 20, bios=code, tier=TierConfig(tier="wasm"),
                               wasm=mode.split("-")[0],
                               ram_apart=mode.endswith("-apart"))  # fmt: skip
        from engine.machine.console import PipeConsole

        if "-" in mode:
            with machines_placed_at(PYODIDE_LIKE_OFFSET):
                machine = VirtMachine(config, PipeConsole())
        else:
            machine = VirtMachine(config, PipeConsole())
        cpu, state, ram = machine.cpu, machine.state, machine.ram
    run_until_ecall(cpu, max_steps)
    return cpu, ram


def run_until_ecall(cpu: SystemCpu, max_steps: int = 10_000) -> None:
    """Run from RAM's start, taking traps, until the program's ecall from M-mode."""
    state = cpu.state
    state[st.PC] = RAM
    for _ in range(max_steps):
        cpu.run(1000)
        cause = state[st.EXC_CAUSE]
        if cause == HOST_INTERRUPT:
            cpu.check_interrupts()
            continue
        if cause == Cause.ECALL_M:
            return
        cpu.take_trap(cause, state[st.EXC_TVAL], state[st.PC])
    raise AssertionError("the program did not finish")


def u64(ram: memoryview, paddr: int) -> int:
    return struct.unpack_from("<Q", ram, paddr - RAM)[0]


# mret into S-mode at label `smode` (clobbers t4, t5).
INTO_S_MODE = """
    li t4, 1 << 11
    csrs mstatus, t4
    la t5, smode
    csrw mepc, t5
    mret
smode:
"""


def sv39_into_s_mode(alias_flags: int) -> str:
    """Assembly: Sv39 on with the root table at 0x80002000, whose entry 2 maps the
    gigapage at 0x80000000 to itself (supervisor RWX, A and D set) and entry 1
    aliases it at VA 0x40000000 with PTE flags `alias_flags`; then mret into
    S-mode at label `smode` (clobbers t1-t5)."""
    return (
        f"""
    li t1, 0x80002000
    li t2, (0x80000 << 10) | 0xCF
    sd t2, 16(t1)
    li t2, (0x80000 << 10) | {alias_flags:#x}
    sd t2, 8(t1)
    li t3, (8 << 60) | 0x80002
    csrw satp, t3
"""
        + INTO_S_MODE
    )


# The alias is RW without A/D, so the walker must set them.
SV39_PROGRAM = (
    """
    la t0, mtrap
    csrw mtvec, t0
"""
    + sv39_into_s_mode(0x07)
    + """\
    li a0, 0x40001000
    li a1, 1234
    sd a1, 0(a0)
    li a2, 0x80001000
    ld a3, 0(a2)
    li a4, 0x12345678000
    ld a5, 0(a4)
    ecall
mtrap:
    csrr s0, mcause
    csrr s1, mtval
    csrr s2, mepc
    li t0, 9
    beq s0, t0, done
    li t1, 0x80001100
    sd s0, 0(t1)
    sd s1, 8(t1)
    addi s2, s2, 4
    csrw mepc, s2
    mret
done:
    li t1, 0x80001100
    sd s0, 16(t1)
    csrr t2, mstatus
    sd t2, 24(t1)
    ecall
"""
)


def test_sv39_translation_faults_and_traps(tmp_path: Path, mode: str) -> None:
    cpu, ram = run(build(tmp_path, SV39_PROGRAM), mode)
    s = cpu.state
    assert u64(ram, 0x80001000) == 1234  # stored through the alias
    assert s[13] == 1234  # a3: read back through the identity mapping
    assert u64(ram, 0x80001100) == Cause.LOAD_PAGE_FAULT
    assert u64(ram, 0x80001108) == 0x12345678000  # mtval = the faulting address
    assert u64(ram, 0x80001110) == Cause.ECALL_S
    assert (u64(ram, 0x80001118) >> 11) & 3 == 1  # MPP: the ecall came from S-mode
    alias_pte = u64(ram, 0x80002008)
    assert alias_pte & 0xC0 == 0xC0  # the walker set A and D


DELEGATION_PROGRAM = """
    la t0, mtrap
    csrw mtvec, t0
    la t0, strap
    csrw stvec, t0
    li t0, 1 << 2          # delegate illegal-instruction exceptions to S
    csrw medeleg, t0
    li t0, 1 << 11
    csrs mstatus, t0
    la t0, smode
    csrw mepc, t0
    mret
smode:
    li s3, 1
    .word 0xffffffff       # illegal: goes to S-mode's handler
    li s4, 2
    ecall                  # from S: not delegated, goes to M
strap:
    csrr s5, scause
    csrr s6, sepc
    csrr s7, stval
    addi s6, s6, 4
    csrw sepc, s6
    sret
mtrap:
    csrr s8, mcause
    ecall
"""


def registers(cpu: SystemCpu) -> dict[str, int]:
    """The integer registers by ABI name ("s3", "t0", ...)."""
    return {name: cpu.state[i] for i, name in enumerate(st.X_NAMES)}


def test_delegated_exception_goes_to_s_mode_and_sret_returns(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, DELEGATION_PROGRAM), mode)
    x = registers(cpu)
    assert x["s3"] == 1 and x["s4"] == 2
    assert x["s5"] == Cause.ILLEGAL_INSTRUCTION
    assert x["s7"] == 0xFFFFFFFF  # stval holds the instruction bits
    assert x["s8"] == Cause.ECALL_S


INTERRUPT_PROGRAM = """
    la t0, mtrap
    csrw mtvec, t0
    li t0, 1 << 1
    csrw mideleg, t0        # supervisor software interrupts go to S
    csrw mie, t0            # enable SSIE
    la t0, strap
    csrw stvec, t0
    li t0, 1 << 11
    csrs mstatus, t0
    la t0, smode
    csrw mepc, t0
    mret
smode:
    csrsi sstatus, 2        # SIE
    li s3, 7
    csrsi sip, 2            # raise SSIP: taken at once
    li s4, 8
    csrr s6, sstatus        # after the handler's sret: SIE must be back on
    ecall
strap:
    csrr s5, scause
    csrci sip, 2
    sret
mtrap:
    ecall
"""


def test_supervisor_software_interrupt_is_taken_and_returns(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, INTERRUPT_PROGRAM), mode)
    x = registers(cpu)
    assert x["s3"] == 7 and x["s4"] == 8
    assert x["s5"] == (1 << 63) | 1  # interrupt bit and cause SSI
    assert x["s6"] & 2, "sret must restore SIE from SPIE"


SSTATUS_PROGRAM = """
    la t0, mtrap
    csrw mtvec, t0
    li t0, 1 << 11
    csrs mstatus, t0
    la t0, smode
    csrw mepc, t0
    mret
smode:
    csrsi sstatus, 2        # quiet bit: stays in generated code
    csrrci s3, sstatus, 2   # old value has SIE
    csrr s4, sstatus        # SIE now clear
    li t1, 1 << 18
    csrs sstatus, t1        # SUM: changes the TB flags, in generated code too
    li t1, 1 << 19
    csrs sstatus, t1        # MXR: flushes the TLB, goes through the helper
    csrr s5, sstatus
    li t2, 0x1234
    csrrw s6, sscratch, t2  # plain storage CSRs
    csrr s7, sscratch
    li t3, 0x80001233
    csrw sepc, t3
    csrr s8, sepc           # bit 0 of sepc is always clear
    li t4, 3 << 13
    csrs sstatus, t4        # FS dirty: SD reads as set
    csrr s9, sstatus
    ecall
mtrap:
    ecall
"""


def test_sstatus_and_storage_csrs(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, SSTATUS_PROGRAM), mode)
    x = registers(cpu)
    assert x["s3"] & 2 and not x["s4"] & 2
    assert x["s5"] & (1 << 18) and x["s5"] & (1 << 19)
    assert (x["s6"], x["s7"]) == (0, 0x1234)
    assert x["s8"] == 0x80001232
    assert x["s9"] >> 63 == 1 and (x["s9"] >> 13) & 3 == 3


def logging_trap_handler(first: str = "") -> str:
    """M-mode's `mtrap`: an ecall from U- or S-mode ends the program; any other trap
    is logged as (mcause, mtval) from s10 on and the trapping instruction skipped.
    `first` runs before that with the cause in t6; it may `j skip`."""
    return f"""
mtrap:
    csrr t6, mcause
{first}
    li t5, 8
    beq t6, t5, done
    li t5, 9
    beq t6, t5, done
    sd t6, 0(s10)
    csrr t5, mtval
    sd t5, 8(s10)
    addi s10, s10, 16
skip:
    csrr t5, mepc
    addi t5, t5, 4
    csrw mepc, t5
    mret
done:
    ecall
"""


# S-mode touches a user page (VA 0x40000000, U=1) with SUM clear, set and clear
# again, by csrs/csrc and by csrw of a saved sstatus, and uses the FPU with FS
# off and on: generated code makes these writes itself and must leave every
# following block running under the new MMU context and FP enablement.
SUM_FS_PROGRAM = (
    """
    la t0, mtrap
    csrw mtvec, t0
    li s10, 0x80001100      # the trap log
    li t1, 0x80001000
    li t2, 4321
    sd t2, 0(t1)
"""
    + sv39_into_s_mode(0xD7)
    + """\
    li a0, 0x40001000
    li t1, 1 << 18
    ld s1, 0(a0)            # SUM clear: load page fault
    csrs sstatus, t1
    ld s2, 0(a0)            # SUM set: reads 4321
    csrc sstatus, t1
    ld s3, 0(a0)            # cleared: faults again
    csrr s7, sstatus
    or t2, s7, t1
    csrw sstatus, t2        # SUM by a full write
    ld s4, 0(a0)
    csrw sstatus, s7        # and back
    ld s5, 0(a0)            # faults
    li a1, 0x1122334455667788
    fmv.d.x ft0, a1         # FS off: illegal instruction
    li t3, 1 << 13
    csrs sstatus, t3        # FS initial
    fmv.d.x ft0, a1
    fmv.x.d s6, ft0
    csrr s8, sstatus        # FS dirty now
    li t3, (3 << 13) | (3 << 9)
    csrc sstatus, t3        # FS and VS, as Linux's kernel entry does (no V here)
    fmv.d.x ft1, a1         # off again: illegal
    ecall
"""
    + logging_trap_handler()
)


def test_sum_and_fs_written_in_generated_code_take_effect_at_once(
    tmp_path: Path, mode: str
) -> None:
    cpu, ram = run(build(tmp_path, SUM_FS_PROGRAM), mode)
    x = registers(cpu)
    assert (x["s1"], x["s2"], x["s3"], x["s4"], x["s5"]) == (0, 4321, 0, 4321, 0)
    assert x["s6"] == 0x1122334455667788
    assert not x["s7"] & (1 << 18)
    assert (x["s8"] >> 13) & 3 == 3 and x["s8"] >> 63 == 1
    traps = [u64(ram, 0x80001100 + 16 * k) for k in range(5)]
    load_fault, illegal = Cause.LOAD_PAGE_FAULT, Cause.ILLEGAL_INSTRUCTION
    assert traps == [load_fault, load_fault, load_fault, illegal, illegal]
    if mode != "interp":  # only M-mode's `csrs mstatus` (MPP) went back to the host
        assert cpu.stats.exit_causes["halt: mstatus written"] == 1


# rdtime in M-mode, then in S-mode while mcounteren.TM is clear (illegal) and
# set (M-mode sets it on S-mode's ebreak), then in U-mode with scounteren.TM
# clear (illegal).
RDTIME_PROGRAM = (
    """
    la t0, mtrap
    csrw mtvec, t0
    li s10, 0x80001100
    rdtime s1
    csrw mcounteren, zero
    csrw scounteren, zero
"""
    + INTO_S_MODE
    + """\
    rdtime s4               # TM clear in mcounteren: illegal
    ebreak                  # M-mode sets mcounteren.TM
    rdtime s2
    la t0, umode
    csrw sepc, t0
    li t1, 1 << 8
    csrc sstatus, t1        # SPP = U
    sret
umode:
    rdtime s3               # TM clear in scounteren: illegal
    ecall
"""
    + logging_trap_handler(
        """
    li t5, 3                # S-mode's ebreak: set mcounteren.TM
    bne t6, t5, 1f
    li t5, 2
    csrw mcounteren, t5
    j skip
1:"""
    )
)


def csrrs(rd: int, csr: int) -> int:
    """The bits of `csrrs rd, csr, x0` (csrr, rdtime)."""
    return csr << 20 | 2 << 12 | rd << 7 | 0x73


def test_rdtime_honours_the_counter_enables_and_reads_the_clock(tmp_path: Path, mode: str) -> None:
    cpu, ram = run(build(tmp_path, RDTIME_PROGRAM), mode)
    x = registers(cpu)
    log = [u64(ram, 0x80001100 + 8 * k) for k in range(4)]
    s4, s3 = st.X_NAMES.index("s4"), st.X_NAMES.index("s3")
    illegal = Cause.ILLEGAL_INSTRUCTION
    assert log == [illegal, csrrs(s4, 0xC01), illegal, csrrs(s3, 0xC01)]
    assert x["s4"] == 0 and x["s3"] == 0
    assert x["s2"] >= x["s1"]  # the interpreter harness's clock stands at 0
    if mode != "interp":
        assert x["s2"] > 0
        assert cpu.stats.host_calls["read_time"] == 2  # M's and S's; the faulting ones never ran


# One block after the jump: a0 is used often enough to live in a Wasm local (and
# is no constant the optimizer could fold); the doubleword at
# 0x80001ffc crosses a page, so both accesses take the host's slow path.
SLOW_PATH_PROGRAM = """
    li s2, 0x80001ffc
    li t0, 0x1122334455667788
    li a0, 5
    li s5, 1
    j 1f
1:
    add a0, a0, s5
    xor a0, a0, s6
    sd t0, 0(s2)
    add a0, a0, s5
    ld a1, 0(s2)
    add a0, a0, s5
    add a2, a1, a0
    ecall
"""


def test_registers_held_in_locals_survive_the_slow_paths(tmp_path: Path, mode: str) -> None:
    """The host's slow path never writes a guest register, so generated code does
    not reload them after it: values written before and after both stay exact."""
    cpu, ram = run(build(tmp_path, SLOW_PATH_PROGRAM), mode)
    x = registers(cpu)
    assert u64(ram, 0x80001FFC) == 0x1122334455667788
    assert (x["a0"], x["a1"], x["a2"]) == (8, 0x1122334455667788, 0x1122334455667788 + 8)
    if mode != "interp":
        assert cpu.stats.host_calls["slow_store"] == 1 and cpu.stats.host_calls["slow_load"] == 1


# a0 is written in a local (as above), then a load faults in the host's slow path (nothing
# is mapped at address 8): the trap handler must find a0 in the state.
FAULT_IN_SLOW_PATH_PROGRAM = """
    la t0, mtrap
    csrw mtvec, t0
    li a0, 5
    li s5, 1
    li s2, 8
    j 1f
1:
    add a0, a0, s5
    xor a0, a0, s6
    add a0, a0, s5
    ld a1, 0(s2)
    ecall
mtrap:
    mv s3, a0
    csrr s4, mcause
    ecall
"""


def test_a_fault_in_the_slow_path_sees_the_registers_written_before_it(
    tmp_path: Path, mode: str
) -> None:
    cpu, _ram = run(build(tmp_path, FAULT_IN_SLOW_PATH_PROGRAM), mode)
    x = registers(cpu)
    assert x["s4"] == Cause.LOAD_ACCESS_FAULT
    assert x["s3"] == 7


def defined_functions(wasm: bytes) -> int:
    """How many functions a module defines: its function section's count."""
    pos = 8
    while pos < len(wasm):
        section, pos = wasm[pos], pos + 1
        size, pos = leb(wasm, pos)
        if section == 3:
            return leb(wasm, pos)[0]
        pos += size
    return 0


def leb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte, pos = data[pos], pos + 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def test_a_module_has_one_tlb_miss_function_per_kind_of_access() -> None:
    """Every guest access inlines only the TLB hit; its miss path (the Wasm walk,
    then the host) is a function of the module, shared by the accesses of its kind."""
    from engine.ir.builder import Builder
    from engine.ir.core import MemOp
    from engine.machine.console import PipeConsole
    from engine.machine.virt import MachineConfig, VirtMachine
    from engine.target.riscv.cpu import TierConfig
    from engine.target.riscv.state import GLOBALS as G

    config = MachineConfig(ram_size=16 << 20, bios=b"\x73\x00\x00\x00",
                           tier=TierConfig(tier="wasm"))  # fmt: skip
    jit = VirtMachine(config, PipeConsole()).cpu.jit
    blocks = []
    for pc in (RAM, RAM + 0x100):
        b = Builder(pc)
        for r in range(5, 11):
            b.mov(G.x[r], b.load(G.x[r], MemOp.SIZE_64))  # six loads of one kind
        b.store(G.x[5], G.x[6], MemOp.SIZE_32)
        b.store(G.x[7], G.x[8], MemOp.SIZE_32)
        b.goto_tb(pc + 4)
        blocks.append(b.block)
    wasm, _helpers = jit.build_module(blocks)
    support = 4  # the three high multiplies and the chain function
    assert defined_functions(wasm) == support + len(blocks) + 2  # a load miss, a store miss


def test_device_writes_to_translated_code_discard_it() -> None:
    """DMA (a disk read landing on code) must drop translations like a store by the hart."""
    ram = memoryview(bytearray(1 << 20))
    state = memoryview(bytearray(st.STATE_BYTES)).cast("Q")
    mmu = SoftMmu(state, ram, RAM, NoDevices())
    discarded: list[int] = []
    mmu.on_code_write = discarded.append
    code_page = (RAM >> 12) + 1
    mmu.mark_code_page(code_page)
    mmu.before_ram_write(RAM >> 12, (RAM >> 12) + 3)
    assert discarded == [code_page]


def test_code_bytes_come_from_a_page_copy_that_writes_to_the_page_drop() -> None:
    """The translation cache compares blocks with a copy of their code page, taken
    once the page is write-tracked; a store by the hart or a device's DMA drops it."""
    ram = memoryview(bytearray(1 << 20))
    state = memoryview(bytearray(st.STATE_BYTES)).cast("Q")
    mmu = SoftMmu(state, ram, RAM, NoDevices())
    cpu = SystemCpu(state, mmu, time=lambda: 0)
    block = RAM + 0x1010
    ram[0x1010:0x1014] = b"\x13\x05\x10\x00"
    assert cpu._code_bytes(block, 4) == b"\x13\x05\x10\x00"
    assert not cpu.code_snapshots  # not write-tracked yet: read directly
    mmu.mark_code_page(block >> 12)
    assert cpu._code_bytes(block, 4) == b"\x13\x05\x10\x00"
    assert list(cpu.code_snapshots) == [block >> 12]
    mmu.phys_write(block, 4, 0x00200513)  # the hart's store
    assert cpu._code_bytes(block, 4) == b"\x13\x05\x20\x00"
    mmu.mark_code_page(block >> 12)
    assert cpu._code_bytes(block, 4) == b"\x13\x05\x20\x00"
    mmu.before_ram_write(block >> 12, block >> 12)  # a device's DMA
    ram[0x1010:0x1014] = b"\x13\x05\x30\x00"
    assert cpu._code_bytes(block, 4) == b"\x13\x05\x30\x00"
    assert cpu._code_bytes(RAM + 0xFFE, 4) is None  # crosses a page: never a block


def test_every_return_to_python_is_counted_by_cause(tmp_path: Path) -> None:
    """--stats says why generated code returned to Python and which helpers it called."""
    cpu, _ram = run(build(tmp_path, SSTATUS_PROGRAM), "wasm64")
    causes = cpu.stats.exit_causes
    assert sum(causes.values()) == cpu.stats.exits
    assert causes["exception"] >= 1  # the closing ecall
    assert causes["halt: mstatus written"] >= 1  # csrs sstatus (MXR) through the helper
    assert causes["halt: xret"] == 1  # the mret into S-mode
    assert cpu.stats.host_calls["csr"] >= 2 and cpu.stats.host_calls["xret"] == 1
    counters = cpu.stats.as_dict()
    assert counters["exit_causes"] == dict(causes) and counters["host_calls"]["xret"] == 1


def test_time_in_generated_code_is_counted_apart(tmp_path: Path) -> None:
    """--stats tells time in Wasm (blocks and the helpers they call) from the host's."""
    code = build(tmp_path, SSTATUS_PROGRAM)
    compiled, _ram = run(code, "wasm64")
    interpreted, _ram = run(code, "interp")
    assert compiled.stats.as_dict()["wasm_seconds"] > 0
    assert interpreted.stats.as_dict()["wasm_seconds"] == 0


def poke(address: int, value: int, offset: int = 0) -> str:
    """Assembly that stores the doubleword `value` at `address + offset` (clobbers t1, t2)."""
    return f"    li t1, {address:#x}\n    li t2, {value:#x}\n    sd t2, {offset}(t1)\n"


def pte(ppn: int, flags: int) -> int:
    return ppn << 10 | flags


def address_space(root: int, l1: int, l0: int, code_ppn: int, flags: int) -> str:
    """Sv39 tables at root, l1, l0: a global identity gigapage at 0x80000000 (the
    program), and VA 0x40000000 mapped to physical page code_ppn with `flags`."""
    return (
        poke(root, pte(0x80000, GLOBAL_RWX), 16)
        + poke(root, pte(l1 >> 12, NON_LEAF), 8)
        + poke(l1, pte(l0 >> 12, NON_LEAF))
        + poke(l0, pte(code_ppn, flags))
    )


NON_LEAF, CODE_PAGE, GLOBAL_CODE_PAGE, GLOBAL_RWX = 0x01, 0xCB, 0xEB, 0xEF
RETURN_1, RETURN_2, RETURN_3 = (0x0000806700000513 | n << 20 for n in (1, 2, 3))  # li a0, n; ret
# Set the trap vector; enter S-mode at `smode` (after satp is set); the M-mode trap
# handler records its cause in s8 and ends the program.
MTRAP_VECTOR = "    la t0, mtrap\n    csrw mtvec, t0\n"
ENTER_S_MODE = """
    li t4, 1 << 11
    csrs mstatus, t4
    la t5, smode
    csrw mepc, t5
    mret
"""
MTRAP = """
mtrap:
    csrr s8, mcause
    ecall
"""


def s_mode_program(spaces: list[tuple[int, int]], code: dict[int, int], body: str) -> str:
    """A program that builds Sv39 address spaces, one per (physical page number, PTE
    flags) in `spaces` (at most two: roots 0x80002000 and 0x80003000), each mapping
    the global identity gigapage at 0x80000000 (the program) and VA 0x40000000 to
    that page; stores each doubleword of `code` at its physical address; and runs
    `body` in S-mode under the first space as ASID 1, with s3 = 0x40000000."""
    tables = ""
    for k, (ppn, flags) in enumerate(spaces):
        root, l1, l0 = (0x80002000 + k * 0x1000, 0x80004000 + k * 0x1000, 0x80006000 + k * 0x1000)
        tables += address_space(root, l1, l0, ppn, flags)
    return (
        MTRAP_VECTOR
        + tables
        + "".join(poke(address, value) for address, value in code.items())
        + """
    fence.i
    li t3, (8 << 60) | (1 << 44) | 0x80002
    csrw satp, t3
"""
        + ENTER_S_MODE
        + "smode:\n    li s3, 0x40000000\n"
        + body
        + MTRAP
    )


# Two address spaces map the page at VA 0x40000000 to different code: 0x80010000
# (returns 1) under ASID 1, 0x80090000 (returns 2) under ASID 2. The two are
# 512 KiB apart, so they share a set of the second-level lookup
# (engine/backend/wasm/physical.py), where only their physical addresses tell
# them apart.
ASID_PROGRAM = s_mode_program(
    [(0x80010, CODE_PAGE), (0x80090, CODE_PAGE)],
    {0x80010000: RETURN_1, 0x80090000: RETURN_2},
    """
    li s9, 3
again:                      # switch back and forth without sfence.vma, as Linux does with ASIDs
    jalr s3
    add s4, s4, a0
    li t3, (8 << 60) | (2 << 44) | 0x80003
    csrw satp, t3
    jalr s3
    add s5, s5, a0
    li t3, (8 << 60) | (1 << 44) | 0x80002
    csrw satp, t3
    addi s9, s9, -1
    bnez s9, again
    csrr s7, satp
    ecall
""",
)


def test_address_spaces_are_told_apart_by_asid(tmp_path: Path, mode: str) -> None:
    """The same virtual pc runs each address space's own code after a satp switch, with
    no sfence.vma in between (the dispatcher's entries are tagged with their ASID)."""
    from engine.backend.wasm.physical import physical_set

    assert physical_set(0x10000, 0) == physical_set(0x90000, 0), "the codes share a set"
    cpu, _ram = run(build(tmp_path, ASID_PROGRAM), mode)
    x = registers(cpu)
    assert x["s8"] == Cause.ECALL_S
    assert (x["s4"], x["s5"]) == (3 * 1, 3 * 2)
    assert (x["s7"] >> 44) & 0xFFFF == 1, "satp keeps a 16-bit ASID"


SFENCE_ASID_PROGRAM = ASID_PROGRAM.replace(
    "    csrr s7, satp\n",
    """
    # ASID 1 is current, and its code at VA 0x40000000 runs once more so the
    # dispatcher's entry for that pc is ASID 1's. Point the VA at new code
    # (returns 3), then fence that address space alone, as Linux does after a
    # large munmap.
    jalr s3
    mv s10, a0
"""
    + poke(0x80012000, RETURN_3)
    + "    fence.i\n"
    + poke(0x80006000, pte(0x80012, CODE_PAGE))
    + """
    li t0, 1
    sfence.vma x0, t0
    jalr s3
    mv s6, a0
    csrr s7, satp
""",
)


def test_sfence_of_one_address_space_sees_its_new_mappings(tmp_path: Path, mode: str) -> None:
    cpu, _ram = run(build(tmp_path, SFENCE_ASID_PROGRAM), mode)
    x = registers(cpu)
    assert x["s8"] == Cause.ECALL_S
    assert x["s10"] == 1
    assert x["s6"] == 3, "code reached through the remapped page must be the new code"


def lookup_contexts(cpu: SystemCpu, only_pc: int | None = None) -> Counter[int]:
    """The context words of the dispatcher's valid lookup entries (for one pc if given)."""
    from engine.backend.wasm.jit import INVALID_PC, LOOKUP_ENTRIES, LOOKUP_ENTRY_BYTES

    jit = cpu.jit
    found: Counter[int] = Counter()
    for k in range(LOOKUP_ENTRIES):
        pc, _slot, context = struct.unpack_from(
            "<QII", jit.view, jit.lookup_base + k * LOOKUP_ENTRY_BYTES
        )
        if pc != INVALID_PC and only_pc in (None, pc):
            found[context] += 1
    return found


@pytest.mark.parametrize("mode", ["wasm64", "wasm32"])
def test_sfence_of_one_address_space_keeps_global_and_other_entries(
    tmp_path: Path, mode: str
) -> None:
    from engine.backend.wasm.jit import LOOKUP_ASID_SHIFT, LOOKUP_GLOBAL

    cpu, _ram = run(build(tmp_path, ASID_PROGRAM), mode)
    before = lookup_contexts(cpu)
    asid = {c: c >> LOOKUP_ASID_SHIFT for c in before if not c & LOOKUP_GLOBAL}
    assert sorted(set(asid.values())) == [1, 2] and any(c & LOOKUP_GLOBAL for c in before)
    cpu.sfence_vma(0, 1, 3)  # sfence.vma x0, rs2 holding 1 (the program ended in M-mode)
    after = lookup_contexts(cpu)
    assert after == Counter({c: n for c, n in before.items() if asid.get(c) != 1})


# A global identity gigapage at 0x80000000 (this program), and a global 4 KiB page
# at VA 0x40000000 holding code at 0x80010000 (returns 1).
FULL_SFENCE_PROGRAM = (
    MTRAP_VECTOR
    + address_space(0x80002000, 0x80004000, 0x80006000, 0x80010, GLOBAL_CODE_PAGE)
    + poke(0x80010000, RETURN_1)
    + poke(0x80012000, RETURN_3)
    + """
    fence.i
    li t3, (8 << 60) | 0x80002
    csrw satp, t3
"""
    + ENTER_S_MODE
    + """
smode:
    li s3, 0x40000000
    li s9, 20
again:                      # fence everything each round, as Linux does after it
    jalr s3                 # changes the kernel's own mappings
    add s4, s4, a0
    sfence.vma
    addi s9, s9, -1
    bnez s9, again
"""
    + poke(0x80006000, pte(0x80012, GLOBAL_CODE_PAGE))  # the page now maps the other code
    + """
    sfence.vma
    jalr s3
    mv s5, a0
    ecall
"""
    + MTRAP
)


def test_a_full_sfence_keeps_the_entries_of_global_code_that_did_not_move(
    tmp_path: Path, mode: str
) -> None:
    cpu, _ram = run(build(tmp_path, FULL_SFENCE_PROGRAM), mode)
    x = registers(cpu)
    assert x["s8"] == Cause.ECALL_S
    assert x["s4"] == 20
    assert x["s5"] == 3, "code reached through the remapped global page must be the new code"
    if mode != "interp":
        # Each round's blocks are found again in Wasm after its fence, in the kept
        # first-level entries or by physical address (physical.py), never by the host.
        assert cpu.stats.exit_causes["lookup miss: compiled"] < 20


# Loops of one block run inside their Wasm function (engine.backend.wasm.codegen
# loop_back); these programs check that they stop where the dispatcher would.
SELF_PATCHING_LOOP_PROGRAM = """
    la t3, step
    lw t2, 0(t3)
    li t0, 0xFFFFF
    and t2, t2, t0
    li t0, 16 << 20
    or t2, t2, t0           # the same addi with immediate 16
    li s0, 0
    li s1, 40
    j loop                  # so that a block starts at the loop
loop:
step:
    addi s0, s0, 1          # overwritten by the first round
    sw t2, 0(t3)            # no fence.i: it would end the block (and the loop of one)
    blt s0, s1, loop
    ecall
"""


def test_a_loop_that_rewrites_its_own_code_runs_the_new_code(tmp_path: Path, mode: str) -> None:
    """Like QEMU, wasmemu drops translations when a store hits their code, so the
    new code runs from the next round on even without the fence.i RISC-V asks for."""
    cpu, _ram = run(build(tmp_path, SELF_PATCHING_LOOP_PROGRAM), mode)
    assert registers(cpu)["s0"] == 1 + 16 * 3  # 1, 17, 33, 49: new code from round two


MMIO_INTERRUPT_LOOP_PROGRAM = """
    la t0, mtrap
    csrw mtvec, t0
    li t0, 1 << 3
    csrw mie, t0            # MSIE
    csrsi mstatus, 8        # MIE
    li t1, 0x2000000        # the CLINT's msip for hart 0
    li t2, 1
    li s0, 0
    j loop                  # so that a block starts at the loop
loop:
    addi s0, s0, 1
    sw t2, 0(t1)            # raise MSIP: taken before the next round
    j loop
mtrap:
    csrr s1, mcause
    ecall
"""


@pytest.mark.parametrize(
    "mode", ["wasm64", "wasm32", "wasm64-apart", "wasm32-moved"]
)  # the board's CLINT
def test_an_interrupt_raised_inside_a_loop_is_taken_before_the_next_round(
    tmp_path: Path, mode: str
) -> None:
    cpu, _ram = run(build(tmp_path, MMIO_INTERRUPT_LOOP_PROGRAM), mode)
    x = registers(cpu)
    assert x["s1"] == (1 << 63) | 3  # machine software interrupt
    assert x["s0"] == 1
