"""The split virtqueue (virtio 1.x, 2.7): descriptor table, available ring, used ring.

The device side: `pop` takes the next chain the driver made available and
resolves it (following `next` links and indirect tables) into the buffers the
device may read and the buffers it may write; `push` returns it through the
used ring; `should_interrupt` applies the driver's suppression wishes
(VIRTIO_RING_F_EVENT_IDX's used_event, or the avail ring's NO_INTERRUPT flag).

Everything in guest memory is untrusted. A chain is refused with
`VirtqueueError` — the transport then marks the device broken, as QEMU's
virtio_error does — when it loops, is longer than the queue (or an indirect
table longer than its own size), nests indirect tables, puts a readable
buffer after a writable one, or points outside RAM; the available index may
not run more than a queue's worth ahead. Each of these bounds the work one
notification can cause, so a hostile driver cannot hang the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.hw.virtio.dma import DmaError, GuestRam

DESC_F_NEXT = 1
DESC_F_WRITE = 2
DESC_F_INDIRECT = 4
AVAIL_F_NO_INTERRUPT = 1
DESC_SIZE = 16
# QEMU's VIRTQUEUE_MAX_SIZE; also the longest indirect table accepted.
MAX_QUEUE_SIZE = 1024


class VirtqueueError(Exception):
    """The driver broke the virtqueue rules; the device must stop using the queue."""


@dataclass
class Chain:
    """One request: its head index and its device-readable and -writable buffers."""

    head: int
    readable: list[tuple[int, int]] = field(default_factory=list)  # (guest address, length)
    writable: list[tuple[int, int]] = field(default_factory=list)

    @property
    def readable_size(self) -> int:
        return sum(length for _, length in self.readable)

    @property
    def writable_size(self) -> int:
        return sum(length for _, length in self.writable)


def gather(ram: GuestRam, buffers: list[tuple[int, int]], limit: int | None = None) -> bytes:
    """The bytes of `buffers` in order (at most `limit` of them)."""
    parts = []
    remaining = limit if limit is not None else sum(n for _, n in buffers)
    for addr, length in buffers:
        if remaining <= 0:
            break
        take = min(length, remaining)
        parts.append(ram.read(addr, take))
        remaining -= take
    return b"".join(parts)


def scatter(ram: GuestRam, buffers: list[tuple[int, int]], data: bytes | memoryview) -> int:
    """Write `data` across `buffers` in order; returns how many bytes fitted."""
    view = memoryview(data)
    done = 0
    for addr, length in buffers:
        if done >= len(view):
            break
        take = min(length, len(view) - done)
        ram.write(addr, view[done : done + take])
        done += take
    return done


class Virtqueue:
    """Device-side state of one split virtqueue."""

    def __init__(self, ram: GuestRam, index: int) -> None:
        self.ram = ram
        self.index = index
        self.reset()

    def reset(self) -> None:
        self.num = 0
        self.ready = False
        self.desc = 0
        self.avail = 0
        self.used = 0
        self.last_avail = 0  # the next available-ring entry the device will take
        self.used_idx = 0  # the device's copy of used->idx
        self.signalled_used = 0  # used_idx when the driver was last interrupted
        self.event_idx = False
        self.indirect = False

    def enable(self, event_idx: bool, indirect: bool) -> None:
        """QueueReady was set: check the rings lie in RAM and start from index 0."""
        num = self.num
        if not 0 < num <= MAX_QUEUE_SIZE or num & (num - 1):
            raise VirtqueueError(f"queue {self.index}: size {num} is not a power of two ≤ 1024")
        for name, addr, size, align in (
            ("descriptor table", self.desc, DESC_SIZE * num, 16),
            ("available ring", self.avail, 6 + 2 * num, 2),
            ("used ring", self.used, 6 + 8 * num, 4),
        ):
            if addr % align:
                raise VirtqueueError(f"queue {self.index}: {name} at {addr:#x} is misaligned")
            try:
                self.ram.view(addr, size)
            except DmaError as exc:
                raise VirtqueueError(f"queue {self.index}: {name}: {exc}") from None
        self.event_idx, self.indirect = event_idx, indirect
        self.last_avail = self.used_idx = self.signalled_used = 0
        self.ready = True

    # -- taking requests -------------------------------------------------------------
    def pending(self) -> int:
        """Chains made available and not yet taken."""
        count = (self.ram.u16(self.avail + 2) - self.last_avail) & 0xFFFF
        if count > self.num:
            raise VirtqueueError(f"queue {self.index}: available index ran {count} entries ahead")
        return count

    def pop(self) -> Chain | None:
        if not self.ready or not self.pending():
            return None
        slot = self.last_avail % self.num
        head = self.ram.u16(self.avail + 4 + 2 * slot)
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        if self.event_idx:
            # avail_event: "notify me when you make entry last_avail available"
            self.ram.put_u16(self.used + 4 + 8 * self.num, self.last_avail)
        chain = Chain(head)
        self._walk(chain, self.desc, self.num, head, nested=False)
        return chain

    def _walk(self, chain: Chain, table: int, size: int, index: int, *, nested: bool) -> None:
        seen = 0
        while True:
            if index >= size:
                raise VirtqueueError(f"queue {self.index}: descriptor {index} out of range")
            seen += 1
            if seen > size:
                raise VirtqueueError(f"queue {self.index}: descriptor chain loops")
            base = table + DESC_SIZE * index
            addr, length = self.ram.u64(base), self.ram.u32(base + 8)
            flags, nxt = self.ram.u16(base + 12), self.ram.u16(base + 14)
            if flags & DESC_F_INDIRECT:
                if nested or not self.indirect:
                    raise VirtqueueError(f"queue {self.index}: unexpected indirect descriptor")
                if length % DESC_SIZE or not 0 < length // DESC_SIZE <= MAX_QUEUE_SIZE:
                    raise VirtqueueError(f"queue {self.index}: bad indirect table size {length}")
                self._checked(addr, length)
                self._walk(chain, addr, length // DESC_SIZE, 0, nested=True)
            else:
                self._checked(addr, length)
                if flags & DESC_F_WRITE:
                    chain.writable.append((addr, length))
                elif chain.writable:
                    raise VirtqueueError(f"queue {self.index}: readable buffer after writable one")
                else:
                    chain.readable.append((addr, length))
            if not flags & DESC_F_NEXT:
                return
            index = nxt

    def _checked(self, addr: int, length: int) -> None:
        try:
            self.ram.view(addr, length)
        except DmaError as exc:
            raise VirtqueueError(f"queue {self.index}: {exc}") from None

    # -- completing requests ---------------------------------------------------------
    def push(self, chain: Chain, written: int) -> None:
        """Hand `chain` back to the driver, `written` bytes of it filled in."""
        slot = self.used_idx % self.num
        self.ram.put_u32(self.used + 4 + 8 * slot, chain.head)
        self.ram.put_u32(self.used + 8 + 8 * slot, written)
        self.used_idx = (self.used_idx + 1) & 0xFFFF
        self.ram.put_u16(self.used + 2, self.used_idx)

    def should_interrupt(self) -> bool:
        """Whether the driver wants an interrupt for what was pushed since the last one."""
        old, new = self.signalled_used, self.used_idx
        if old == new:
            return False
        self.signalled_used = new
        if self.event_idx:
            used_event = self.ram.u16(self.avail + 4 + 2 * self.num)
            # vring_need_event: did new pass used_event since old?
            return ((new - used_event - 1) & 0xFFFF) < ((new - old) & 0xFFFF)
        return not self.ram.u16(self.avail) & AVAIL_F_NO_INTERRUPT
