"""The virtio-mmio transport, version 2 (virtio 1.x, 4.2), as on QEMU's virt board.

One 0x200-byte register window (mapped in a 0x1000 slot) per transport; a
slot without a device reads DeviceID 0, which the driver skips, as QEMU's
empty transports do. Queue work happens synchronously inside the QueueNotify
write: the hart is stopped in a host exit there anyway, and the device reads
and writes guest RAM directly, so a request costs one exit.

A driver that breaks the rules (a malformed descriptor chain, rings outside
RAM) sets DEVICE_NEEDS_RESET and a configuration-change interrupt (virtio
1.x, 2.1.2): the device stops serving queues until the driver resets it,
and the emulator goes on running. Register accesses other than 32-bit ones
are ignored (reads give 0) as on QEMU; config space takes 1, 2, 4 and 8.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.hw.irq import IrqLine
from engine.hw.virtio.device import (
    F_EVENT_IDX,
    F_INDIRECT_DESC,
    F_VERSION_1,
    TRANSPORT_FEATURES,
    VirtioDevice,
)
from engine.hw.virtio.dma import DmaError, GuestRam
from engine.hw.virtio.queue import Virtqueue, VirtqueueError

log = logging.getLogger(__name__)

MAGIC = 0x74726976  # "virt"
VENDOR_QEMU = 0x554D4551  # "QEMU": drivers key quirks off it, so say what QEMU says

MAGIC_VALUE, VERSION, DEVICE_ID, VENDOR_ID = 0x000, 0x004, 0x008, 0x00C
DEVICE_FEATURES, DEVICE_FEATURES_SEL = 0x010, 0x014
DRIVER_FEATURES, DRIVER_FEATURES_SEL = 0x020, 0x024
QUEUE_SEL, QUEUE_NUM_MAX, QUEUE_NUM, QUEUE_READY, QUEUE_NOTIFY = 0x030, 0x034, 0x038, 0x044, 0x050
INTERRUPT_STATUS, INTERRUPT_ACK, STATUS = 0x060, 0x064, 0x070
QUEUE_DESC_LOW, QUEUE_DESC_HIGH = 0x080, 0x084
QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH = 0x090, 0x094
QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH = 0x0A0, 0x0A4
SHM_SEL, SHM_LEN_LOW, SHM_LEN_HIGH, SHM_BASE_LOW, SHM_BASE_HIGH = 0xAC, 0xB0, 0xB4, 0xB8, 0xBC
CONFIG_GENERATION, CONFIG = 0x0FC, 0x100

STATUS_FEATURES_OK = 8
STATUS_NEEDS_RESET = 0x40
INT_USED_BUFFER, INT_CONFIG_CHANGE = 1, 2

SLOT_SIZE = 0x1000


class VirtioMmio:
    """One transport slot; `device` None is an empty slot."""

    size = SLOT_SIZE

    def __init__(self, name: str, irq: IrqLine, ram: GuestRam, device: VirtioDevice | None) -> None:
        self.name = name
        self.irq = irq
        self.ram = ram
        self.device = device
        nq = device.num_queues if device else 0
        self.queues = [Virtqueue(ram, i) for i in range(nq)]
        if device is not None:
            device.attach(ram)
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.interrupt_status = 0
        self.device_features_sel = 0
        self.driver_features_sel = 0
        self.driver_features = 0
        self.queue_sel = 0
        self.broken = False
        for q in self.queues:
            q.reset()
        if self.device is not None:
            self.device.driver_features = 0
            self.device.reset()
        self._update_irq()

    @property
    def offered_features(self) -> int:
        return (self.device.features | TRANSPORT_FEATURES) if self.device else 0

    # -- registers ---------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset >= CONFIG:
            return self._config_read(offset - CONFIG, size)
        if size != 4:
            return 0
        if offset == MAGIC_VALUE:
            return MAGIC
        if offset == VERSION:
            return 2
        if offset == DEVICE_ID:
            return self.device.device_id if self.device else 0
        if offset == VENDOR_ID:
            return VENDOR_QEMU
        if self.device is None:
            return 0
        q = self._queue()
        if offset == DEVICE_FEATURES:
            return (self.offered_features >> (32 * self.device_features_sel)) & 0xFFFF_FFFF \
                if self.device_features_sel < 2 else 0  # fmt: skip
        if offset == QUEUE_NUM_MAX:
            return self.device.queue_max if q else 0
        if offset == QUEUE_READY:
            return int(q.ready) if q else 0
        if offset == INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == STATUS:
            return self.status
        if offset in (SHM_LEN_LOW, SHM_LEN_HIGH, SHM_BASE_LOW, SHM_BASE_HIGH):
            return 0xFFFF_FFFF  # no shared memory regions
        if offset == CONFIG_GENERATION:
            return 0
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if self.device is None:
            return
        if offset >= CONFIG:
            data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            self.device.config_write(offset - CONFIG, data)
            return
        if size != 4:
            return
        q = self._queue()
        if offset == DEVICE_FEATURES_SEL:
            self.device_features_sel = value
        elif offset == DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == DRIVER_FEATURES:
            if self.driver_features_sel < 2 and not self.status & STATUS_FEATURES_OK:
                shift = 32 * self.driver_features_sel
                mask = 0xFFFF_FFFF << shift
                self.driver_features = (self.driver_features & ~mask) | (value << shift)
        elif offset == QUEUE_SEL:
            self.queue_sel = value
        elif offset == QUEUE_NUM and q and not q.ready:
            q.num = value
        elif offset in (QUEUE_DESC_LOW, QUEUE_DESC_HIGH) and q and not q.ready:
            q.desc = _half(q.desc, offset == QUEUE_DESC_HIGH, value)
        elif offset in (QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH) and q and not q.ready:
            q.avail = _half(q.avail, offset == QUEUE_DRIVER_HIGH, value)
        elif offset in (QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH) and q and not q.ready:
            q.used = _half(q.used, offset == QUEUE_DEVICE_HIGH, value)
        elif offset == QUEUE_READY and q:
            if value & 1 and not q.ready:
                self._guarded(
                    lambda: q.enable(
                        bool(self.driver_features & F_EVENT_IDX),
                        bool(self.driver_features & F_INDIRECT_DESC),
                    )
                )
            elif not value & 1:
                q.ready = False
        elif offset == QUEUE_NOTIFY:
            self.notify(value & 0xFFFF)
        elif offset == INTERRUPT_ACK:
            self.interrupt_status &= ~value
            self._update_irq()
        elif offset == STATUS:
            self._set_status(value & 0xFF)

    def _queue(self) -> Virtqueue | None:
        return self.queues[self.queue_sel] if self.queue_sel < len(self.queues) else None

    def _config_read(self, offset: int, size: int) -> int:
        config = self.device.config if self.device else b""
        if size not in (1, 2, 4, 8) or offset + size > len(config):
            return 0
        return int.from_bytes(config[offset : offset + size], "little")

    def _set_status(self, value: int) -> None:
        if value == 0:
            self.reset()
            return
        if value & STATUS_FEATURES_OK and not self.status & STATUS_FEATURES_OK:
            wanted = self.driver_features
            if wanted & ~self.offered_features or not wanted & F_VERSION_1:
                value &= ~STATUS_FEATURES_OK  # the driver re-reads status and gives up
            else:
                self.device.driver_features = wanted
        self.status = value | (self.status & STATUS_NEEDS_RESET)

    # -- queue work ----------------------------------------------------------------------
    def notify(self, index: int) -> None:
        if self.broken or index >= len(self.queues) or not self.queues[index].ready:
            return
        queue = self.queues[index]
        self._guarded(lambda: self.device.process(queue))
        if not self.broken and queue.should_interrupt():
            self.interrupt_status |= INT_USED_BUFFER
            self._update_irq()

    def _guarded(self, work: Callable[[], None]) -> None:
        """Run device work; a driver breaking the rules breaks the device, not the emulator."""
        try:
            work()
        except (VirtqueueError, DmaError) as exc:
            log.warning("%s: %s; device needs reset", self.name, exc)
            self.broken = True
            self.status |= STATUS_NEEDS_RESET
            if self.status & STATUS_FEATURES_OK:
                self.interrupt_status |= INT_CONFIG_CHANGE
                self._update_irq()

    def _update_irq(self) -> None:
        self.irq.set(bool(self.interrupt_status))

    def close(self) -> None:
        if self.device is not None:
            self.device.close()


def _half(current: int, high: bool, value: int) -> int:
    if high:
        return (current & 0xFFFF_FFFF) | (value << 32)
    return (current & ~0xFFFF_FFFF) | value
