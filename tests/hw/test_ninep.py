"""9P2000.L file server: the protocol as a Linux guest speaks it, and confinement to the share.

The tests talk to `NinePServer.handle` through a tiny client written here from
the wire format (little-endian, size[4] type[1] tag[2] body), so they document
each message's layout as well as the server's behaviour.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import stat
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from engine.hw.virtio import ninep
from engine.hw.virtio.ninep import LINUX_ERRNO, NinePConfigError, NinePServer

E = LINUX_ERRNO  # the guest is Linux: errors arrive as Linux errno numbers

# Message types (T; the reply is T + 1).
RLERROR = 7
TSTATFS, TLOPEN, TLCREATE, TSYMLINK, TMKNOD, TRENAME, TREADLINK = 8, 12, 14, 16, 18, 20, 22
TGETATTR, TSETATTR, TXATTRWALK, TXATTRCREATE, TREADDIR = 24, 26, 30, 32, 40
TFSYNC, TLOCK, TGETLOCK, TLINK, TMKDIR, TRENAMEAT, TUNLINKAT = 50, 52, 54, 70, 72, 74, 76
TVERSION, TATTACH, TFLUSH, TWALK, TREAD, TWRITE, TCLUNK, TREMOVE = (
    100, 104, 108, 110, 116, 118, 120, 122,
)  # fmt: skip
TOPEN_LEGACY = 112  # 9P2000's Topen: not part of 9P2000.L

# Open flags as Linux sends them (P9_DOTL_*, the generic O_* values).
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY = 0o100, 0o200, 0o1000, 0o2000, 0o200000
AT_REMOVEDIR = 0x200
QTDIR, QTSYMLINK, QTFILE = 0x80, 0x02, 0x00
DT_DIR, DT_REG, DT_LNK = 4, 8, 10
ATTR_MODE, ATTR_UID, ATTR_GID, ATTR_SIZE = 0x1, 0x2, 0x4, 0x8
ATTR_ATIME, ATTR_MTIME, ATTR_ATIME_SET, ATTR_MTIME_SET = 0x10, 0x20, 0x80, 0x100
NOFID = 0xFFFFFFFF

# What resolving through a symlink fails with, depending on where it sits:
# ELOOP for the last component (O_NOFOLLOW), ENOTDIR for a directory component.
NOT_FOLLOWED = (E["ENOTDIR"], E["ELOOP"])
ROOT = 1  # the fid every test attaches the share's root to
SECRET = b"CANARY-SECRET-outside-the-share"


class Qid(NamedTuple):
    type: int
    version: int
    path: int


class Rlerror(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple[int, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def u8(self) -> int:
        return self.take("B")[0]

    def u32(self) -> int:
        return self.take("I")[0]

    def u64(self) -> int:
        return self.take("Q")[0]

    def s(self) -> bytes:
        (n,) = self.take("H")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def qid(self) -> Qid:
        return Qid(*self.take("BIQ"))

    def end(self) -> None:
        assert self.pos == len(self.data), "reply longer than its fields"


def s(value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("<H", len(raw)) + raw


def frame(mtype: int, tag: int, body: bytes) -> bytes:
    return struct.pack("<IBH", 7 + len(body), mtype, tag) + body


class Client:
    """Just enough of Linux's net/9p client to drive the server message by message."""

    def __init__(self, server: NinePServer) -> None:
        self.server = server
        self.tag = 0
        self.replies: list[bytes] = []  # every byte the "guest" ever received

    def raw(self, message: bytes) -> bytes:
        reply = self.server.handle(message)
        self.replies.append(reply)
        size, _rtype, _rtag = struct.unpack_from("<IBH", reply)
        assert size == len(reply) <= self.server.max_response
        return reply

    def rpc(self, mtype: int, body: bytes) -> Reader:
        self.tag = (self.tag + 1) % 0xFFFF
        reply = self.raw(frame(mtype, self.tag, body))
        _size, rtype, rtag = struct.unpack_from("<IBH", reply)
        assert rtag == self.tag
        if rtype == RLERROR:
            (code,) = struct.unpack_from("<I", reply, 7)
            raise Rlerror(code)
        assert rtype == mtype + 1
        return Reader(reply[7:])

    def empty(self, mtype: int, body: bytes) -> None:
        self.rpc(mtype, body).end()

    def qid(self, mtype: int, body: bytes) -> Qid:
        r = self.rpc(mtype, body)
        q = r.qid()
        r.end()
        return q

    def version(self, msize: int = 65536, version: str = "9P2000.L") -> tuple[int, bytes]:
        r = self.rpc(TVERSION, struct.pack("<I", msize) + s(version))
        result = r.u32(), r.s()
        r.end()
        return result

    def attach(self, fid: int, aname: str = "", uid: int = 0) -> Qid:
        body = struct.pack("<II", fid, NOFID) + s("root") + s(aname) + struct.pack("<I", uid)
        return self.qid(TATTACH, body)

    def walk(self, fid: int, newfid: int, *names: bytes | str) -> list[Qid]:
        body = struct.pack("<IIH", fid, newfid, len(names)) + b"".join(s(n) for n in names)
        r = self.rpc(TWALK, body)
        (count,) = r.take("H")
        qids = [r.qid() for _ in range(count)]
        r.end()
        return qids

    def lopen(self, fid: int, flags: int = O_RDONLY) -> Qid:
        r = self.rpc(TLOPEN, struct.pack("<II", fid, flags))
        q, _iounit = r.qid(), r.u32()
        r.end()
        return q

    def lcreate(self, fid: int, name: str, flags: int, mode: int, gid: int = 0) -> Qid:
        body = struct.pack("<I", fid) + s(name) + struct.pack("<III", flags, mode, gid)
        r = self.rpc(TLCREATE, body)
        q, _iounit = r.qid(), r.u32()
        r.end()
        return q

    def read(self, fid: int, offset: int, count: int) -> bytes:
        r = self.rpc(TREAD, struct.pack("<IQI", fid, offset, count))
        n = r.u32()
        data = r.data[r.pos : r.pos + n]
        assert len(data) == n == len(r.data) - r.pos
        return data

    def write(self, fid: int, offset: int, data: bytes) -> int:
        r = self.rpc(TWRITE, struct.pack("<IQI", fid, offset, len(data)) + data)
        n = r.u32()
        r.end()
        return n

    def readdir(self, fid: int, offset: int, count: int) -> list[tuple[Qid, int, int, bytes]]:
        r = self.rpc(TREADDIR, struct.pack("<IQI", fid, offset, count))
        n = r.u32()
        assert n == len(r.data) - r.pos
        entries = []
        while r.pos < len(r.data):
            entries.append((r.qid(), r.u64(), r.u8(), r.s()))
        return entries

    def getattr(self, fid: int) -> dict[str, int]:
        r = self.rpc(TGETATTR, struct.pack("<IQ", fid, 0x3FFF))
        names = "valid qid mode uid gid nlink rdev size blksize blocks".split()
        values: list = [r.u64(), r.qid(), *r.take("IIIQQQQQ")]
        times = r.take("10Q")
        r.end()
        attr = dict(zip(names, values, strict=True))
        attr["atime_ns"] = times[0] * 10**9 + times[1]
        attr["mtime_ns"] = times[2] * 10**9 + times[3]
        return attr

    def setattr(self, fid: int, valid: int, *, mode: int = 0, uid: int = 0, gid: int = 0,
                size: int = 0, atime: tuple[int, int] = (0, 0),
                mtime: tuple[int, int] = (0, 0)) -> None:  # fmt: skip
        body = struct.pack("<IIIIIQQQQQ", fid, valid, mode, uid, gid, size, *atime, *mtime)
        self.empty(TSETATTR, body)

    def statfs(self, fid: int) -> tuple[int, ...]:
        r = self.rpc(TSTATFS, struct.pack("<I", fid))
        fields = r.take("IIQQQQQQI")
        r.end()
        return fields

    def mkdir(self, dfid: int, name: str, mode: int = 0o755, gid: int = 0) -> Qid:
        return self.qid(TMKDIR, struct.pack("<I", dfid) + s(name) + struct.pack("<II", mode, gid))

    def symlink(self, dfid: int, name: str, target: str, gid: int = 0) -> Qid:
        return self.qid(
            TSYMLINK, struct.pack("<I", dfid) + s(name) + s(target) + struct.pack("<I", gid)
        )

    def readlink(self, fid: int) -> bytes:
        r = self.rpc(TREADLINK, struct.pack("<I", fid))
        target = r.s()
        r.end()
        return target

    def link(self, dfid: int, fid: int, name: str) -> None:
        self.empty(TLINK, struct.pack("<II", dfid, fid) + s(name))

    def mknod(self, dfid: int, name: str, mode: int, major: int = 0, minor: int = 0) -> Qid:
        body = struct.pack("<I", dfid) + s(name) + struct.pack("<IIII", mode, major, minor, 0)
        return self.qid(TMKNOD, body)

    def rename(self, fid: int, dfid: int, name: str) -> None:
        self.empty(TRENAME, struct.pack("<II", fid, dfid) + s(name))

    def renameat(self, olddir: int, oldname: str, newdir: int, newname: str) -> None:
        body = struct.pack("<I", olddir) + s(oldname) + struct.pack("<I", newdir) + s(newname)
        self.empty(TRENAMEAT, body)

    def unlinkat(self, dfid: int, name: str, flags: int = 0) -> None:
        self.empty(TUNLINKAT, struct.pack("<I", dfid) + s(name) + struct.pack("<I", flags))

    def clunk(self, fid: int) -> None:
        self.empty(TCLUNK, struct.pack("<I", fid))

    def remove(self, fid: int) -> None:
        self.empty(TREMOVE, struct.pack("<I", fid))

    def fsync(self, fid: int, datasync: int = 0) -> None:
        self.empty(TFSYNC, struct.pack("<II", fid, datasync))

    def xattrwalk(self, fid: int, newfid: int, name: str) -> int:
        r = self.rpc(TXATTRWALK, struct.pack("<II", fid, newfid) + s(name))
        size = r.u64()
        r.end()
        return size

    def walk_to(self, newfid: int, *names: str) -> Qid:
        """Walk ROOT -> newfid, insisting that every name resolves."""
        qids = self.walk(ROOT, newfid, *names)
        assert len(qids) == len(names)
        return qids[-1] if qids else self.getattr(newfid)["qid"]


def error_of(call, *args, **kwargs) -> int:
    with pytest.raises(Rlerror) as info:
        call(*args, **kwargs)
    return info.value.code


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """tmp_path/share is served; tmp_path/outside holds a canary no reply may reveal."""
    root = tmp_path / "share"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello, world\n")
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_bytes(b"inner")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_bytes(SECRET)
    os.chmod(outside / "canary", 0o644)
    return root


@pytest.fixture(autouse=True)
def no_server_bugs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A server exception is turned into EIO and logged; none may happen in these tests."""
    with caplog.at_level(logging.ERROR, logger=ninep.__name__):
        yield
    assert not caplog.records, "the server hit an unexpected exception"


def make_client(root: Path, *, readonly: bool = False) -> Client:
    client = Client(NinePServer(root, readonly=readonly))
    client.version()
    client.attach(ROOT)
    return client


@pytest.fixture
def c(share: Path) -> Iterator[Client]:
    client = make_client(share)
    yield client
    client.server.close()
    assert_canary_safe(share.parent, client)


def assert_canary_safe(tmp_path: Path, client: Client) -> None:
    canary = tmp_path / "outside" / "canary"
    assert canary.read_bytes() == SECRET
    assert stat.S_IMODE(canary.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path / "outside")) == ["canary"]
    assert not any(SECRET in reply for reply in client.replies)


# -- session -----------------------------------------------------------------------


def test_version_negotiates_msize_and_dialect(share: Path) -> None:
    client = Client(NinePServer(share))
    assert client.version(8192) == (8192, b"9P2000.L")
    assert client.server.max_response == 8192
    msize, _ = client.version(1 << 30)  # never more than the client offers or we allow
    assert msize == ninep.MAX_MSIZE == client.server.max_response
    assert client.version(65536, "9P2000.u") == (65536, b"unknown")
    assert client.version(65536, "9P2000") == (65536, b"unknown")
    assert error_of(client.version, 100) == E["EINVAL"]
    client.server.close()


def test_attach_gives_the_root_and_rejects_other_trees(c: Client, share: Path) -> None:
    root = c.getattr(ROOT)
    assert root["qid"].type == QTDIR
    assert root["qid"].path == share.stat().st_ino
    assert error_of(c.attach, 2, aname="/etc") == E["ENOENT"]
    assert c.attach(2, aname="/") == root["qid"]
    assert error_of(c.attach, 2) == E["EBADF"]  # fid 2 is in use


def test_version_starts_a_new_session(c: Client) -> None:
    c.walk_to(2, "hello.txt")
    c.version()
    assert error_of(c.getattr, 2) == E["EBADF"]


# -- lookup and attributes -------------------------------------------------------------


def test_walk_and_getattr_match_the_host(c: Client, share: Path) -> None:
    qid = c.walk_to(2, "sub", "inner.txt")
    st = (share / "sub" / "inner.txt").stat()
    assert qid == Qid(QTFILE, 0, st.st_ino)
    attr = c.getattr(2)
    assert attr["qid"] == qid
    assert (attr["mode"], attr["size"], attr["nlink"]) == (st.st_mode, 5, 1)
    assert (attr["uid"], attr["gid"]) == (st.st_uid, st.st_gid)
    assert attr["mtime_ns"] == st.st_mtime_ns
    assert c.walk(ROOT, 3, "sub")[0].type == QTDIR


def test_walk_zero_names_clones_and_walk_in_place_moves(c: Client) -> None:
    assert c.walk(ROOT, 2) == []
    assert c.getattr(2)["qid"] == c.getattr(ROOT)["qid"]
    c.walk(2, 2, "sub")  # newfid == fid: the fid itself moves
    assert c.getattr(2)["qid"].type == QTDIR
    assert c.getattr(ROOT)["qid"] != c.getattr(2)["qid"]


def test_partial_walk_returns_the_qids_walked_and_creates_no_fid(c: Client) -> None:
    assert len(c.walk(ROOT, 2, "sub", "missing", "deeper")) == 1
    assert error_of(c.getattr, 2) == E["EBADF"]
    assert error_of(c.walk, ROOT, 2, "missing") == E["ENOENT"]  # first name fails: error
    assert error_of(c.walk, ROOT, 2, *["sub"] * 17) == E["EINVAL"]  # at most 16 names


def test_walk_through_a_file_stops_there(c: Client) -> None:
    assert len(c.walk(ROOT, 2, "hello.txt", "x")) == 1


def test_fid_errors(c: Client) -> None:
    assert error_of(c.getattr, 99) == E["EBADF"]
    assert error_of(c.clunk, 99) == E["EBADF"]
    c.walk_to(2, "sub")
    assert error_of(c.walk, ROOT, 2, "hello.txt") == E["EBADF"]  # newfid in use
    assert error_of(c.walk, ROOT, NOFID, "hello.txt") == E["EBADF"]
    c.clunk(2)
    assert error_of(c.getattr, 2) == E["EBADF"]


def test_statfs(c: Client, share: Path) -> None:
    magic, bsize, blocks, bfree, bavail, files, ffree, _fsid, namelen = c.statfs(ROOT)
    host = os.statvfs(share)
    assert magic == 0x01021997
    assert (bsize, blocks, files) == (host.f_frsize, host.f_blocks, host.f_files)
    assert bavail <= bfree <= blocks and ffree <= files
    assert namelen == host.f_namemax


# -- reading and writing ---------------------------------------------------------------


def test_read_a_host_file(c: Client) -> None:
    c.walk_to(2, "hello.txt")
    c.lopen(2)
    assert c.read(2, 0, 100) == b"hello, world\n"
    assert c.read(2, 7, 5) == b"world"
    assert c.read(2, 1000, 10) == b""
    assert error_of(c.read, ROOT, 0, 10) == E["EBADF"]  # not opened
    assert error_of(c.write, 2, 0, b"x") == E["EBADF"]  # opened read-only


def test_read_count_is_clamped_to_msize(c: Client, share: Path) -> None:
    (share / "big").write_bytes(bytes(range(256)) * 1024)  # 256 KiB
    c.version(8192)
    c.attach(ROOT)
    c.walk_to(2, "big")
    c.lopen(2)
    assert c.read(2, 0, 0xFFFFFFFF) == (bytes(range(256)) * 32)[: 8192 - 11]


def test_create_and_write_show_up_on_the_host(c: Client, share: Path) -> None:
    c.walk_to(2, "sub")
    old_umask = os.umask(0o077)  # the host's umask must not matter
    try:
        qid = c.lcreate(2, "new.txt", O_RDWR | O_CREAT, 0o666)  # fid 2 is now the open file
    finally:
        os.umask(old_umask)
    host = share / "sub" / "new.txt"
    assert qid == Qid(QTFILE, 0, host.stat().st_ino)
    assert stat.S_IMODE(host.stat().st_mode) == 0o666  # exact: the guest applied its umask
    assert c.write(2, 0, b"written by the guest") == 20
    assert c.write(2, 8, b"BY") == 2
    assert host.read_bytes() == b"written BY the guest"
    assert c.read(2, 0, 7) == b"written"
    c.fsync(2)
    c.fsync(2, datasync=1)
    c.clunk(2)
    c.walk_to(3, "sub")
    assert error_of(c.lcreate, 3, "new.txt", O_RDWR | O_CREAT | O_EXCL, 0o600) == E["EEXIST"]
    c.lcreate(3, "new.txt", O_WRONLY | O_CREAT | O_TRUNC, 0o600)  # existing: mode kept
    assert host.read_bytes() == b""
    assert stat.S_IMODE(host.stat().st_mode) == 0o666


def test_lopen_truncate_and_append(c: Client, share: Path) -> None:
    c.walk_to(2, "hello.txt")
    c.lopen(2, O_WRONLY | O_TRUNC)
    assert (share / "hello.txt").read_bytes() == b""
    c.walk_to(3, "hello.txt")
    c.lopen(3, O_WRONLY | O_APPEND)
    c.write(3, 0, b"one ")
    c.write(3, 0, b"two")
    assert (share / "hello.txt").read_bytes() == b"one two"
    assert error_of(c.lopen, 3) == E["EBADF"]  # already open


def test_write_count_must_match_the_data(c: Client) -> None:
    c.walk_to(2, "hello.txt")
    c.lopen(2, O_RDWR)
    header = struct.pack("<IQI", 2, 0, 10)
    for payload in (b"short", b"much too long for ten"):
        assert error_of(c.rpc, TWRITE, header + payload) == E["EPROTO"]
    assert c.read(2, 0, 100) == b"hello, world\n"


# -- directories -------------------------------------------------------------------------


def test_mkdir_and_readdir_resume_across_small_calls(c: Client, share: Path) -> None:
    qid = c.mkdir(ROOT, "d", 0o750)
    d = share / "d"
    assert qid == Qid(QTDIR, 0, d.stat().st_ino)
    assert stat.S_IMODE(d.stat().st_mode) == 0o750
    c.mkdir(ROOT, "shared", stat.S_IFDIR | 0o2775)  # Linux sends the type bits too
    assert stat.S_IMODE((share / "shared").stat().st_mode) == 0o2775
    names = {f"file-{i:03}" for i in range(40)}
    for name in names:
        (d / name).write_bytes(b"x")
    (d / "subdir").mkdir()
    (d / "link").symlink_to("file-000")

    c.walk_to(2, "d")
    c.lopen(2, O_RDONLY | O_DIRECTORY)
    seen: dict[bytes, tuple[Qid, int]] = {}
    offset, calls = 0, 0
    while entries := c.readdir(2, offset, 120):  # room for ~3 entries per call
        calls += 1
        for qid, next_offset, dtype, name in entries:
            assert name not in seen
            seen[name] = (qid, dtype)
            offset = next_offset
        if calls == 5:  # a new file mid-scan must not disturb the resumed scan
            (d / "late-arrival").write_bytes(b"")
    assert calls > 10
    expected = {b".", b"..", b"subdir", b"link"} | {n.encode() for n in names}
    assert set(seen) == expected
    assert seen[b"."] == (c.getattr(2)["qid"], DT_DIR)
    assert seen[b".."] == (c.getattr(ROOT)["qid"], DT_DIR)
    assert seen[b"subdir"][1] == DT_DIR and seen[b"subdir"][0].type == QTDIR
    assert seen[b"link"][1] == DT_LNK and seen[b"link"][0].type == QTSYMLINK
    assert seen[b"file-007"] == (Qid(QTFILE, 0, (d / "file-007").stat().st_ino), DT_REG)

    # offset 0 rewinds and lists the directory afresh
    again = []
    offset = 0
    while entries := c.readdir(2, offset, 4096):
        again += [e[3] for e in entries]
        offset = entries[-1][1]
    assert set(again) == expected | {b"late-arrival"}


def test_readdir_of_the_root_and_of_non_directories(c: Client) -> None:
    c.walk_to(2)
    c.lopen(2)
    names = {e[3] for e in c.readdir(2, 0, 8192)}
    assert names == {b".", b"..", b"hello.txt", b"sub"}
    assert error_of(c.readdir, ROOT, 0, 8192) == E["EBADF"]  # not opened
    c.walk_to(3, "hello.txt")
    c.lopen(3)
    assert error_of(c.readdir, 3, 0, 8192) == E["ENOTDIR"]
    assert c.readdir(2, 0, 5) == []  # no room for even one entry
    assert error_of(c.read, 2, 0, 100) == E["EISDIR"]


def test_rename_moves_the_file_and_its_fids(c: Client, share: Path) -> None:
    c.walk_to(2, "sub", "inner.txt")
    c.walk_to(3, "sub")
    c.rename(3, ROOT, "moved")  # Trename: fid, new directory fid, new name
    assert not (share / "sub").exists()
    assert (share / "moved" / "inner.txt").read_bytes() == b"inner"
    c.lopen(2)  # fid 2 followed its directory
    assert c.read(2, 0, 10) == b"inner"
    c.renameat(3, "inner.txt", ROOT, "top.txt")
    assert (share / "top.txt").read_bytes() == b"inner"
    assert c.read(2, 0, 10) == b"inner"  # the open file stays readable
    assert c.getattr(2)["size"] == 5
    assert error_of(c.rename, ROOT, 3, "x") == E["EBUSY"]  # the root stays put


def test_unlinkat_and_remove(c: Client, share: Path) -> None:
    c.walk_to(2, "sub")
    assert error_of(c.unlinkat, ROOT, "sub") == E["EISDIR"]
    assert error_of(c.unlinkat, ROOT, "sub", AT_REMOVEDIR) == E["ENOTEMPTY"]
    c.unlinkat(2, "inner.txt")
    c.unlinkat(ROOT, "sub", AT_REMOVEDIR)
    assert not (share / "sub").exists()
    c.walk_to(3, "hello.txt")
    c.remove(3)
    assert not (share / "hello.txt").exists()
    assert error_of(c.getattr, 3) == E["EBADF"]  # Tremove clunks
    c.walk_to(4)
    assert error_of(c.remove, 4) == E["EBUSY"]
    assert error_of(c.getattr, 4) == E["EBADF"]  # clunked even though it failed
    assert share.is_dir()


# -- setattr -----------------------------------------------------------------------------


def test_setattr_chmod_truncate_and_times(c: Client, share: Path) -> None:
    host = share / "hello.txt"
    c.walk_to(2, "hello.txt")
    c.setattr(2, ATTR_MODE, mode=stat.S_IFREG | 0o4751)
    assert stat.S_IMODE(host.stat().st_mode) == 0o4751
    c.setattr(2, ATTR_SIZE, size=5)
    assert host.read_bytes() == b"hello"
    c.setattr(2, ATTR_SIZE, size=8)
    assert host.read_bytes() == b"hello\0\0\0"

    c.setattr(2, ATTR_ATIME | ATTR_ATIME_SET | ATTR_MTIME | ATTR_MTIME_SET,
              atime=(1_000_000_000, 5), mtime=(1_234_567_890, 123_456_789))  # fmt: skip
    st = host.stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (
        1_000_000_000 * 10**9 + 5,
        1_234_567_890_123_456_789,
    )
    before = time.time_ns()
    c.setattr(2, ATTR_MTIME)  # without MTIME_SET: "now"; atime untouched
    st = host.stat()
    assert st.st_mtime_ns >= before - 10**9  # coarse clocks may lag a tick
    assert st.st_atime_ns == 1_000_000_000 * 10**9 + 5
    assert c.getattr(2)["mtime_ns"] == st.st_mtime_ns
    assert error_of(c.setattr, 2, ATTR_MTIME | ATTR_MTIME_SET, mtime=(0, 10**9)) == E["EINVAL"]


def test_setattr_owner(c: Client, share: Path) -> None:
    st = (share / "hello.txt").stat()
    c.walk_to(2, "hello.txt")
    c.setattr(2, ATTR_UID | ATTR_GID, uid=st.st_uid, gid=st.st_gid)  # always allowed
    if os.geteuid() == 0:
        c.setattr(2, ATTR_GID, gid=4242)
        assert (share / "hello.txt").stat().st_gid == 4242


def test_setattr_through_an_open_unlinked_file(c: Client, share: Path) -> None:
    c.walk_to(2, "hello.txt")
    c.lopen(2, O_RDWR)
    (share / "hello.txt").unlink()
    c.setattr(2, ATTR_SIZE, size=2)
    assert c.read(2, 0, 10) == b"he"
    assert c.getattr(2)["size"] == 2


# -- links and special files ----------------------------------------------------------------


def test_symlink_and_readlink(c: Client, share: Path) -> None:
    qid = c.symlink(ROOT, "ln", "sub/inner.txt")
    host = share / "ln"
    assert os.readlink(host) == "sub/inner.txt"
    assert qid == Qid(QTSYMLINK, 0, host.lstat().st_ino)
    c.walk_to(2, "ln")
    assert c.readlink(2) == b"sub/inner.txt"
    assert c.getattr(2)["mode"] == host.lstat().st_mode  # the link, not its target
    assert error_of(c.readlink, ROOT) == E["EINVAL"]


def test_hard_link(c: Client, share: Path) -> None:
    c.walk_to(2, "hello.txt")
    c.walk_to(3, "sub")
    c.link(3, 2, "again.txt")  # Tlink: directory fid first, then the file
    assert (share / "sub" / "again.txt").stat().st_ino == (share / "hello.txt").stat().st_ino
    assert c.getattr(2)["nlink"] == 2
    assert error_of(c.link, 3, ROOT, "root-link") == E["EPERM"]


def test_mknod_makes_files_and_fifos_but_no_devices(c: Client, share: Path) -> None:
    c.mknod(ROOT, "plain", stat.S_IFREG | 0o600)
    assert (share / "plain").is_file()
    c.mknod(ROOT, "fifo", stat.S_IFIFO | 0o620)
    assert stat.S_ISFIFO((share / "fifo").stat().st_mode)
    assert stat.S_IMODE((share / "fifo").stat().st_mode) == 0o620
    assert error_of(c.mknod, ROOT, "null", stat.S_IFCHR | 0o666, 1, 3) == E["EPERM"]
    assert error_of(c.mknod, ROOT, "disk", stat.S_IFBLK | 0o666, 8, 0) == E["EPERM"]
    assert not (share / "null").exists()
    c.walk_to(2, "fifo")
    assert error_of(c.lopen, 2) == E["EOPNOTSUPP"]  # and it did not block


def test_xattrs_locks_and_flush(c: Client) -> None:
    c.walk_to(2, "hello.txt")
    assert c.xattrwalk(2, 3, "") == 0  # listxattr: empty
    assert c.read(3, 0, 100) == b""
    c.clunk(3)
    assert error_of(c.xattrwalk, 2, 3, "security.selinux") == E["ENODATA"]
    body = struct.pack("<I", 2) + s("user.x") + struct.pack("<QI", 1, 0)
    assert error_of(c.rpc, TXATTRCREATE, body) == E["EOPNOTSUPP"]

    c.lopen(2, O_RDWR)
    lock = struct.pack("<IBIQQI", 2, 1, 0, 0, 100, 77) + s("guest")
    r = c.rpc(TLOCK, lock)
    assert r.u8() == 0  # P9_LOCK_SUCCESS
    r = c.rpc(TGETLOCK, struct.pack("<IBQQI", 2, 1, 10, 20, 77) + s("guest"))
    assert r.take("BQQI") == (2, 10, 20, 77)  # F_UNLCK: nobody holds it
    assert r.s() == b"guest"
    c.empty(TFLUSH, struct.pack("<H", 5))


# -- read-only shares ---------------------------------------------------------------------


def test_readonly_share_refuses_every_change(share: Path) -> None:
    before = {p: p.read_bytes() for p in share.rglob("*") if p.is_file()}
    c = make_client(share, readonly=True)
    c.walk_to(2, "hello.txt")
    c.walk_to(3, "sub")
    c.walk_to(4, "sub", "inner.txt")
    erofs = E["EROFS"]
    assert error_of(c.lopen, 2, O_WRONLY) == erofs
    assert error_of(c.lopen, 2, O_RDWR) == erofs
    assert error_of(c.lopen, 2, O_RDONLY | O_TRUNC) == erofs
    assert error_of(c.lopen, 2, O_RDONLY | O_CREAT) == erofs
    assert error_of(c.lcreate, 3, "new", O_RDWR | O_CREAT, 0o644) == erofs
    assert error_of(c.mkdir, 3, "new") == erofs
    assert error_of(c.symlink, 3, "new", "x") == erofs
    assert error_of(c.mknod, 3, "new", stat.S_IFREG | 0o644) == erofs
    assert error_of(c.link, 3, 2, "new") == erofs
    assert error_of(c.rename, 2, 3, "new") == erofs
    assert error_of(c.renameat, ROOT, "hello.txt", 3, "new") == erofs
    assert error_of(c.unlinkat, 3, "inner.txt") == erofs
    assert error_of(c.setattr, 2, ATTR_MODE, mode=0o777) == erofs
    assert error_of(c.setattr, 2, ATTR_SIZE, size=0) == erofs
    assert error_of(c.remove, 4) == erofs
    c.lopen(2)  # reading still works
    assert c.read(2, 0, 5) == b"hello"
    assert error_of(c.write, 2, 0, b"x") == erofs
    assert {p: p.read_bytes() for p in share.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in share.rglob("*")) == ["hello.txt", "inner.txt", "sub"]
    c.server.close()


# -- confinement --------------------------------------------------------------------------


def test_dotdot_at_the_root_stays_at_the_root(c: Client) -> None:
    root = c.getattr(ROOT)["qid"]
    assert c.walk(ROOT, 2, "..", "..") == [root, root]
    assert c.walk(ROOT, 3, "sub", "..", "..", "..")[1:] == [root, root, root]
    c.lopen(2)
    names = {e[3] for e in c.readdir(2, 0, 8192)}
    assert names == {b".", b"..", b"hello.txt", b"sub"}  # not tmp_path's "outside"
    assert c.readdir(2, 0, 8192)[1][0] == root  # ".." of the root is the root


def test_names_must_be_single_components(c: Client) -> None:
    einval = E["EINVAL"]
    for bad in ("sub/inner.txt", "../outside", "/etc", "", ".", "a\0b"):
        assert error_of(c.walk, ROOT, 2, bad) == einval
        assert error_of(c.mkdir, ROOT, bad) == einval
        assert error_of(c.lcreate, ROOT, bad, O_RDWR | O_CREAT, 0o644) == einval
        assert error_of(c.symlink, ROOT, bad, "x") == einval
        assert error_of(c.unlinkat, ROOT, bad) == einval
        assert error_of(c.renameat, ROOT, "hello.txt", ROOT, bad) == einval
    for bad in ("..", "../x", "../outside/canary"):
        assert error_of(c.lcreate, ROOT, bad, O_RDWR | O_CREAT, 0o644) == einval
        assert error_of(c.renameat, ROOT, bad, ROOT, "x") == einval
        assert error_of(c.unlinkat, ROOT, bad, AT_REMOVEDIR) == einval
        assert error_of(c.mknod, ROOT, bad, stat.S_IFREG) == einval
    c.walk_to(2, "hello.txt")
    assert error_of(c.rename, 2, ROOT, "../x") == einval
    assert error_of(c.link, ROOT, 2, "../x") == einval
    assert error_of(c.symlink, ROOT, "ok", "bad\0target") == einval


@pytest.fixture
def traps(share: Path) -> Path:
    """Symlinks inside the share that point out of it."""
    (share / "etc").symlink_to("/etc")
    (share / "canary").symlink_to("../outside/canary")
    (share / "outdir").symlink_to("../outside")
    (share / "abs-canary").symlink_to(share.parent / "outside" / "canary")
    return share


def test_symlinks_out_of_the_share_cannot_be_followed(c: Client, traps: Path) -> None:
    qid = c.walk_to(2, "etc")
    assert qid.type == QTSYMLINK  # walk sees the link itself (lstat semantics)
    assert c.readlink(2) == b"/etc"  # link text is returned verbatim
    assert error_of(c.lopen, 2) == E["ELOOP"]
    assert error_of(c.lopen, 2, O_RDONLY | O_DIRECTORY) in NOT_FOLLOWED
    assert len(c.walk(ROOT, 3, "etc", "passwd")) == 1  # cannot walk through it

    for name in ("canary", "abs-canary"):
        c.walk_to(4, name)
        assert error_of(c.lopen, 4) == E["ELOOP"]
        assert error_of(c.lopen, 4, O_WRONLY | O_TRUNC) == E["ELOOP"]
        assert error_of(c.setattr, 4, ATTR_SIZE, size=0) == E["EINVAL"]
        assert error_of(c.setattr, 4, ATTR_MODE, mode=0o777) == E["EOPNOTSUPP"]
        c.setattr(4, ATTR_MTIME | ATTR_MTIME_SET, mtime=(1, 0))  # changes the link itself
        assert os.lstat(traps / name).st_mtime == 1
        attr = c.getattr(4)
        assert attr["size"] == len(os.readlink(traps / name))  # the link's, not the canary's
        c.clunk(4)

    # creating over a link must not write through it either
    assert error_of(c.lcreate, ROOT, "canary", O_WRONLY | O_CREAT | O_TRUNC, 0o666) == E["ELOOP"]
    assert error_of(c.lcreate, ROOT, "canary", O_RDWR | O_CREAT | O_EXCL, 0o666) == E["EEXIST"]
    assert error_of(c.mkdir, ROOT, "outdir") == E["EEXIST"]
    assert error_of(c.mknod, ROOT, "canary", stat.S_IFREG | 0o666) == E["EEXIST"]

    c.walk_to(5, "outdir")
    assert error_of(c.walk, 5, 6, "canary") in NOT_FOLLOWED
    assert error_of(c.lcreate, 5, "planted", O_RDWR | O_CREAT, 0o644) in NOT_FOLLOWED
    assert error_of(c.mkdir, 5, "planted") in NOT_FOLLOWED
    assert error_of(c.symlink, 5, "planted", "x") in NOT_FOLLOWED
    assert error_of(c.unlinkat, 5, "canary") in NOT_FOLLOWED
    assert error_of(c.renameat, 5, "canary", ROOT, "stolen") in NOT_FOLLOWED
    c.walk_to(7, "hello.txt")
    assert error_of(c.link, 5, 7, "planted") in NOT_FOLLOWED
    assert error_of(c.lopen, 5, O_RDONLY | O_DIRECTORY) in NOT_FOLLOWED


def test_renaming_a_symlink_moves_the_link_not_its_target(c: Client, traps: Path) -> None:
    c.renameat(ROOT, "outdir", ROOT, "renamed")
    assert os.readlink(traps / "renamed") == "../outside"
    c.unlinkat(ROOT, "renamed")  # removes the link only
    c.walk_to(2, "canary")
    c.link(ROOT, 2, "hardlinked")  # a hard link to the symlink, not to the canary
    assert (traps / "hardlinked").is_symlink()
    c.remove(2)
    assert not (traps / "canary").is_symlink()


def test_a_directory_swapped_for_a_symlink_is_not_followed(c: Client, share: Path) -> None:
    """The guest walked to sub/ and sub/inner.txt; then sub became a symlink out of the share."""
    c.walk_to(2, "sub")
    c.walk_to(3, "sub", "inner.txt")
    (share / "sub").rename(share / "sub.real")
    (share / "sub").symlink_to("../outside")
    (share.parent / "outside" / "inner.txt").write_bytes(SECRET)  # bait with the walked name

    assert error_of(c.lopen, 3) in NOT_FOLLOWED
    assert error_of(c.getattr, 3) in NOT_FOLLOWED
    assert error_of(c.setattr, 3, ATTR_SIZE, size=0) in NOT_FOLLOWED
    assert error_of(c.remove, 3) in NOT_FOLLOWED
    assert error_of(c.lopen, 2) == E["ELOOP"]
    assert error_of(c.lcreate, 2, "planted", O_RDWR | O_CREAT, 0o644) in NOT_FOLLOWED
    assert error_of(c.walk, 2, 4, "inner.txt") in NOT_FOLLOWED
    assert error_of(c.unlinkat, 2, "inner.txt") in NOT_FOLLOWED
    assert (share.parent / "outside" / "inner.txt").read_bytes() == SECRET
    (share.parent / "outside" / "inner.txt").unlink()


def test_an_open_directory_swapped_for_a_symlink_keeps_listing_the_real_one(
    c: Client, share: Path
) -> None:
    c.walk_to(2, "sub")
    c.lopen(2)
    (share / "sub").rename(share / "sub.real")
    (share / "sub").symlink_to("../outside")
    assert {e[3] for e in c.readdir(2, 0, 8192)} == {b".", b"..", b"inner.txt"}


def test_hosts_without_o_path_are_confined_too(
    c: Client, traps: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without O_PATH and /proc (macOS, BSD) directories are walked with read-only fds."""
    monkeypatch.setattr(ninep, "_DIR_FLAGS", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    monkeypatch.setattr(ninep, "_PIN_BY_PROC", False)
    c.walk_to(2, "sub", "inner.txt")
    c.setattr(2, ATTR_MODE | ATTR_SIZE, mode=0o600, size=2)
    assert (traps / "sub" / "inner.txt").read_bytes() == b"in"
    assert stat.S_IMODE((traps / "sub" / "inner.txt").stat().st_mode) == 0o600
    c.walk_to(3, "canary")
    assert error_of(c.setattr, 3, ATTR_MODE, mode=0o777) == E["ELOOP"]
    assert error_of(c.setattr, 3, ATTR_SIZE, size=0) == E["ELOOP"]
    assert len(c.walk(ROOT, 4, "outdir", "canary")) == 1
    (traps / "sub").rename(traps / "sub.real")
    (traps / "sub").symlink_to("../outside")
    assert error_of(c.lopen, 2) in NOT_FOLLOWED


# -- hostile messages ------------------------------------------------------------------------


def rlerror(reply: bytes) -> tuple[int, int]:
    """(tag, errno) of an Rlerror reply."""
    size, rtype, tag, code = struct.unpack("<IBHI", reply)
    assert (size, rtype) == (11, RLERROR)
    return tag, code


def test_unreadable_and_lying_frames(c: Client) -> None:
    assert rlerror(c.raw(b"")) == (0xFFFF, E["EPROTO"])
    assert rlerror(c.raw(b"\x07\x00\x00")) == (0xFFFF, E["EPROTO"])
    clunk = frame(TCLUNK, 9, struct.pack("<I", ROOT))
    assert rlerror(c.raw(struct.pack("<I", 400) + clunk[4:])) == (9, E["EPROTO"])  # size too big
    assert rlerror(c.raw(struct.pack("<I", 3) + clunk[4:])) == (9, E["EPROTO"])  # below header
    assert rlerror(c.raw(struct.pack("<I", 9) + clunk[4:])) == (9, E["EPROTO"])  # cuts the fid
    assert rlerror(c.raw(frame(255, 10, b"whatever"))) == (10, E["EOPNOTSUPP"])
    assert rlerror(c.raw(frame(TOPEN_LEGACY, 11, struct.pack("<IB", ROOT, 0)))) == (
        11,
        E["EOPNOTSUPP"],
    )
    assert rlerror(c.raw(frame(TCLUNK, 12, struct.pack("<I", ROOT) + b"junk"))) == (
        12,
        E["EPROTO"],
    )
    # bytes after `size` are not part of the message (a descriptor chain can be longer)
    assert c.raw(frame(TFLUSH, 13, b"\0\0") + b"padding") == frame(TFLUSH + 1, 13, b"")
    c.getattr(ROOT)  # nothing above clunked the root


def test_lying_lengths_inside_the_body(c: Client) -> None:
    eproto = E["EPROTO"]
    walk = struct.pack("<IIH", ROOT, 2, 3) + s("sub")  # promises 3 names, has 1
    assert error_of(c.rpc, TWALK, walk) == eproto
    assert error_of(c.rpc, TWALK, struct.pack("<IIH", ROOT, 2, 1) + b"\xff\xffsub") == eproto
    assert error_of(c.rpc, TATTACH, struct.pack("<II", 5, NOFID)) == eproto
    assert error_of(c.rpc, TWRITE, struct.pack("<IQI", ROOT, 0, 0xFFFFFFFF) + b"x") == eproto
    assert error_of(c.rpc, TWALK, struct.pack("<IIH", ROOT, 2, 0xFFFF)) == E["EINVAL"]


def test_huge_and_negative_looking_numbers(c: Client, share: Path) -> None:
    c.walk_to(2, "hello.txt")
    c.lopen(2, O_RDWR)
    assert error_of(c.read, 2, 2**64 - 1, 10) == E["EINVAL"]
    assert error_of(c.write, 2, 2**63, b"x") == E["EINVAL"]
    assert error_of(c.setattr, 2, ATTR_SIZE, size=2**64 - 1) == E["EINVAL"]
    assert error_of(c.lopen, 2, 0xFFFFFFFF) == E["EBADF"]  # already open
    c.walk_to(3, "hello.txt")
    assert error_of(c.lopen, 3, 3) == E["EINVAL"]  # access mode 3 does not exist
    c.walk_to(4)
    c.lopen(4)
    assert c.readdir(4, 2**64 - 1, 0xFFFFFFFF) == []
    big = c.readdir(4, 0, 0xFFFFFFFF)
    assert {e[3] for e in big} == {b".", b"..", b"hello.txt", b"sub"}
    assert (share / "hello.txt").read_bytes() == b"hello, world\n"


def test_random_garbage_never_raises(c: Client) -> None:
    rng = random.Random(9)
    types = [*range(6, 80, 2), *range(100, 128, 2), 0, 255]
    for _ in range(3000):
        body = rng.randbytes(rng.choice((0, 1, 4, 8, 13, 30)))
        if rng.random() < 0.5:  # plausible fids make handlers go further
            body = struct.pack("<II", rng.choice((ROOT, 2, 3)), rng.choice((2, 3, 4))) + body
        message = frame(rng.choice(types), rng.randrange(0xFFFF), body)
        if rng.random() < 0.2:
            message = message[: rng.randrange(len(message) + 1)]
        reply = c.raw(message)
        assert struct.unpack_from("<I", reply)[0] == len(reply)
    # a randomly created or removed thing can only ever be inside the share
    assert_canary_safe(Path(c.server.root).parent, c)


# -- resources ---------------------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_clunk_and_reset_close_host_fds(share: Path) -> None:
    base = open_fds()
    c = make_client(share)
    with_root = open_fds()
    for fid in range(2, 12):
        c.walk_to(fid, "hello.txt")
        c.lopen(fid)
    assert open_fds() == with_root + 10
    c.clunk(2)
    assert open_fds() == with_root + 9
    c.server.reset()
    assert open_fds() == with_root
    assert error_of(c.getattr, ROOT) == E["EBADF"]  # every fid is gone
    c.version()
    c.attach(ROOT)
    c.walk_to(2, "sub")
    c.lopen(2)
    c.server.close()
    assert open_fds() == base


def test_fid_table_and_open_files_are_capped(c: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ninep, "MAX_FIDS", 8)
    monkeypatch.setattr(ninep, "MAX_OPEN", 3)
    for fid in range(2, 9):
        c.walk_to(fid, "hello.txt")
    assert error_of(c.walk, ROOT, 9, "hello.txt") == E["ENFILE"]
    assert error_of(c.xattrwalk, ROOT, 9, "") == E["ENFILE"]
    for fid in range(2, 5):
        c.lopen(fid)
    assert error_of(c.lopen, 5) == E["ENFILE"]
    c.clunk(2)
    c.lopen(5)
    c.walk_to(2, "hello.txt")


# -- configuration -----------------------------------------------------------------------------


def test_bad_roots_are_refused_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(NinePConfigError, match="does not exist; create it"):
        NinePServer(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NinePConfigError, match="not a directory"):
        NinePServer(tmp_path / "file")
    assert issubclass(NinePConfigError, ValueError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any directory")
def test_unreadable_root_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        with pytest.raises(NinePConfigError, match="chmod u\\+rx"):
            NinePServer(locked)
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(os.uname().sysname != "Linux", reason="host and guest errnos agree")
def test_errno_table_is_linux() -> None:
    for name, number in LINUX_ERRNO.items():
        if hasattr(errno, name):
            assert getattr(errno, name) == number, name
