"""Disk images behind virtio-blk: a raw file, optionally read-only or with a snapshot overlay.

Writes go to the file with pwrite as they arrive, so they sit in the host's
page cache at once and survive anything that ends the emulator (power-off,
Ctrl-A X, a kill); a guest FLUSH adds fsync, for durability across a host
crash as well. `snapshot=on` sends writes to an in-memory overlay of 4 KiB
clusters instead and leaves the file byte-for-byte unchanged, as QEMU's
snapshot mode does with its temporary qcow2.

Opening problems are `DriveError`s whose message names the file and the fix.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

SECTOR = 512
CLUSTER = 4096


class DriveError(Exception):
    """A -drive cannot be used as given."""


@dataclass(frozen=True)
class DriveOptions:
    file: str
    format: str = "raw"
    readonly: bool = False
    snapshot: bool = False
    serial: str = ""


class Disk:
    """A raw image: sector-addressed reads and writes on an open file."""

    def __init__(self, options: DriveOptions) -> None:
        if options.format != "raw":
            raise DriveError(
                f"drive {options.file}: format '{options.format}' is not supported; "
                "wasmemu reads raw images (convert with `qemu-img convert -O raw`)"
            )
        self.path = options.file
        self.readonly = options.readonly
        writable = not options.readonly and not options.snapshot
        try:
            self.fd = os.open(options.file, os.O_RDWR if writable else os.O_RDONLY)
        except FileNotFoundError:
            raise DriveError(f"drive {options.file}: no such file") from None
        except IsADirectoryError:
            raise DriveError(f"drive {options.file}: is a directory, not a disk image") from None
        except PermissionError:
            hint = "add readonly=on or snapshot=on" if writable else "check its permissions"
            raise DriveError(f"drive {options.file}: permission denied; {hint}") from None
        except OSError as exc:
            if writable and exc.errno == errno.EROFS:
                raise DriveError(
                    f"drive {options.file}: on a read-only filesystem; add readonly=on or "
                    "snapshot=on"
                ) from None
            raise DriveError(f"drive {options.file}: {exc.strerror}") from None
        size = os.fstat(self.fd).st_size
        if size < SECTOR:
            os.close(self.fd)
            raise DriveError(f"drive {options.file}: smaller than one 512-byte sector")
        self.sectors = size // SECTOR
        self.overlay: dict[int, bytearray] | None = {} if options.snapshot else None

    # -- I/O (offsets and lengths are whole sectors, checked by the caller) ------------
    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if len(data) < length:
            data += bytes(length - len(data))
        if not self.overlay:
            return data
        out = bytearray(data)
        for cluster in range(offset // CLUSTER, (offset + length - 1) // CLUSTER + 1):
            block = self.overlay.get(cluster)
            if block is None:
                continue
            base = cluster * CLUSTER
            start, end = max(offset, base), min(offset + length, base + CLUSTER)
            out[start - offset : end - offset] = block[start - base : end - base]
        return bytes(out)

    def write(self, offset: int, data: bytes | memoryview) -> None:
        if self.overlay is None:
            written = os.pwrite(self.fd, data, offset)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write")
            return
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            cluster, within = divmod(offset + pos, CLUSTER)
            take = min(CLUSTER - within, len(view) - pos)
            block = self.overlay.get(cluster)
            if block is None:
                block = bytearray(self._base_cluster(cluster))
                self.overlay[cluster] = block
            block[within : within + take] = view[pos : pos + take]
            pos += take

    def _base_cluster(self, cluster: int) -> bytes:
        data = os.pread(self.fd, CLUSTER, cluster * CLUSTER)
        return data + bytes(CLUSTER - len(data))

    def flush(self) -> None:
        if self.overlay is None and not self.readonly:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            self.flush()
            os.close(self.fd)
            self.fd = -1
