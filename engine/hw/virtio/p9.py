"""virtio-9p (virtio 1.x, 5.x "9P transport"): a host directory shared with the guest.

The device is a thin carrier: each chain holds one 9P2000.L T-message in its
readable buffers and room for the R-message in its writable ones;
`engine.hw.virtio.ninep.NinePServer` does the protocol and the confinement
to the shared directory. The config space holds the mount tag the guest
names in `mount -t 9p -o trans=virtio TAG DIR`.
"""

from __future__ import annotations

import struct

from engine.hw.virtio.device import ID_9P, VirtioDevice
from engine.hw.virtio.ninep import NinePServer
from engine.hw.virtio.queue import Virtqueue, gather, scatter

F_MOUNT_TAG = 1
MAX_TAG = 255  # a 9P string's length is 16 bits, but Linux and QEMU stop far sooner
MAX_REQUEST = 1 << 20  # larger than any msize Linux negotiates with us


class Virtio9p(VirtioDevice):
    device_id = ID_9P
    name = "virtio-9p"
    queue_max = 128

    def __init__(self, server: NinePServer, tag: str) -> None:
        super().__init__()
        raw = tag.encode()
        if not raw or len(raw) > MAX_TAG:
            raise ValueError(f"mount_tag must be 1 to {MAX_TAG} bytes, got {tag!r}")
        self.server = server
        self.tag = tag
        self.features = F_MOUNT_TAG
        self.config = bytearray(struct.pack("<H", len(raw)) + raw)

    def process(self, queue: Virtqueue) -> None:
        while (chain := queue.pop()) is not None:
            request = gather(self.ram, chain.readable, MAX_REQUEST)
            reply = self.server.handle(request)
            queue.push(chain, scatter(self.ram, chain.writable, reply))

    def reset(self) -> None:
        self.server.reset()

    def close(self) -> None:
        self.server.close()
