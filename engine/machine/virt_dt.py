"""The device tree QEMU's `-M virt` generates, for one hart and the devices we model.

The nodes, names, compatibles, cell sizes, phandle numbers and interrupt
wiring are those of QEMU's hw/riscv/virt.c (create_fdt and friends) with
`-smp 1`, no AIA, no ACLINT, and boot.c's /chosen properties; only devices
that exist here are described: no PCIe, RTC, flash, fw_cfg, platform bus or
PMU node. The eight virtio-mmio transports are always described, filled or
not, as QEMU does; Linux skips empty ones (device ID 0).

Deliberate details (checked against Debian's qemu-system-riscv64 by tests/hw):
* The CPU node carries `riscv,isa` plus `riscv,isa-base` and
  `riscv,isa-extensions` derived from the same string, as QEMU 8.2+ does
  (QEMU 7.2 writes only `riscv,isa`).
* `riscv,ndev` is 95, the highest source ID (QEMU 8.0+; 7.2 wrote 96).
* linux,initrd-start/end are 64-bit (QEMU 9; 7.2 wrote one cell each).
* rng-seed is 32 random bytes per call, as QEMU; pass `rng_seed` to fix it.
"""

from __future__ import annotations

import os
import re

from engine.hw.fdt import DeviceTree, FdtNode

# QEMU's virt_memmap entries for what this board has. DRAM's size is the
# machine's -m (QEMU's table also says 0 there); mrom holds the reset vector.
VIRT_MEMORY_MAP: dict[str, tuple[int, int]] = {
    "mrom": (0x1000, 0xF000),
    "test": (0x100000, 0x1000),
    "clint": (0x2000000, 0x10000),
    "plic": (0xC000000, 0x600000),
    "uart0": (0x10000000, 0x100),
    "virtio": (0x10001000, 0x1000),
    "dram": (0x80000000, 0x0),
}

UART0_IRQ = 10
VIRTIO_COUNT = 8
VIRTIO_IRQ = 1  # transport i raises PLIC source VIRTIO_IRQ + i
PLIC_NUM_SOURCES = 96
IRQ_S_SOFT, IRQ_M_SOFT, IRQ_S_TIMER, IRQ_M_TIMER, IRQ_S_EXT, IRQ_M_EXT = 1, 3, 5, 7, 9, 11
UART_CLOCK_HZ = 3686400
FINISHER_PASS, FINISHER_RESET = 0x5555, 0x7777
CACHE_BLOCK_SIZE = 64  # QEMU's default cbom/cboz/cbop block size

_ISA = re.compile(r"rv(32|64)([a-z]+)((?:_[a-z][a-z0-9]*)*)")


def isa_extensions(isa: str) -> tuple[str, list[str]]:
    """("rv64i", ["i", "m", ..., "zicsr", ...]) from a canonical riscv,isa string."""
    match = _ISA.fullmatch(isa)
    if not match or match.group(2)[0] not in "ie":
        raise ValueError(f"not a canonical RISC-V ISA string: {isa!r}")
    letters = match.group(2)
    if "g" in letters:
        raise ValueError(f"spell out G in {isa!r} (imafd_zicsr_zifencei), as QEMU does")
    multi = [ext for ext in match.group(3).split("_") if ext]
    return f"rv{match.group(1)}{letters[0]}", list(letters) + multi


def virt_device_tree(
    *,
    ram_base: int = 0x80000000,
    ram_size: int,
    bootargs: str = "",
    initrd: tuple[int, int] | None = None,
    isa: str,
    mmu_type: str = "riscv,sv48",
    timebase_hz: int = 10_000_000,
    rng_seed: bytes | None = None,
) -> bytes:
    """The DTB of QEMU's virt board with one hart.

    `initrd` is (start, end) physical addresses (end exclusive, as in
    linux,initrd-end). `rng_seed` None draws 32 random bytes like QEMU; b""
    leaves the property out.
    """
    if initrd is not None and not initrd[0] < initrd[1]:
        raise ValueError(f"initrd must be (start, end) with start < end, got {initrd}")
    dt = DeviceTree()
    root = dt.root
    root.set_u32("#address-cells", 2)
    root.set_u32("#size-cells", 2)
    root.set_string("compatible", "riscv-virtio")
    root.set_string("model", "riscv-virtio,qemu")

    chosen = root.add_node("chosen")
    poweroff = root.add_node("poweroff")
    reboot = root.add_node("reboot")
    memory = root.add_node(f"memory@{ram_base:x}")
    cpus = root.add_node("cpus")
    soc = root.add_node("soc")

    memory.set_string("device_type", "memory")
    memory.set_cells("reg", _reg(ram_base, ram_size))

    intc = _cpus(dt, cpus, isa, mmu_type, timebase_hz)

    soc.set_u32("#address-cells", 2)
    soc.set_u32("#size-cells", 2)
    soc.set_string("compatible", "simple-bus")
    soc.set_empty("ranges")

    serial = soc.add_node(_at("serial", "uart0"))
    test = soc.add_node(_at("test", "test"))
    # Highest address first, as in QEMU's tree: Linux probes in tree order, so
    # the board's first device (put in the highest slot) becomes /dev/vda.
    slots = reversed(range(VIRTIO_COUNT))
    virtio = [soc.add_node(f"virtio_mmio@{virtio_base(i):x}") for i in slots]
    plic = soc.add_node(_at("plic", "plic"))
    clint = soc.add_node(_at("clint", "clint"))
    # Numbered in QEMU's order: cpu 1, its intc 2 (in _cpus), plic 3, test 4.
    plic_phandle = dt.phandle(plic)
    test_phandle = dt.phandle(test)

    base, size = VIRT_MEMORY_MAP["clint"]
    clint.set_cells("interrupts-extended", [intc, IRQ_M_SOFT, intc, IRQ_M_TIMER])
    clint.set_cells("reg", _reg(base, size))
    clint.set_strings("compatible", ["sifive,clint0", "riscv,clint0"])

    base, size = VIRT_MEMORY_MAP["plic"]
    plic.set_u32("riscv,ndev", PLIC_NUM_SOURCES - 1)
    plic.set_cells("reg", _reg(base, size))
    plic.set_cells("interrupts-extended", [intc, IRQ_M_EXT, intc, IRQ_S_EXT])
    plic.set_empty("interrupt-controller")
    plic.set_strings("compatible", ["sifive,plic-1.0.0", "riscv,plic0"])
    plic.set_u32("#address-cells", 0)
    plic.set_u32("#interrupt-cells", 1)

    base, size = VIRT_MEMORY_MAP["uart0"]
    serial.set_u32("interrupts", UART0_IRQ)
    serial.set_u32("interrupt-parent", plic_phandle)
    serial.set_u32("clock-frequency", UART_CLOCK_HZ)
    serial.set_cells("reg", _reg(base, size))
    serial.set_string("compatible", "ns16550a")

    for node, i in zip(virtio, reversed(range(VIRTIO_COUNT)), strict=True):
        node.set_u32("interrupts", VIRTIO_IRQ + i)
        node.set_u32("interrupt-parent", plic_phandle)
        node.set_cells("reg", _reg(virtio_base(i), VIRT_MEMORY_MAP["virtio"][1]))
        node.set_string("compatible", "virtio,mmio")

    base, size = VIRT_MEMORY_MAP["test"]
    test.set_cells("reg", _reg(base, size))
    test.set_strings("compatible", ["sifive,test1", "sifive,test0", "syscon"])

    for node, compatible, value in (
        (poweroff, "syscon-poweroff", FINISHER_PASS),
        (reboot, "syscon-reboot", FINISHER_RESET),
    ):
        node.set_u32("value", value)
        node.set_u32("offset", 0)
        node.set_u32("regmap", test_phandle)
        node.set_string("compatible", compatible)

    if initrd is not None:
        chosen.set_u64("linux,initrd-end", initrd[1])
        chosen.set_u64("linux,initrd-start", initrd[0])
    if rng_seed is None:
        rng_seed = os.urandom(32)
    if rng_seed:
        chosen.set_bytes("rng-seed", rng_seed)
    if bootargs:
        chosen.set_string("bootargs", bootargs)
    chosen.set_string("stdout-path", f"/soc/{serial.name}")
    return dt.to_dtb()


def _cpus(dt: DeviceTree, cpus: FdtNode, isa: str, mmu_type: str, timebase_hz: int) -> int:
    """/cpus with cpu@0, its interrupt controller and cpu-map; returns the intc phandle."""
    cpus.set_u32("#address-cells", 1)
    cpus.set_u32("#size-cells", 0)
    cpus.set_u32("timebase-frequency", timebase_hz)
    cpu = cpus.add_node("cpu@0")
    cpu_map = cpus.add_node("cpu-map")

    cpu_phandle = dt.phandle(cpu)
    cpu.set_string("device_type", "cpu")
    cpu.set_u32("reg", 0)
    cpu.set_string("status", "okay")
    cpu.set_string("compatible", "riscv")
    base, extensions = isa_extensions(isa)
    for ext, prop in (("zicbop", "cbop"), ("zicboz", "cboz"), ("zicbom", "cbom")):
        if ext in extensions:
            cpu.set_u32(f"riscv,{prop}-block-size", CACHE_BLOCK_SIZE)
    cpu.set_strings("riscv,isa-extensions", extensions)
    cpu.set_string("riscv,isa-base", base)
    cpu.set_string("riscv,isa", isa)
    cpu.set_string("mmu-type", mmu_type)

    intc = cpu.add_node("interrupt-controller")
    intc.set_u32("#interrupt-cells", 1)
    intc.set_empty("interrupt-controller")
    intc.set_string("compatible", "riscv,cpu-intc")
    intc_phandle = dt.phandle(intc)

    cpu_map.add_node("cluster0").add_node("core0").set_u32("cpu", cpu_phandle)
    return intc_phandle


def virtio_base(index: int) -> int:
    """Physical address of virtio-mmio transport `index` (0..7)."""
    base, stride = VIRT_MEMORY_MAP["virtio"]
    return base + index * stride


def _reg(base: int, size: int) -> list[int]:
    return [base >> 32, base & 0xFFFF_FFFF, size >> 32, size & 0xFFFF_FFFF]


def _at(node: str, device: str) -> str:
    return f"{node}@{VIRT_MEMORY_MAP[device][0]:x}"
