"""virtio-blk (virtio 1.x, 5.2): one request queue over a `Disk`.

A request is a 16-byte header (type, reserved, sector), data buffers, and a
one-byte status the device writes last. Requests that are well-formed but
cannot be served — a sector range past the end, a length that is not whole
sectors, a write to a read-only drive, a host I/O error, an unknown type —
complete with IOERR or UNSUPP; only a chain too short to hold the header and
status breaks the device (there is nowhere to put a status).
"""

from __future__ import annotations

import logging
import struct

from engine.hw.virtio.device import ID_BLOCK, VirtioDevice
from engine.hw.virtio.disk import SECTOR, Disk
from engine.hw.virtio.queue import Chain, Virtqueue, VirtqueueError, gather, scatter

log = logging.getLogger(__name__)

F_SIZE_MAX, F_SEG_MAX, F_RO, F_BLK_SIZE, F_FLUSH = 1 << 1, 1 << 2, 1 << 5, 1 << 6, 1 << 9
F_DISCARD, F_WRITE_ZEROES = 1 << 13, 1 << 14

T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES = 0, 1, 4, 8, 11, 13
S_OK, S_IOERR, S_UNSUPP = 0, 1, 2

SEG_MAX = 126  # QEMU's default for a 128-entry queue: two descriptors go to header/status
SIZE_MAX = 1 << 20  # per segment; bounds the memory one request can make us copy
ID_BYTES = 20
MAX_ZEROES_SECTORS = 1 << 16
_HEADER = struct.Struct("<IIQ")
_SEGMENT = struct.Struct("<QII")


class VirtioBlk(VirtioDevice):
    device_id = ID_BLOCK
    name = "virtio-blk"
    queue_max = 256

    def __init__(self, disk: Disk, serial: str = "") -> None:
        super().__init__()
        self.disk = disk
        self.serial = serial.encode()[:ID_BYTES]
        self.features = F_SIZE_MAX | F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_WRITE_ZEROES
        if disk.readonly:
            self.features |= F_RO
        else:
            self.features |= F_DISCARD
        config = bytearray(60)
        struct.pack_into("<QII", config, 0, disk.sectors, SIZE_MAX, SEG_MAX)
        struct.pack_into("<I", config, 20, SECTOR)  # blk_size
        struct.pack_into("<III", config, 36, MAX_ZEROES_SECTORS, 1, 1)  # discard limits
        struct.pack_into("<IIB", config, 48, MAX_ZEROES_SECTORS, 1, 0)  # write-zeroes limits
        self.config = config

    def process(self, queue: Virtqueue) -> None:
        while (chain := queue.pop()) is not None:
            if chain.readable_size < _HEADER.size or chain.writable_size < 1:
                raise VirtqueueError("block request without room for header and status")
            status, written = self._serve(chain)
            # The status byte is the chain's last writable byte.
            addr, length = chain.writable[-1]
            self.ram.write(addr + length - 1, bytes([status]))
            queue.push(chain, written + 1)

    def _serve(self, chain: Chain) -> tuple[int, int]:
        """(status, bytes written into the data buffers) for one request."""
        kind, _reserved, sector = _HEADER.unpack(gather(self.ram, chain.readable, _HEADER.size))
        data_in = _without_last_byte(chain.writable)
        data_out = _skip(chain.readable, _HEADER.size)
        try:
            if kind == T_IN:
                length = sum(n for _, n in data_in)
                if not self._in_range(sector, length):
                    return S_IOERR, 0
                offset = sector * SECTOR
                for addr, n in data_in:  # one buffer at a time: memory stays bounded by RAM
                    self.ram.write(addr, self.disk.read(offset, n))
                    offset += n
                return S_OK, length
            if kind == T_OUT:
                length = sum(n for _, n in data_out)
                if self.disk.readonly or not self._in_range(sector, length):
                    return S_IOERR, 0
                offset = sector * SECTOR
                for addr, n in data_out:
                    self.disk.write(offset, self.ram.view(addr, n))
                    offset += n
                return S_OK, 0
            if kind == T_FLUSH:
                self.disk.flush()
                return S_OK, 0
            if kind == T_GET_ID:
                ident = self.serial.ljust(ID_BYTES, b"\0")
                return S_OK, scatter(self.ram, data_in, ident)
            if kind in (T_DISCARD, T_WRITE_ZEROES):
                return self._ranges(kind, gather(self.ram, data_out)), 0
        except OSError as exc:
            log.warning("%s: %s: %s", self.name, self.disk.path, exc)
            return S_IOERR, 0
        return S_UNSUPP, 0

    def _ranges(self, kind: int, segments: bytes) -> int:
        if self.disk.readonly or not segments or len(segments) % _SEGMENT.size:
            return S_IOERR
        for sector, count, _flags in _SEGMENT.iter_unpack(segments):
            if count > MAX_ZEROES_SECTORS or not self._in_range(sector, count * SECTOR):
                return S_IOERR
            if kind == T_WRITE_ZEROES:
                self.disk.write(sector * SECTOR, bytes(count * SECTOR))
            # A discard may leave the data as it was: the guest cannot rely on
            # discarded contents, and keeping the file dense costs nothing.
        return S_OK

    def _in_range(self, sector: int, length: int) -> bool:
        return length % SECTOR == 0 and sector + length // SECTOR <= self.disk.sectors

    def close(self) -> None:
        self.disk.close()


def _without_last_byte(buffers: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if not buffers:
        return []
    *rest, (addr, length) = buffers
    return rest + ([(addr, length - 1)] if length > 1 else [])


def _skip(buffers: list[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    out = []
    for addr, length in buffers:
        if count >= length:
            count -= length
            continue
        out.append((addr + count, length - count))
        count = 0
    return out
