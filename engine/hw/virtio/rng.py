"""virtio-rng (virtio 1.x, 5.4): the guest's entropy source, fed from the host's.

The guest offers writable buffers; each is filled from os.urandom. A single
request is capped so one chain naming gigabytes cannot make the host draw
and copy them: the device may always return fewer bytes than offered.
"""

from __future__ import annotations

import os

from engine.hw.virtio.device import ID_ENTROPY, VirtioDevice
from engine.hw.virtio.queue import Virtqueue, scatter

MAX_BYTES_PER_REQUEST = 64 << 10


class VirtioRng(VirtioDevice):
    device_id = ID_ENTROPY
    name = "virtio-rng"

    def process(self, queue: Virtqueue) -> None:
        while (chain := queue.pop()) is not None:
            size = min(chain.writable_size, MAX_BYTES_PER_REQUEST)
            queue.push(chain, scatter(self.ram, chain.writable, os.urandom(size)))
