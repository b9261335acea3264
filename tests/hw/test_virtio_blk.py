"""virtio-blk over a raw image: what a guest's reads and writes do to the file.

Each test plays the guest's block driver (tests/hw/virtio_driver.py) against
a real file in tmp_path: requests are a header, data and a status byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from engine.hw.virtio.blk import (
    F_FLUSH,
    F_RO,
    S_IOERR,
    S_OK,
    S_UNSUPP,
    T_DISCARD,
    T_FLUSH,
    T_GET_ID,
    T_IN,
    T_OUT,
    T_WRITE_ZEROES,
    VirtioBlk,
)
from engine.hw.virtio.disk import Disk, DriveError, DriveOptions
from tests.hw.virtio_driver import MiniDriver

SECTORS = 64
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(range(256)) * (SECTORS * 2))  # 512-byte sectors of a known pattern
    return path


def attach(image: Path, **options) -> MiniDriver:
    blk = VirtioBlk(Disk(DriveOptions(str(image), **options)), serial="wasmemu-0")
    d = MiniDriver(blk)
    d.initialize()
    return d


def request(d: MiniDriver, kind: int, sector: int, data: bytes | int = 0,
            *, indirect: bool = False) -> tuple[int, bytes]:  # fmt: skip
    """(status, data read) for one request."""
    header = d.alloc(struct.pack("<IIQ", kind, 0, sector))
    status = d.alloc(1, writable=True)
    d.put(status.addr, b"\xee")
    buffers = [header]
    payload = None
    if isinstance(data, bytes) and data:
        buffers.append(d.alloc(data))
    elif isinstance(data, int) and data:
        payload = d.alloc(data, writable=True)
        buffers.append(payload)
    d.submit(0, [*buffers, status], indirect=indirect)
    [(_head, written)] = d.completions(0)
    got = d.get(payload.addr, payload.length) if payload else b""
    status_byte = d.get(status.addr, 1)[0]
    filled = kind in (T_IN, T_GET_ID) and status_byte == S_OK
    assert written == (len(got) if filled else 0) + 1  # data, then the status byte
    return status_byte, got


def test_capacity_and_features_in_config_space(image: Path) -> None:
    d = attach(image)
    assert d.transport.read(0x100, 8) == SECTORS
    assert d.device_features() & F_FLUSH and not d.device_features() & F_RO


def test_reads_return_the_file_contents(image: Path) -> None:
    d = attach(image)
    status, data = request(d, T_IN, 3, 1024)
    assert status == S_OK
    assert data == image.read_bytes()[3 * 512 : 5 * 512]


@pytest.mark.parametrize("indirect", [False, True])
def test_writes_reach_the_file_at_once(image: Path, indirect: bool) -> None:
    d = attach(image)
    assert request(d, T_OUT, 5, b"\x42" * 512, indirect=indirect)[0] == S_OK
    assert image.read_bytes()[5 * 512 : 6 * 512] == b"\x42" * 512
    assert request(d, T_FLUSH, 0)[0] == S_OK


def test_snapshot_keeps_the_file_byte_for_byte(image: Path) -> None:
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    d = attach(image, snapshot=True)
    assert request(d, T_OUT, 1, b"\x01" * 700 + b"\x02" * 324)[0] == S_OK
    assert request(d, T_IN, 0, 2048)[1][512:1536] == b"\x01" * 700 + b"\x02" * 324
    assert request(d, T_FLUSH, 0)[0] == S_OK
    d.transport.close()
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def test_readonly_drives_refuse_writes(image: Path) -> None:
    before = image.read_bytes()
    d = attach(image, readonly=True)
    assert d.device_features() & F_RO
    assert request(d, T_OUT, 0, b"\x00" * 512)[0] == S_IOERR
    assert image.read_bytes() == before


@pytest.mark.parametrize(
    ("kind", "sector", "data"),
    [
        (T_IN, SECTORS - 1, 1024),  # runs past the end
        (T_IN, 1 << 62, 512),  # absurd sector
        (T_OUT, 0, b"x" * 100),  # not whole sectors
        (T_OUT, SECTORS, b"x" * 512),
    ],
)
def test_out_of_range_requests_fail_with_ioerr(image: Path, kind: int, sector: int, data) -> None:
    before = image.read_bytes()
    assert request(attach(image), kind, sector, data)[0] == S_IOERR
    assert image.read_bytes() == before


def test_unknown_requests_are_unsupported(image: Path) -> None:
    assert request(attach(image), 99, 0)[0] == S_UNSUPP


def test_get_id_gives_the_serial(image: Path) -> None:
    status, data = request(attach(image), T_GET_ID, 0, 20)
    assert status == S_OK and data == b"wasmemu-0".ljust(20, b"\0")


def test_write_zeroes_and_discard(image: Path) -> None:
    d = attach(image)
    assert request(d, T_WRITE_ZEROES, 0, struct.pack("<QII", 2, 3, 0))[0] == S_OK
    assert image.read_bytes()[1024 : 1024 + 1536] == bytes(1536)
    assert request(d, T_DISCARD, 0, struct.pack("<QII", 10, 2, 0))[0] == S_OK
    assert request(d, T_DISCARD, 0, struct.pack("<QII", SECTORS, 2, 0))[0] == S_IOERR


def test_a_chain_without_room_for_a_status_breaks_the_device(image: Path) -> None:
    d = attach(image)
    d.submit(0, [d.alloc(struct.pack("<IIQ", T_IN, 0, 0))])
    assert d.r(0x70) & 0x40  # DEVICE_NEEDS_RESET


def test_drive_errors_name_the_file_and_the_fix(tmp_path: Path, image: Path) -> None:
    with pytest.raises(DriveError, match="no such file"):
        Disk(DriveOptions(str(tmp_path / "missing.img")))
    with pytest.raises(DriveError, match=r"format 'qcow2' is not supported.*qemu-img convert"):
        Disk(DriveOptions(str(image), format="qcow2"))
    with pytest.raises(DriveError, match="is a directory"):
        Disk(DriveOptions(str(tmp_path)))
    (tmp_path / "tiny.img").write_bytes(b"x")
    with pytest.raises(DriveError, match="smaller than one 512-byte sector"):
        Disk(DriveOptions(str(tmp_path / "tiny.img")))


SYSTEM_PYTHON = "/usr/bin/python3"
READONLY_CHECK = """
import sys
from disk import Disk, DriveError, DriveOptions
path = sys.argv[1]
try:
    Disk(DriveOptions(path))
except DriveError as e:
    print(e)
for mode in ({"readonly": True}, {"snapshot": True}):
    Disk(DriveOptions(path, **mode)).close()
"""


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="needs the system's python3")
def test_a_read_only_file_needs_readonly_or_snapshot() -> None:
    """As an unprivileged user (root may write anything), a 0444 image is refused for writing.

    disk.py needs only the standard library, so a copy of it runs where that user may read,
    under the system's Python (the project's may live in root's home)."""
    folder = Path(tempfile.mkdtemp(prefix="wasmemu-ro-"))
    try:
        folder.chmod(0o755)
        shutil.copy(ROOT / "engine" / "hw" / "virtio" / "disk.py", folder / "disk.py")
        image = folder / "ro.img"
        image.write_bytes(bytes(1024))
        image.chmod(0o444)
        as_nobody = {"user": 65534} if os.geteuid() == 0 else {}
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", READONLY_CHECK, str(image)], capture_output=True, text=True,
            cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)}, timeout=60, **as_nobody,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "permission denied; add readonly=on or snapshot=on" in result.stdout
    finally:
        shutil.rmtree(folder)
