"""virtio-9p carries 9P2000.L messages between the guest's chains and the file server.

The protocol itself is pinned by test_ninep.py; here: the mount tag in config
space, and a file read travelling through descriptors (the T-message in
readable buffers, the R-message scattered over writable ones).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine.hw.virtio.ninep import NinePServer
from engine.hw.virtio.p9 import F_MOUNT_TAG, Virtio9p
from tests.hw.virtio_driver import MiniDriver

TVERSION, TATTACH, TWALK, TLOPEN, TREAD = 100, 104, 110, 12, 116
NOFID = 0xFFFF_FFFF


def s(text: str) -> bytes:
    return struct.pack("<H", len(text)) + text.encode()


def frame(mtype: int, tag: int, body: bytes) -> bytes:
    return struct.pack("<IBH", 7 + len(body), mtype, tag) + body


@pytest.fixture
def share(tmp_path: Path) -> Path:
    (tmp_path / "hello.txt").write_text("hello from the host\n")
    return tmp_path


def rpc(d: MiniDriver, message: bytes, room: list[int]) -> bytes:
    """Send one T-message; the reply space is split into buffers of the given sizes."""
    replies = [d.alloc(n, writable=True) for n in room]
    d.submit(0, [d.alloc(message), *replies])
    [(_head, written)] = d.completions(0)
    data = b"".join(d.get(b.addr, b.length) for b in replies)[:written]
    size, _type, _tag = struct.unpack_from("<IBH", data)
    assert size == written
    return data


def test_mount_tag_is_in_config_space(share: Path) -> None:
    d = MiniDriver(Virtio9p(NinePServer(share), "host0"))
    assert d.device_features() & F_MOUNT_TAG
    assert d.transport.read(0x100, 2) == 5
    assert bytes(d.transport.read(0x102 + i, 1) for i in range(5)) == b"host0"


def test_a_file_read_travels_through_descriptors(share: Path) -> None:
    d = MiniDriver(Virtio9p(NinePServer(share), "host0"))
    d.initialize()
    reply = rpc(d, frame(TVERSION, 0xFFFF, struct.pack("<I", 8192) + s("9P2000.L")), [64])
    assert reply[4] == TVERSION + 1 and b"9P2000.L" in reply
    attach = struct.pack("<II", 1, NOFID) + s("root") + s("") + struct.pack("<I", 0)
    assert rpc(d, frame(TATTACH, 1, attach), [64])[4] == TATTACH + 1
    assert rpc(d, frame(TWALK, 2, struct.pack("<IIH", 1, 2, 1) + s("hello.txt")), [64])[4] == 111
    assert rpc(d, frame(TLOPEN, 3, struct.pack("<II", 2, 0)), [64])[4] == TLOPEN + 1
    # The reply straddles three small buffers, as Linux's zero-copy reads do.
    reply = rpc(d, frame(TREAD, 4, struct.pack("<IQI", 2, 0, 100)), [7, 4, 64])
    (count,) = struct.unpack_from("<I", reply, 7)
    assert reply[11 : 11 + count] == b"hello from the host\n"


def test_tags_must_fit() -> None:
    with pytest.raises(ValueError, match="mount_tag"):
        Virtio9p(NinePServer("/"), "")
