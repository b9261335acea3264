"""QEMU's `virt` board with one RV64GC hart: RAM, CLINT, PLIC, UART, test finisher, virtio.

Interrupt wiring as on QEMU: CLINT's MSIP/MTIP and PLIC context 0 drive the
hart's MSIP/MTIP/MEIP, PLIC context 1 drives SEIP, the UART is PLIC source 10,
virtio-mmio transport i (at 0x10001000 + i * 0x1000) is source 1 + i. Devices
fill the transports from the highest down, as QEMU's `-device` does, so the
first drive is the first disk Linux finds (/dev/vda).
The machine loop runs the hart in slices, takes traps and interrupts in
between, polls the console, and sleeps while the hart waits in WFI until the
next timer deadline or console input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.hw.aclint import Clint
from engine.hw.irq import IrqLine
from engine.hw.mmio import MmioBus
from engine.hw.plic import Plic
from engine.hw.sifive_test import KIND_FAIL, KIND_PASS, KIND_RESET, SifiveTest
from engine.hw.uart16550 import Uart16550
from engine.hw.virtio.device import VirtioDevice
from engine.hw.virtio.dma import GuestRam
from engine.hw.virtio.mmio import VirtioMmio
from engine.machine import boot
from engine.machine.pacing import InputPacer
from engine.machine.virt_dt import (
    VIRT_MEMORY_MAP,
    VIRTIO_COUNT,
    VIRTIO_IRQ,
    virt_device_tree,
    virtio_base,
)
from engine.target.riscv import state as st
from engine.target.riscv.cpu import HOST_INTERRUPT, TierConfig
from engine.target.riscv.csr_file import MEI, MSI, MTI, SEI, STI
from engine.target.riscv.softmmu import LinearTlb, SoftMmu
from engine.target.riscv.system_cpu import SystemCpu
from engine.tcache import TranslationCache

ISA = "rv64imafdc_zicsr_zifencei_sstc"
UART_IRQ = 10
SLICE_TBS = 20_000
NS_PER_TICK = 100  # 10 MHz time base
# The translation cache is saved when the guest waits at a prompt with at least
# SAVE_IDLE_RECORDS new records, at most every SAVE_IDLE_SECONDS (counting from
# the start), not only when the run ends: a first boot's translations (about
# 80,000 records) then survive a killed run or a closed browser tab, which never
# reach the end. Saving them takes a second or two. An idle guest still adds a
# few records a minute; those wait for the end rather than each making a segment.
SAVE_IDLE_RECORDS = 1_000
SAVE_IDLE_SECONDS = 30.0


@dataclass
class MachineConfig:
    ram_size: int = 512 << 20
    bios: bytes = b""
    kernel: bytes | None = None
    initrd: bytes | None = None
    append: str = ""
    tier: TierConfig = field(default_factory=TierConfig)
    wasm: str = "wasm64"
    # virtio devices in transport order (the first is /dev/vda if a disk).
    virtio: list[VirtioDevice] = field(default_factory=list)
    # Where translations persist between runs (engine.tcache); None: not at all.
    tcache_dir: str | None = None
    # Called after each save of the translation cache (see SAVE_IDLE_SECONDS).
    tcache_saved: Callable[[], None] | None = None
    # wasm64 with guest RAM in a 64-bit memory of its own, as under Pyodide, where
    # it is the only way; elsewhere for tests of that layout.
    ram_apart: bool = False


# Linear memory of the Wasm tiers: state and TLB low, the TB lookup table, then RAM
# (unless RAM has a memory of its own: MachineConfig.ram_apart).
STATE_BASE = 0x1000
TLB_BASE = 0x10000
TLB_ENTRIES = 256
CODE_BITMAP = 0x20000  # one bit per 4 KiB page of RAM (64 KiB covers 2 GiB)
LOOKUP_BASE = 0x100000  # LOOKUP_BYTES (4 MiB) long
PHYS_LOOKUP_BASE = 0x500000  # the second level, PHYS_BYTES (4 MiB) long
LOOKUP_LOG_BASE = 0x900000  # LOG_BYTES (64 KiB) long
RAM_LINEAR = 0xA00000


class Console:
    """Where the UART's bytes go and host input comes from (a terminal or pipes).

    A paced console's input is not typed by a person but arrives all at once
    (a pipe): the machine hands it to the guest a line at a time, at its
    prompts (engine.machine.pacing).
    """

    paced = False

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def poll(self, timeout: float) -> bytes | None:
        """Input available within `timeout` seconds (b"" if none); None once input has ended."""
        raise NotImplementedError


class VirtMachine:
    def __init__(self, config: MachineConfig, console: Console) -> None:
        self.config = config
        self.console = console
        self.ram_base = VIRT_MEMORY_MAP["dram"][0]
        self.bus = MmioBus()
        self.clint = Clint()
        self.plic = Plic()
        self.pacer = InputPacer()
        self._tcache_saved_at = time.monotonic()
        self.uart = Uart16550(output=self._console_output)
        self.finisher = SifiveTest(self._finish)
        for name, device in (("clint", self.clint), ("plic", self.plic), ("uart0", self.uart),
                             ("test", self.finisher)):  # fmt: skip
            self.bus.map(VIRT_MEMORY_MAP[name][0], device)
        self._create_cpu()
        self._wire(self.clint.msip.connect, MSI)
        self._wire(self.clint.mtip.connect, MTI)
        self._wire(self.plic.context_irq(0).connect, MEI)
        self._wire(self.plic.context_irq(1).connect, SEI)
        self.uart.irq.connect(self.plic.source(UART_IRQ).set)
        self.virtio = self._virtio_transports()
        self.exit_status: int | None = None
        self.reset_requested = False
        self.input_open = True
        self.layout = self._load()

    def _create_cpu(self) -> None:
        cfg = self.config
        self.host: Any = None  # the WebAssembly host, on the Wasm tiers
        self.ram_apart = False  # guest RAM in a Wasm memory of its own (wasm64 under Pyodide)
        if cfg.tier.tier == "interp":
            self.tcache = self._open_tcache()
            self.ram = memoryview(bytearray(cfg.ram_size))
            self.state = memoryview(bytearray(st.STATE_BYTES)).cast("Q")
            self.mmu = SoftMmu(self.state, self.ram, self.ram_base, self.bus)
            self.cpu = SystemCpu(self.state, self.mmu, self.clint.mtime, cfg.tier,
                                 tcache=self.tcache)  # fmt: skip
            return
        from engine.backend.wasm.codegen import Layout, SoftmmuLayout
        from engine.backend.wasm.jit import WasmJit
        from engine.host.choice import create_host

        memory64 = cfg.wasm == "wasm64"
        host = create_host(memory64, compile_threads=True)  # a board never forks
        if cfg.tcache_dir:
            host.cache_modules(cfg.tcache_dir)
        self.host = host
        self.ram_apart = apart = memory64 and (host.ram_apart or cfg.ram_apart)
        ram_pages = (cfg.ram_size + 0xFFFF) >> 16
        memory = host.create_memory((RAM_LINEAR >> 16) + (0 if apart else ram_pages),
                                    memory64 and not apart)  # fmt: skip
        view = host.memory_view(memory)
        # Python works on view offsets; generated code on addresses `base` further on
        # (a heap address under Pyodide, different from run to run: the layout is then
        # relocatable, so modules kept by the translation cache stay valid).
        base = host.memory_address(memory)
        self.tcache = self._open_tcache()
        ram_memory = None
        if apart:
            ram_memory, self.ram = host.create_ram_memory(ram_pages)
            ram_linear, ram_address = 0, 0  # RAM starts memory 1
        else:
            self.ram = view[RAM_LINEAR : RAM_LINEAR + cfg.ram_size]
            ram_linear, ram_address = RAM_LINEAR, base + RAM_LINEAR
        self.state = view[STATE_BASE : STATE_BASE + st.STATE_BYTES].cast("Q")
        tlb = LinearTlb(view, TLB_BASE, TLB_ENTRIES, ram_address, CODE_BITMAP, self.ram_base)
        self.mmu = SoftMmu(self.state, self.ram, self.ram_base, self.bus, tlb)
        layout = Layout(
            memory64=memory64 and not apart, state_base=STATE_BASE, guest_base=0,
            guest_low=0, guest_high=0, pc_slot=st.PC, cause_slot=st.EXC_CAUSE,
            tval_slot=st.EXC_TVAL, budget_slot=st.DISPATCH_BUDGET, epoch_slot=st.LOOKUP_EPOCH,
            lookup_base=LOOKUP_BASE, softmmu=SoftmmuLayout(
                TLB_BASE, TLB_ENTRIES, st.TB_FLAGS, st.EXIT_REQUEST, PHYS_LOOKUP_BASE,
                LOOKUP_LOG_BASE, st.LOOKUP_LOG,
                ram_base=self.ram_base, ram_size=cfg.ram_size, ram_linear=ram_linear,
                code_bitmap=CODE_BITMAP, satp_slot=st.CSR_SLOT["satp"],
                mstatus_slot=st.CSR_SLOT["mstatus"], ram_memory=1 if apart else 0,
                ram_memory64=apart,
            ),
            base=base, relocatable=host.moving_base,
        )  # fmt: skip
        env = _Forward()
        jit = WasmJit(host, memory, layout, env, softmmu=self.mmu,
                      ram_memory=ram_memory)  # fmt: skip
        self.cpu = SystemCpu(self.state, self.mmu, self.clint.mtime, cfg.tier, jit, self.tcache)
        env.target = self.cpu

    def _open_tcache(self) -> TranslationCache | None:
        cfg = self.config
        if not cfg.tcache_dir:
            return None
        tcache = TranslationCache(cfg.tcache_dir)
        tcache.on_write = cfg.tcache_saved
        return tcache

    # -- wiring ------------------------------------------------------------------------
    def _wire(self, connect: Callable[[Callable[[bool], None]], None], bit: int) -> None:
        state, cpu = self.state, self.cpu

        def sink(level: bool) -> None:
            lines = state[st.IRQ_LINES]
            state[st.IRQ_LINES] = lines | bit if level else lines & ~bit
            cpu.request_exit("interrupt line")  # let the machine loop look at interrupts soon

        connect(sink)

    def _virtio_transports(self) -> list[VirtioMmio]:
        devices = self.config.virtio
        if len(devices) > VIRTIO_COUNT:
            raise boot.BootError(f"the virt board has {VIRTIO_COUNT} virtio slots, "
                                 f"{len(devices)} devices were given")  # fmt: skip
        ram = GuestRam(self.ram, self.ram_base, self.mmu.before_ram_write)
        transports = []
        for slot in range(VIRTIO_COUNT):
            k = VIRTIO_COUNT - 1 - slot
            device = devices[k] if k < len(devices) else None
            irq = IrqLine(f"virtio{slot}")
            irq.connect(self.plic.source(VIRTIO_IRQ + slot).set)
            transport = VirtioMmio(f"virtio_mmio@{virtio_base(slot):x}", irq, ram, device)
            self.bus.map(virtio_base(slot), transport)
            transports.append(transport)
        return transports

    def close(self) -> None:
        """Make disk writes durable, release the devices' files, keep new translations."""
        for transport in self.virtio:
            transport.close()
        if self.tcache is not None:
            self.tcache.close()

    def _finish(self, kind: str, status: int) -> None:
        if kind == KIND_RESET:
            self.reset_requested = True
        else:
            self.exit_status = 0 if kind == KIND_PASS else (status or 1) if kind == KIND_FAIL else 1
        self.cpu.request_exit("power")

    # -- boot ---------------------------------------------------------------------------
    def _load(self) -> boot.BootLayout:
        cfg = self.config
        kernel_size = None
        if cfg.kernel is not None:
            kernel_size = boot.kernel_image_size(cfg.kernel, "kernel")
        fdt_guess = 64 << 10  # the tree is a few KiB; reserve room before knowing it exactly
        layout = boot.plan(
            self.ram_base, cfg.ram_size, len(cfg.bios), kernel_size,
            len(cfg.initrd) if cfg.initrd is not None else None, fdt_guess,
        )  # fmt: skip
        fdt = virt_device_tree(
            ram_base=self.ram_base, ram_size=cfg.ram_size, bootargs=cfg.append,
            initrd=layout.initrd, isa=ISA,
        )  # fmt: skip
        self._put(layout.firmware, cfg.bios)
        if cfg.kernel is not None and layout.kernel is not None:
            self._put(layout.kernel, cfg.kernel)
        if cfg.initrd is not None and layout.initrd is not None:
            self._put(layout.initrd[0], cfg.initrd)
        self._put(layout.fdt, fdt)
        self._put(layout.fw_dynamic_info, boot.fw_dynamic_info(layout.kernel or 0))
        s = self.state
        s[st.PC] = layout.firmware
        s[10] = 0  # a0: hart id
        s[11] = layout.fdt
        s[12] = layout.fw_dynamic_info
        return layout

    def _put(self, addr: int, data: bytes) -> None:
        off = addr - self.ram_base
        self.ram[off : off + len(data)] = data

    # -- running -------------------------------------------------------------------------
    def run(self) -> int:
        """Run until the guest powers off; returns the exit status."""
        cpu, state = self.cpu, self.state
        while self.exit_status is None:
            if self.reset_requested:
                self._reset()
            self._poll_console(0.0)
            self._update_timers()
            if cpu.waiting:
                if cpu.interrupt_pending():
                    cpu.waiting = False
                else:
                    self._sleep()
                    continue
            cpu.check_interrupts()
            cpu.run(SLICE_TBS)
            cause = state[st.EXC_CAUSE]
            if cause != HOST_INTERRUPT:
                cpu.take_trap(cause, state[st.EXC_TVAL], state[st.PC])
        return self.exit_status

    def _sleep(self) -> None:
        """WFI: wait for the next timer deadline (CLINT or Sstc) or console input."""
        if self.pacer.at_prompt and self._guest_waits_for_input():
            self._save_translations_when_due()
        deadlines = [self.clint.next_deadline_ns()]
        csrs = self.cpu.csrs
        if csrs.get("menvcfg") >> 63:
            deadlines.append(self.clint.deadline_ns(csrs.get("stimecmp")))
        now = time.monotonic_ns()
        upcoming = [d for d in deadlines if d is not None]
        timeout = max(0.0, (min(upcoming) - now) / 1e9) if upcoming else 1.0
        self._poll_console(min(timeout, 1.0))
        self._update_timers()

    def _save_translations_when_due(self) -> None:
        tcache = self.tcache
        now = time.monotonic()
        if tcache is None or tcache.unsaved < SAVE_IDLE_RECORDS:
            return
        if now - self._tcache_saved_at < SAVE_IDLE_SECONDS:
            return
        tcache.save()
        self._tcache_saved_at = time.monotonic()
        self.pacer.host_paused(self._tcache_saved_at - now)

    def _update_timers(self) -> None:
        """Bring the timer interrupt levels up to date (they depend on the time).

        Sstc's supervisor timer goes into the lines word too, so generated
        code enabling interrupts sees it pending."""
        self.clint.update()
        csrs, state = self.cpu.csrs, self.state
        lines = state[st.IRQ_LINES] & ~STI
        if csrs.get("menvcfg") >> 63 and csrs.stip():
            lines |= STI
        state[st.IRQ_LINES] = lines

    def _poll_console(self, timeout: float) -> None:
        if self.input_open:
            data = self.console.poll(timeout)
            if data is None:
                self.input_open = False
            elif data and self.console.paced:
                self.pacer.hold(data)
            elif data:
                self.uart.receive(data)
        elif timeout:
            time.sleep(timeout)
        if self.pacer.held:
            line = self.pacer.next_line(self._guest_waits_for_input())
            if line:
                self.uart.receive(line)

    def _console_output(self, data: bytes) -> None:
        self.pacer.saw_output(data)
        self.console.write(data)

    def _guest_waits_for_input(self) -> bool:
        """Idle in WFI with the UART's receive interrupt on and nothing unread."""
        return self.cpu.waiting and bool(self.uart.ier & 1) and not self.uart.pending_input()

    def _reset(self) -> None:
        self.reset_requested = False
        self.ram[:] = bytes(len(self.ram))
        self.cpu.flush_tlb()
        for slot in range(st.N_SLOTS):
            self.state[slot] = 0
        self.cpu.csrs.reset()
        self.cpu.discard_all_tbs()
        self.cpu.flush_tlb()
        self.clint.reset()
        self.plic.reset()
        self.uart.reset()
        for transport in self.virtio:
            transport.reset()
        self.layout = self._load()
        self.cpu.refresh_flags()


class _Forward:
    """Helpers' env, created before the hart it forwards to."""

    target: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)
