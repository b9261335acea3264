"""A minimal virtio-mmio driver, written from the spec, for testing devices without a guest.

It does what Linux's virtio_mmio and virtio_ring do, through the transport's
registers and a bytearray standing in for guest RAM: reset, feature
negotiation, queue setup, descriptor chains (direct or indirect), the
available ring, and reading completions from the used ring. Tests can also
write raw descriptors to play a hostile driver.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from engine.hw.irq import IrqLine
from engine.hw.virtio import mmio as regs
from engine.hw.virtio.device import F_EVENT_IDX, F_INDIRECT_DESC, F_VERSION_1, VirtioDevice
from engine.hw.virtio.dma import GuestRam
from engine.hw.virtio.mmio import VirtioMmio

RAM_BASE = 0x8000_0000
RAM_SIZE = 4 << 20
QUEUE_SIZE = 16
DESC, AVAIL, USED = 0x1000, 0x2000, 0x3000  # per-queue ring offsets from the queue's area
HEAP = 0x10_0000  # where buffers are allocated


@dataclass
class Buffer:
    addr: int
    length: int
    writable: bool


class MiniDriver:
    def __init__(self, device: VirtioDevice | None, features: int | None = None) -> None:
        self.memory = bytearray(RAM_SIZE)
        self.writes: list[tuple[int, int]] = []  # DMA writes seen, as (first page, last page)
        self.ram = GuestRam(memoryview(self.memory), RAM_BASE,
                            lambda first, last: self.writes.append((first, last)))  # fmt: skip
        self.irq = IrqLine("test")
        self.transport = VirtioMmio("virtio-test", self.irq, self.ram, device)
        self.heap = HEAP
        self.avail_idx: dict[int, int] = {}
        self.used_seen: dict[int, int] = {}
        self.features = features

    # -- registers -----------------------------------------------------------------------
    def r(self, offset: int) -> int:
        return self.transport.read(offset, 4)

    def w(self, offset: int, value: int) -> None:
        self.transport.write(offset, 4, value)

    def device_features(self) -> int:
        self.w(regs.DEVICE_FEATURES_SEL, 0)
        low = self.r(regs.DEVICE_FEATURES)
        self.w(regs.DEVICE_FEATURES_SEL, 1)
        return low | self.r(regs.DEVICE_FEATURES) << 32

    def initialize(self) -> int:
        """The driver side of virtio 1.x 3.1.1; returns the negotiated features."""
        self.w(regs.STATUS, 0)
        self.w(regs.STATUS, 1)  # ACKNOWLEDGE
        self.w(regs.STATUS, 3)  # DRIVER
        offered = self.device_features()
        wanted = offered if self.features is None else self.features
        for sel in (0, 1):
            self.w(regs.DRIVER_FEATURES_SEL, sel)
            self.w(regs.DRIVER_FEATURES, (wanted >> (32 * sel)) & 0xFFFF_FFFF)
        self.w(regs.STATUS, 3 | regs.STATUS_FEATURES_OK)
        if not self.r(regs.STATUS) & regs.STATUS_FEATURES_OK:
            return -1
        device = self.transport.device
        for q in range(device.num_queues if device else 0):
            self.setup_queue(q)
        self.w(regs.STATUS, 3 | regs.STATUS_FEATURES_OK | 4)  # DRIVER_OK
        return wanted

    def area(self, q: int) -> int:
        return RAM_BASE + 0x10000 * (q + 1)

    def setup_queue(self, q: int, size: int = QUEUE_SIZE) -> None:
        self.w(regs.QUEUE_SEL, q)
        assert self.r(regs.QUEUE_NUM_MAX) >= size
        self.w(regs.QUEUE_NUM, size)
        base = self.area(q)
        for low, offset in ((regs.QUEUE_DESC_LOW, DESC), (regs.QUEUE_DRIVER_LOW, AVAIL),
                            (regs.QUEUE_DEVICE_LOW, USED)):  # fmt: skip
            self.w(low, (base + offset) & 0xFFFF_FFFF)
            self.w(low + 4, (base + offset) >> 32)
        self.w(regs.QUEUE_READY, 1)
        self.avail_idx[q] = 0
        self.used_seen[q] = 0

    # -- guest memory ----------------------------------------------------------------------
    def alloc(self, data: bytes | int, writable: bool = False) -> Buffer:
        length = data if isinstance(data, int) else len(data)
        addr = self.heap
        self.heap += (length + 15) & ~15
        if not isinstance(data, int):
            self.put(RAM_BASE + addr, data)
        return Buffer(RAM_BASE + addr, length, writable)

    def put(self, addr: int, data: bytes) -> None:
        self.memory[addr - RAM_BASE : addr - RAM_BASE + len(data)] = data

    def get(self, addr: int, length: int) -> bytes:
        return bytes(self.memory[addr - RAM_BASE : addr - RAM_BASE + length])

    def desc(self, q: int, index: int, addr: int, length: int, flags: int, nxt: int) -> None:
        self.put(self.area(q) + DESC + 16 * index, struct.pack("<QIHH", addr, length, flags, nxt))

    # -- requests ---------------------------------------------------------------------------
    def submit(self, q: int, buffers: list[Buffer], *, indirect: bool = False,
               head: int = 0, notify: bool = True) -> int:  # fmt: skip
        """Put one chain in descriptors head.. (or an indirect table) and make it available."""
        if indirect:
            table = self.alloc(16 * len(buffers))
            for i, b in enumerate(buffers):
                last = i == len(buffers) - 1
                flags = (0 if last else 1) | (2 if b.writable else 0)
                entry = struct.pack("<QIHH", b.addr, b.length, flags, 0 if last else i + 1)
                self.put(table.addr + 16 * i, entry)
            self.desc(q, head, table.addr, table.length, 4, 0)
        else:
            for i, b in enumerate(buffers):
                last = i == len(buffers) - 1
                flags = (0 if last else 1) | (2 if b.writable else 0)
                self.desc(q, head + i, b.addr, b.length, flags, 0 if last else head + i + 1)
        self.make_available(q, head, notify)
        return head

    def make_available(self, q: int, head: int, notify: bool = True) -> None:
        idx = self.avail_idx[q]
        avail = self.area(q) + AVAIL
        self.put(avail + 4 + 2 * (idx % QUEUE_SIZE), struct.pack("<H", head))
        self.avail_idx[q] = idx = (idx + 1) & 0xFFFF
        self.put(avail + 2, struct.pack("<H", idx))
        if notify:
            self.w(regs.QUEUE_NOTIFY, q)

    def completions(self, q: int) -> list[tuple[int, int]]:
        """(head, written length) for each chain the device returned since last asked."""
        used = self.area(q) + USED
        (idx,) = struct.unpack("<H", self.get(used + 2, 2))
        out = []
        while self.used_seen[q] != idx:
            slot = self.used_seen[q] % QUEUE_SIZE
            out.append(struct.unpack("<II", self.get(used + 4 + 8 * slot, 8)))
            self.used_seen[q] = (self.used_seen[q] + 1) & 0xFFFF
        return out

    def ack_interrupt(self) -> int:
        status = self.r(regs.INTERRUPT_STATUS)
        self.w(regs.INTERRUPT_ACK, status)
        return status

    def set_used_event(self, q: int, value: int) -> None:
        self.put(self.area(q) + AVAIL + 4 + 2 * QUEUE_SIZE, struct.pack("<H", value))


ALL_TRANSPORT = F_VERSION_1 | F_INDIRECT_DESC | F_EVENT_IDX
