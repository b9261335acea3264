"""What a virtio device tells its transport: identity, features, config space, queue work.

A device subclass sets `device_id`, its own feature bits, its queue count and
its config space bytes, and implements `process(queue)` to serve the chains
the driver made available on that queue. The transport owns feature
negotiation, status, queue registers and interrupts; the device never touches
registers and reports malformed requests it cannot answer by raising
`VirtqueueError` (the transport marks itself broken) — requests that are
well-formed but wrong (a sector past the end, an unknown command) get a
device error status in the reply instead.
"""

from __future__ import annotations

from engine.hw.virtio.dma import GuestRam
from engine.hw.virtio.queue import Virtqueue

# Device IDs (virtio 1.x, 5).
ID_BLOCK = 2
ID_ENTROPY = 4
ID_9P = 9

# Transport feature bits the transport itself offers for every device.
F_INDIRECT_DESC = 1 << 28
F_EVENT_IDX = 1 << 29
F_VERSION_1 = 1 << 32
TRANSPORT_FEATURES = F_INDIRECT_DESC | F_EVENT_IDX | F_VERSION_1


class VirtioDevice:
    device_id = 0
    name = "virtio"
    num_queues = 1
    queue_max = 256

    def __init__(self) -> None:
        self.features = 0  # device-specific bits (below bit 24)
        self.config = bytearray()
        self.driver_features = 0
        self.ram: GuestRam | None = None

    def attach(self, ram: GuestRam) -> None:
        self.ram = ram

    def config_write(self, offset: int, data: bytes) -> None:
        """The driver wrote config space; most devices have nothing writable there."""

    def process(self, queue: Virtqueue) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """The driver reset the device (status 0): forget per-session state."""

    def close(self) -> None:
        """The machine is going away: make everything durable and release files."""
