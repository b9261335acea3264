"""A 9P2000.L file server for one host directory: the protocol, no transport.

`NinePServer.handle` takes one T-message and returns one R-message, in the
little-endian wire format Linux's net/9p client speaks (`mount -t 9p -o
trans=virtio,version=9p2000.L`). The virtio-9p device only carries bytes.

Confinement. The guest must never reach anything outside `root`, so:

* A fid is the tuple of its path components below `root`, never a host path
  string and never a held O_PATH fd. Every operation re-resolves it from the
  root fd one component at a time with ``openat(O_PATH | O_DIRECTORY |
  O_NOFOLLOW)`` and acts on the last component with an ``*at`` call that does
  not follow symlinks. A directory swapped for a symlink (even between two
  messages) therefore fails with ENOTDIR/ELOOP instead of leading outside.
  Components keep `..` lexical: the parent of the root is the root.
  Paths rather than fds also keep host fds bounded by open files, not by the
  number of fids a guest can create (Linux keeps a fid per cached dentry);
  renames update the paths of the fids below the renamed entry, as QEMU does.
* Only Tlopen/Tlcreate hold a host fd, opened with O_NOFOLLOW and O_NONBLOCK
  and kept only for regular files and directories, so a symlink is never
  opened through and a fifo or device node in the share never blocks or
  reaches a host driver.
* chmod and truncate, which have no no-follow ``*at`` form, act through an
  O_PATH fd of the entry itself (``/proc/self/fd/N``), after checking it is no
  symlink.
* Names from the guest must be single components: non-empty, no "/", no NUL,
  not "." or "..", except that Twalk accepts "..".

Guest-controlled sizes are clamped to the negotiated msize, the fid table and
the number of open files are capped, and every malformed message gets an
Rlerror: `handle` never raises for anything the guest sends.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["LINUX_ERRNO", "NinePConfigError", "NinePServer"]

log = logging.getLogger(__name__)

# Message types (include/net/9p/9p.h). Each R-type is its T-type + 1.
RLERROR = 7
TSTATFS = 8
TLOPEN = 12
TLCREATE = 14
TSYMLINK = 16
TMKNOD = 18
TRENAME = 20
TREADLINK = 22
TGETATTR = 24
TSETATTR = 26
TXATTRWALK = 30
TXATTRCREATE = 32
TREADDIR = 40
TFSYNC = 50
TLOCK = 52
TGETLOCK = 54
TLINK = 70
TMKDIR = 72
TRENAMEAT = 74
TUNLINKAT = 76
TVERSION = 100
TATTACH = 104
TFLUSH = 108
TWALK = 110
TREAD = 116
TWRITE = 118
TCLUNK = 120
TREMOVE = 122

NOTAG = 0xFFFF
NOFID = 0xFFFFFFFF
NONUNAME = 0xFFFFFFFF
MAXWELEM = 16  # names per Twalk
HEADER = 7  # size[4] type[1] tag[2]
IOHDR = HEADER + 4  # Rread/Rreaddir: header + count[4]

MIN_MSIZE = 4096  # Linux refuses less, and every fixed-size reply fits in it
MAX_MSIZE = 1 << 20  # Linux/virtio asks for ~500 KiB at most
DEFAULT_MSIZE = 8192  # until Tversion negotiates
MAX_FIDS = 65536  # guest memory use on the host is bounded by this
MAX_OPEN = 4096  # host fds held for the guest; the process rlimit may stop it sooner

QTDIR = 0x80
QTSYMLINK = 0x02
QTFILE = 0x00

# Tgetattr: we always fill the basic set (mode..blocks, all four times).
STATS_BASIC = 0x7FF
# Tsetattr valid bits.
ATTR_MODE = 0x1
ATTR_UID = 0x2
ATTR_GID = 0x4
ATTR_SIZE = 0x8
ATTR_ATIME = 0x10
ATTR_MTIME = 0x20
ATTR_ATIME_SET = 0x80
ATTR_MTIME_SET = 0x100
AT_REMOVEDIR = 0x200  # Tunlinkat flag (Linux value, as sent on the wire)
V9FS_MAGIC = 0x01021997
LOCK_SUCCESS = 0
F_UNLCK = 2  # Rgetlock type: "nobody holds a lock here"
DT_DIR = stat.S_IFDIR >> 12  # readdir d_type is S_IFMT >> 12 (DT_REG 8, DT_LNK 10...)
_U64 = (1 << 64) - 1

# Tlopen/Tlcreate flags are Linux's generic O_* values (P9_DOTL_*); map each
# to the host's own constant by name. CREAT/EXCL are handled by the callers;
# NOCTTY/CLOEXEC/LARGEFILE/NOFOLLOW are implied, DIRECT (alignment rules) and
# NOATIME (owner-only) are dropped as hints.
DOTL_ACCMODE = 0o3
DOTL_CREAT = 0o100
DOTL_EXCL = 0o200
DOTL_TRUNC = 0o1000
_DOTL_TO_HOST = {
    0o1000: "O_TRUNC",
    0o2000: "O_APPEND",
    0o4000: "O_NONBLOCK",
    0o10000: "O_DSYNC",
    0o200000: "O_DIRECTORY",
    0o4000000: "O_SYNC",
}
_HOST_ACCMODE = (os.O_RDONLY, os.O_WRONLY, os.O_RDWR)

# Linux errno values (asm-generic/errno*.h). The guest is Linux; host errnos
# are translated through their names so a macOS/BSD host reports correctly.
LINUX_ERRNO: dict[str, int] = {
    "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5, "ENXIO": 6,
    "E2BIG": 7, "ENOEXEC": 8, "EBADF": 9, "ECHILD": 10, "EAGAIN": 11,
    "EWOULDBLOCK": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14, "ENOTBLK": 15,
    "EBUSY": 16, "EEXIST": 17, "EXDEV": 18, "ENODEV": 19, "ENOTDIR": 20,
    "EISDIR": 21, "EINVAL": 22, "ENFILE": 23, "EMFILE": 24, "ENOTTY": 25,
    "ETXTBSY": 26, "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30,
    "EMLINK": 31, "EPIPE": 32, "EDOM": 33, "ERANGE": 34, "EDEADLK": 35,
    "EDEADLOCK": 35, "ENAMETOOLONG": 36, "ENOLCK": 37, "ENOSYS": 38,
    "ENOTEMPTY": 39, "ELOOP": 40, "ENOMSG": 42, "EIDRM": 43, "ENOSTR": 60,
    "ENODATA": 61, "ETIME": 62, "ENOSR": 63, "EREMOTE": 66, "ENOLINK": 67,
    "EPROTO": 71, "EMULTIHOP": 72, "EBADMSG": 74, "EOVERFLOW": 75,
    "EILSEQ": 84, "EUSERS": 87, "ENOTSOCK": 88, "EDESTADDRREQ": 89,
    "EMSGSIZE": 90, "EPROTOTYPE": 91, "ENOPROTOOPT": 92,
    "EPROTONOSUPPORT": 93, "ESOCKTNOSUPPORT": 94, "EOPNOTSUPP": 95,
    "ENOTSUP": 95, "EPFNOSUPPORT": 96, "EAFNOSUPPORT": 97, "EADDRINUSE": 98,
    "EADDRNOTAVAIL": 99, "ENETDOWN": 100, "ENETUNREACH": 101,
    "ENETRESET": 102, "ECONNABORTED": 103, "ECONNRESET": 104, "ENOBUFS": 105,
    "EISCONN": 106, "ENOTCONN": 107, "ESHUTDOWN": 108, "ETOOMANYREFS": 109,
    "ETIMEDOUT": 110, "ECONNREFUSED": 111, "EHOSTDOWN": 112,
    "EHOSTUNREACH": 113, "EALREADY": 114, "EINPROGRESS": 115, "ESTALE": 116,
    "EDQUOT": 122, "ECANCELED": 125, "EOWNERDEAD": 130,
    "ENOTRECOVERABLE": 131,
}  # fmt: skip
_HOST_TO_LINUX = {
    num: LINUX_ERRNO[name]
    for name in LINUX_ERRNO
    if (num := getattr(errno, name, None)) is not None
}

# Resolving a directory component: never through a symlink. Without O_PATH
# (non-Linux hosts) a read-only directory fd serves as well.
_O_PATH = getattr(os, "O_PATH", 0)
_DIR_FLAGS = _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW
# Naming one entry itself (chmod/truncate through /proc/self/fd/N).
_PIN_BY_PROC = bool(_O_PATH) and os.path.isdir("/proc/self/fd")
# Opening for the guest: no symlinks, never block on a fifo, never a tty.
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)


class NinePConfigError(ValueError):
    """The host directory cannot be shared (raised by the constructor only)."""


class _Error(Exception):
    """A 9P error reply; `code` is a Linux errno."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.code = LINUX_ERRNO[name]


class _Malformed(Exception):
    """The message does not parse: truncated, too long, or lying about a length."""


class _Reader:
    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end

    def _take(self, n: int) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise _Malformed
        self.pos = pos + n
        return pos

    def u8(self) -> int:
        return self.buf[self._take(1)]

    def u16(self) -> int:
        return struct.unpack_from("<H", self.buf, self._take(2))[0]

    def u32(self) -> int:
        return struct.unpack_from("<I", self.buf, self._take(4))[0]

    def u64(self) -> int:
        return struct.unpack_from("<Q", self.buf, self._take(8))[0]

    def string(self) -> bytes:
        n = self.u16()
        pos = self._take(n)
        return self.buf[pos : pos + n]

    def data(self) -> bytes:
        n = self.u32()
        pos = self._take(n)
        return self.buf[pos : pos + n]

    def more(self) -> bool:
        return self.pos < self.end

    def done(self) -> None:
        if self.pos != self.end:
            raise _Malformed


def _s(value: bytes) -> bytes:
    return struct.pack("<H", len(value)) + value


def _rlerror(tag: int, code: int) -> bytes:
    return struct.pack("<IBHI", HEADER + 4, RLERROR, tag, code)


def _check_name(name: bytes) -> bytes:
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise _Error("EINVAL")
    return name


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _host_open_flags(flags: int) -> int:
    acc = flags & DOTL_ACCMODE
    if acc == 3:
        raise _Error("EINVAL")
    host = _HOST_ACCMODE[acc]
    for bit, name in _DOTL_TO_HOST.items():
        if flags & bit:
            host |= getattr(os, name, 0)
    return host | _OPEN_FLAGS


def _linux_rdev(rdev: int) -> int:
    # Linux's new_encode_dev, which the client decodes; glibc's st_rdev agrees
    # only for small majors, and other hosts differ.
    major, minor = os.major(rdev), os.minor(rdev)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


_Dirent = tuple[bytes, int, bytes]  # qid, d_type, name


@dataclass
class _Fid:
    path: tuple[bytes, ...]  # components below the root, () is the root (why: module doc)
    uid: int = NONUNAME  # from Tattach's n_uname: owner of files this fid creates
    fd: int | None = None  # host fd after Tlopen/Tlcreate
    writable: bool = False
    is_dir: bool = False
    dirents: list[_Dirent] | None = None  # Treaddir snapshot; entry i has cookie i + 1
    xattr: bool = False  # an (always empty) xattr listing from Txattrwalk


class NinePServer:
    """Serves `root` to one 9P2000.L client; see the module docstring."""

    def __init__(self, root: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.root = os.fspath(root)
        self.readonly = readonly
        self._root_fd = self._open_root(self.root)
        self._fids: dict[int, _Fid] = {}
        self._open_files = 0
        self.msize = DEFAULT_MSIZE
        self.max_response = DEFAULT_MSIZE
        # qid.path = device index << 56 | inode; see _qid_path.
        self._devices: dict[int, int] = {os.fstat(self._root_fd).st_dev: 0}
        self._odd_inodes: dict[tuple[int, int], int] = {}
        self._handlers: dict[int, Callable[[_Reader], bytes]] = {
            TVERSION: self._version,
            TATTACH: self._attach,
            TFLUSH: self._flush,
            TWALK: self._walk,
            TCLUNK: self._clunk,
            TREMOVE: self._remove,
            TLOPEN: self._lopen,
            TLCREATE: self._lcreate,
            TREAD: self._read,
            TWRITE: self._write,
            TREADDIR: self._readdir,
            TGETATTR: self._getattr,
            TSETATTR: self._setattr,
            TSTATFS: self._statfs,
            TMKDIR: self._mkdir,
            TSYMLINK: self._symlink,
            TREADLINK: self._readlink,
            TLINK: self._link,
            TMKNOD: self._mknod,
            TRENAME: self._rename,
            TRENAMEAT: self._renameat,
            TUNLINKAT: self._unlinkat,
            TFSYNC: self._fsync,
            TXATTRWALK: self._xattrwalk,
            TXATTRCREATE: self._xattrcreate,
            TLOCK: self._lock,
            TGETLOCK: self._getlock,
        }

    @staticmethod
    def _open_root(root: str) -> int:
        where = f"9p share directory {root!r}"
        if not os.path.exists(root):
            raise NinePConfigError(f"{where} does not exist; create it or pass an existing one")
        if not os.path.isdir(root):
            raise NinePConfigError(f"{where} is not a directory; pass a directory to share")
        if not os.access(root, os.R_OK | os.X_OK):
            raise NinePConfigError(
                f"{where} is not readable by this process; "
                "grant read and search permission (chmod u+rx) or share another directory"
            )
        try:
            return os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise NinePConfigError(f"{where} cannot be opened: {exc.strerror}") from exc

    # -- lifecycle -----------------------------------------------------------

    def reset(self) -> None:
        """Forget every fid and close the files the guest had open."""
        for fid in self._fids.values():
            self._close(fid)
        self._fids.clear()
        self.msize = self.max_response = DEFAULT_MSIZE

    def close(self) -> None:
        """Release every host fd, including the root's (the server is unusable after)."""
        self.reset()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def _close(self, fid: _Fid) -> None:
        if fid.fd is not None:
            os.close(fid.fd)
            fid.fd = None
            fid.dirents = None
            self._open_files -= 1

    # -- framing -------------------------------------------------------------

    def handle(self, request: bytes | memoryview) -> bytes:
        """Answer one complete T-message with one complete R-message."""
        buf = bytes(request)
        if len(buf) < HEADER:
            return _rlerror(NOTAG, LINUX_ERRNO["EPROTO"])
        size, mtype, tag = struct.unpack_from("<IBH", buf)
        # Bytes past `size` are ignored: a descriptor chain may be longer than
        # the message it carries.
        if size < HEADER or size > len(buf):
            return _rlerror(tag, LINUX_ERRNO["EPROTO"])
        handler = self._handlers.get(mtype)
        if handler is None:
            return _rlerror(tag, LINUX_ERRNO["EOPNOTSUPP"])
        try:
            body = handler(_Reader(buf, HEADER, size))
        except _Error as exc:
            return _rlerror(tag, exc.code)
        except _Malformed:
            return _rlerror(tag, LINUX_ERRNO["EPROTO"])
        except OSError as exc:
            return _rlerror(tag, _HOST_TO_LINUX.get(exc.errno or 0, LINUX_ERRNO["EIO"]))
        except (ValueError, OverflowError):  # embedded NUL, offset beyond off_t...
            return _rlerror(tag, LINUX_ERRNO["EINVAL"])
        except Exception:  # a server bug must not take the machine down
            log.exception("9p: unexpected failure handling message type %d", mtype)
            return _rlerror(tag, LINUX_ERRNO["EIO"])
        if HEADER + len(body) > self.max_response:
            return _rlerror(tag, LINUX_ERRNO["EMSGSIZE"])
        return struct.pack("<IBH", HEADER + len(body), mtype + 1, tag) + body

    # -- fids and host resolution ---------------------------------------------

    def _fid(self, num: int) -> _Fid:
        fid = self._fids.get(num)
        if fid is None:
            raise _Error("EBADF")
        return fid

    def _check_newfid(self, num: int) -> None:
        if num == NOFID or num in self._fids:
            raise _Error("EBADF")
        if len(self._fids) >= MAX_FIDS:
            raise _Error("ENFILE")

    def _open_dir(self, path: tuple[bytes, ...]) -> int:
        """A new fd for the directory at `path`, reached without following symlinks."""
        fd = os.dup(self._root_fd)
        try:
            for name in path:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextlib.contextmanager
    def _dir(self, path: tuple[bytes, ...]) -> Iterator[int]:
        fd = self._open_dir(path)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _at(self, path: tuple[bytes, ...]) -> Iterator[tuple[int, bytes]]:
        """(directory fd, name) for *at calls on `path`; the root is (root fd, ".")."""
        if not path:
            yield self._root_fd, b"."
            return
        with self._dir(path[:-1]) as dfd:
            yield dfd, path[-1]

    def _lstat(self, path: tuple[bytes, ...]) -> os.stat_result:
        with self._at(path) as (dfd, name):
            return os.stat(name, dir_fd=dfd, follow_symlinks=False)

    def _stat_fid(self, fid: _Fid) -> os.stat_result:
        # An open file may have been renamed or unlinked since; its fd knows.
        return os.fstat(fid.fd) if fid.fd is not None else self._lstat(fid.path)

    @staticmethod
    def _pinned(
        dfd: int, name: bytes, op: Callable[[int | str], None], what: str, write: bool = False
    ) -> None:
        """Apply `op` (chmod/truncate) to the entry `name` itself, never a symlink's target.

        `what` is the error for a symlink. Without O_PATH and /proc (non-Linux
        hosts) the entry is opened instead, which needs read (`write`) access.
        """
        if not _PIN_BY_PROC:
            access = os.O_WRONLY if write else os.O_RDONLY
            fd = os.open(name, access | _OPEN_FLAGS, dir_fd=dfd)
            try:
                op(fd)
            finally:
                os.close(fd)
            return
        fd = os.open(name, _O_PATH | os.O_NOFOLLOW, dir_fd=dfd)
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise _Error(what)
            op(f"/proc/self/fd/{fd}")  # the magic link names exactly this inode
        finally:
            os.close(fd)

    def _rename_fids(self, old: tuple[bytes, ...], new: tuple[bytes, ...]) -> None:
        n = len(old)
        for fid in self._fids.values():
            if fid.path[:n] == old:
                fid.path = new + fid.path[n:]

    def _writable(self) -> None:
        if self.readonly:
            raise _Error("EROFS")

    # -- qids and attributes ------------------------------------------------

    def _qid_path(self, dev: int, ino: int) -> int:
        # Inode numbers alone collide across mounts inside the share. Up to 255
        # devices get an 8-bit index above a 56-bit inode (so files on the
        # share's own device keep their host inode number); anything beyond
        # that gets an exact mapping in index 255.
        index = self._devices.get(dev)
        if index is None and len(self._devices) < 255:
            index = self._devices[dev] = len(self._devices)
        if index is not None and ino < 1 << 56:
            return index << 56 | ino
        key = (dev, ino)
        if key not in self._odd_inodes:
            self._odd_inodes[key] = 0xFF << 56 | len(self._odd_inodes)
        return self._odd_inodes[key]

    def _qid(self, st: os.stat_result) -> bytes:
        if stat.S_ISDIR(st.st_mode):
            qtype = QTDIR
        elif stat.S_ISLNK(st.st_mode):
            qtype = QTSYMLINK
        else:
            qtype = QTFILE
        # version 0: Linux builds a new inode when the version changes, which
        # would split one host file into several guest inodes.
        return struct.pack("<BIQ", qtype, 0, self._qid_path(st.st_dev, st.st_ino))

    def _attr(self, st: os.stat_result) -> bytes:
        def ts(ns: int) -> tuple[int, int]:
            sec, nsec = divmod(ns, 1_000_000_000)
            return sec & _U64, nsec

        # S_IF* type bits are the same on every Unix host (they date from V7).
        return (
            struct.pack("<Q", STATS_BASIC)
            + self._qid(st)
            + struct.pack(
                "<IIIQQQQQ",
                st.st_mode & 0xFFFFFFFF,
                st.st_uid & 0xFFFFFFFF,
                st.st_gid & 0xFFFFFFFF,
                st.st_nlink,
                _linux_rdev(st.st_rdev),
                st.st_size,
                st.st_blksize,
                st.st_blocks,
            )
            + struct.pack(
                "<10Q",
                *ts(st.st_atime_ns),
                *ts(st.st_mtime_ns),
                *ts(st.st_ctime_ns),
                0,  # btime
                0,
                0,  # gen
                0,  # data_version
            )
        )

    def _give(self, dfd: int, name: bytes, uid: int, gid: int) -> None:
        """Best effort: a new entry belongs to the attaching user and the asked-for group.

        An unprivileged host process may only keep its own uid; that is not an
        error for the guest (it is QEMU's security_model=none behaviour).
        """
        uid = -1 if uid == NONUNAME else uid
        for owner in ((uid, gid), (-1, gid)):
            try:
                os.chown(name, *owner, dir_fd=dfd, follow_symlinks=False)
                return
            except PermissionError:
                continue

    def _set_mode(self, dfd: int, name: bytes, mode: int) -> None:
        """Give a new entry exactly the guest's mode (the guest applied its umask already)."""
        have = stat.S_IMODE(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
        want = mode & 0o7777 | have & stat.S_ISGID  # keep a setgid inherited from the parent
        if have != want:
            self._pinned(dfd, name, lambda t: os.chmod(t, want), "EPERM")

    # -- session ---------------------------------------------------------------

    def _version(self, r: _Reader) -> bytes:
        msize, version = r.u32(), r.string()
        r.done()
        if msize < MIN_MSIZE:
            raise _Error("EINVAL")
        self.reset()  # a Tversion starts a new session
        self.msize = self.max_response = min(msize, MAX_MSIZE)
        ok = version == b"9P2000.L" or version.startswith(b"9P2000.L.")
        return struct.pack("<I", self.msize) + _s(b"9P2000.L" if ok else b"unknown")

    def _attach(self, r: _Reader) -> bytes:
        fid, _afid, _uname, aname = r.u32(), r.u32(), r.string(), r.string()
        uid = r.u32() if r.more() else NONUNAME  # n_uname is 9P2000.u/.L only
        r.done()
        if aname not in (b"", b"/"):
            raise _Error("ENOENT")
        self._check_newfid(fid)
        st = os.fstat(self._root_fd)
        self._fids[fid] = _Fid(path=(), uid=uid)
        return self._qid(st)

    def _flush(self, r: _Reader) -> bytes:
        r.u16()
        r.done()
        return b""  # requests complete synchronously: nothing is ever in flight

    def _clunk(self, r: _Reader) -> bytes:
        num = r.u32()
        r.done()
        self._close(self._fid(num))
        del self._fids[num]
        return b""

    # -- lookup ----------------------------------------------------------------

    def _walk(self, r: _Reader) -> bytes:
        num, newnum, count = r.u32(), r.u32(), r.u16()
        if count > MAXWELEM:
            raise _Error("EINVAL")
        names = [r.string() for _ in range(count)]
        r.done()
        fid = self._fid(num)
        if newnum != num:
            self._check_newfid(newnum)
        elif fid.fd is not None and count:
            raise _Error("EBUSY")  # an open fid cannot move
        path, qids = fid.path, []
        for name in names:
            try:
                nxt = path[:-1] if name == b".." else (*path, _check_name(name))
                qids.append(self._qid(self._lstat(nxt)))
            except (_Error, OSError):
                if not qids:
                    raise
                break
            path = nxt
        if len(qids) == count:  # only a complete walk creates or moves newfid
            if newnum == num:
                fid.path = path
            else:
                self._fids[newnum] = _Fid(path=path, uid=fid.uid)
        return struct.pack("<H", len(qids)) + b"".join(qids)

    def _getattr(self, r: _Reader) -> bytes:
        num, _mask = r.u32(), r.u64()
        r.done()
        return self._attr(self._stat_fid(self._fid(num)))

    def _statfs(self, r: _Reader) -> bytes:
        num = r.u32()
        r.done()
        fid = self._fid(num)
        if fid.fd is not None:
            sv = os.statvfs(fid.fd)
        else:
            with self._dir(fid.path[:-1]) as dfd:
                sv = os.statvfs(dfd)
        return struct.pack(
            "<IIQQQQQQI",
            V9FS_MAGIC,
            sv.f_frsize or sv.f_bsize,
            sv.f_blocks,
            sv.f_bfree,
            sv.f_bavail,
            sv.f_files,
            sv.f_ffree,
            sv.f_fsid & _U64,
            sv.f_namemax,
        )

    def _readlink(self, r: _Reader) -> bytes:
        num = r.u32()
        r.done()
        with self._at(self._fid(num).path) as (dfd, name):
            # Returned verbatim: the guest resolves it in its own namespace.
            return _s(os.readlink(name, dir_fd=dfd))

    # -- open files --------------------------------------------------------------

    def _adopt(self, fid: _Fid, fd: int, flags: int) -> os.stat_result:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            # Fifos, sockets and device nodes are the guest kernel's business
            # (Linux never sends Tlopen for them); a host device is off limits.
            os.close(fd)
            raise _Error("EOPNOTSUPP")
        fid.fd, fid.is_dir, fid.dirents = fd, stat.S_ISDIR(st.st_mode), None
        fid.writable = flags & DOTL_ACCMODE != 0
        self._open_files += 1
        return st

    def _check_can_open(self, fid: _Fid) -> None:
        if fid.fd is not None or fid.xattr:
            raise _Error("EBADF")
        if self._open_files >= MAX_OPEN:
            raise _Error("ENFILE")

    def _lopen(self, r: _Reader) -> bytes:
        num, flags = r.u32(), r.u32()
        r.done()
        if self.readonly and flags & (DOTL_ACCMODE | DOTL_TRUNC | DOTL_CREAT):
            raise _Error("EROFS")
        fid = self._fid(num)
        self._check_can_open(fid)
        host = _host_open_flags(flags)  # O_CREAT/O_EXCL dropped: the fid names a file
        with self._at(fid.path) as (dfd, name):
            fd = os.open(name, host, dir_fd=dfd)
        st = self._adopt(fid, fd, flags)
        return self._qid(st) + struct.pack("<I", 0)  # iounit 0: "use msize"

    def _lcreate(self, r: _Reader) -> bytes:
        num, name, flags, mode, gid = r.u32(), r.string(), r.u32(), r.u32(), r.u32()
        r.done()
        self._writable()
        fid = self._fid(num)
        _check_name(name)
        self._check_can_open(fid)
        host = _host_open_flags(flags)
        with self._dir(fid.path) as dfd:
            try:
                fd = os.open(name, host | os.O_CREAT | os.O_EXCL, mode & 0o7777, dir_fd=dfd)
                created = True
            except FileExistsError:
                if flags & DOTL_EXCL:
                    raise
                fd = os.open(name, host, dir_fd=dfd)
                created = False
            if created:
                try:
                    self._give(dfd, name, fid.uid, gid)
                    os.chmod(fd, mode & 0o7777)  # exactly: the guest applied its umask
                except BaseException:
                    os.close(fd)
                    raise
        st = self._adopt(fid, fd, flags)
        fid.path = (*fid.path, name)
        return self._qid(st) + struct.pack("<I", 0)

    def _read(self, r: _Reader) -> bytes:
        num, offset, count = r.u32(), r.u64(), r.u32()
        r.done()
        fid = self._fid(num)
        if fid.xattr:
            data = b""
        elif fid.fd is None:
            raise _Error("EBADF")
        else:
            data = os.pread(fid.fd, min(count, self.msize - IOHDR), offset)
        return struct.pack("<I", len(data)) + data

    def _write(self, r: _Reader) -> bytes:
        num, offset, data = r.u32(), r.u64(), r.data()
        r.done()  # the count must describe exactly the bytes present
        self._writable()
        fid = self._fid(num)
        if fid.fd is None:
            raise _Error("EBADF")
        return struct.pack("<I", os.pwrite(fid.fd, data, offset))

    def _readdir(self, r: _Reader) -> bytes:
        num, offset, count = r.u32(), r.u64(), r.u32()
        r.done()
        fid = self._fid(num)
        if fid.fd is None:
            raise _Error("EBADF")
        if not fid.is_dir:
            raise _Error("ENOTDIR")
        # A listing is taken when the guest starts (or rewinds) a scan, and the
        # offset of entry i is i + 1, so a scan resumed at any cookie continues
        # exactly where it stopped even if the directory changes meanwhile.
        if offset == 0 or fid.dirents is None:
            fid.dirents = self._list_dir(fid)
        limit = min(count, self.msize - IOHDR)
        out, used = [], 0
        for index in range(offset, len(fid.dirents)):
            qid, dtype, name = fid.dirents[index]
            entry = qid + struct.pack("<QB", index + 1, dtype) + _s(name)
            if used + len(entry) > limit:
                break
            out.append(entry)
            used += len(entry)
        return struct.pack("<I", used) + b"".join(out)

    def _list_dir(self, fid: _Fid) -> list[_Dirent]:
        """Every entry of an open directory, "." and ".." first."""
        assert fid.fd is not None
        here = os.fstat(fid.fd)
        parent = self._lstat(fid.path[:-1]) if fid.path else here
        entries = [
            (self._qid(here), DT_DIR, b"."),
            (self._qid(parent), DT_DIR, b".."),
        ]
        with os.scandir(fid.fd) as it:
            for e in it:
                try:
                    if e.is_symlink():
                        fmt = stat.S_IFLNK
                    elif e.is_dir(follow_symlinks=False):
                        fmt = stat.S_IFDIR
                    elif e.is_file(follow_symlinks=False):
                        fmt = stat.S_IFREG
                    else:
                        fmt = stat.S_IFMT(e.stat(follow_symlinks=False).st_mode)
                except OSError:  # gone meanwhile: list it as DT_UNKNOWN
                    fmt = 0
                qtype = QTDIR if fmt == stat.S_IFDIR else QTSYMLINK if fmt == stat.S_IFLNK else 0
                qid = struct.pack("<BIQ", qtype, 0, self._qid_path(here.st_dev, e.inode()))
                entries.append((qid, fmt >> 12, os.fsencode(e.name)))
        return entries

    def _fsync(self, r: _Reader) -> bytes:
        num, datasync = r.u32(), r.u32()
        r.done()
        fid = self._fid(num)
        if fid.fd is not None:
            (os.fdatasync if datasync and hasattr(os, "fdatasync") else os.fsync)(fid.fd)
        return b""

    # -- attributes --------------------------------------------------------------

    def _setattr(self, r: _Reader) -> bytes:
        num, valid, mode, uid, gid = r.u32(), r.u32(), r.u32(), r.u32(), r.u32()
        size, asec, ansec, msec, mnsec = r.u64(), r.u64(), r.u64(), r.u64(), r.u64()
        r.done()
        self._writable()
        fid = self._fid(num)
        owner = (uid if valid & ATTR_UID else -1, gid if valid & ATTR_GID else -1)
        times = valid & (ATTR_ATIME | ATTR_MTIME)

        def new_times(st: os.stat_result) -> tuple[int, int]:
            now = time.time_ns()
            atime = mtime = now
            if not valid & ATTR_ATIME:
                atime = st.st_atime_ns
            elif valid & ATTR_ATIME_SET:
                atime = _signed64(asec) * 1_000_000_000 + ansec
            if not valid & ATTR_MTIME:
                mtime = st.st_mtime_ns
            elif valid & ATTR_MTIME_SET:
                mtime = _signed64(msec) * 1_000_000_000 + mnsec
            return atime, mtime

        if ansec >= 1_000_000_000 or mnsec >= 1_000_000_000:
            raise _Error("EINVAL")
        if fid.fd is not None:
            # Open files (possibly unlinked) change through their fd, with the
            # access checked at open time, as ftruncate/fchmod do natively.
            fd = fid.fd
            if valid & ATTR_MODE:
                os.chmod(fd, mode & 0o7777)
            if owner != (-1, -1):
                os.chown(fd, *owner)
            if valid & ATTR_SIZE:
                os.truncate(fd, size)
            if times:
                os.utime(fd, ns=new_times(os.fstat(fd)))
            return b""
        with self._at(fid.path) as (dfd, name):
            if valid & ATTR_MODE:
                self._pinned(dfd, name, lambda t: os.chmod(t, mode & 0o7777), "EOPNOTSUPP")
            if owner != (-1, -1):
                os.chown(name, *owner, dir_fd=dfd, follow_symlinks=False)
            if valid & ATTR_SIZE:
                self._pinned(dfd, name, lambda t: os.truncate(t, size), "EINVAL", write=True)
            if times:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                os.utime(name, ns=new_times(st), dir_fd=dfd, follow_symlinks=False)
        return b""

    def _xattrwalk(self, r: _Reader) -> bytes:
        num, newnum, name = r.u32(), r.u32(), r.string()
        r.done()
        fid = self._fid(num)
        if name:
            raise _Error("ENODATA")  # no extended attributes are exported
        self._check_newfid(newnum)
        self._fids[newnum] = _Fid(path=fid.path, uid=fid.uid, xattr=True)
        return struct.pack("<Q", 0)  # the listing is empty

    def _xattrcreate(self, r: _Reader) -> bytes:
        r.u32(), r.string(), r.u64(), r.u32()
        r.done()
        raise _Error("EOPNOTSUPP")

    def _lock(self, r: _Reader) -> bytes:
        num = r.u32()
        r.u8(), r.u32(), r.u64(), r.u64(), r.u32(), r.string()
        r.done()
        self._fid(num)
        # The guest kernel arbitrates its own processes' locks before asking;
        # with one client there is nobody else to conflict with.
        return struct.pack("<B", LOCK_SUCCESS)

    def _getlock(self, r: _Reader) -> bytes:
        num, _type, start, length, proc_id, client = (
            r.u32(), r.u8(), r.u64(), r.u64(), r.u32(), r.string(),
        )  # fmt: skip
        r.done()
        self._fid(num)
        return struct.pack("<BQQI", F_UNLCK, start, length, proc_id) + _s(client)

    # -- directory changes ---------------------------------------------------------

    def _mkdir(self, r: _Reader) -> bytes:
        num, name, mode, gid = r.u32(), r.string(), r.u32(), r.u32()
        r.done()
        self._writable()
        fid = self._fid(num)
        _check_name(name)
        with self._dir(fid.path) as dfd:
            os.mkdir(name, mode & 0o7777, dir_fd=dfd)
            self._give(dfd, name, fid.uid, gid)
            self._set_mode(dfd, name, mode)
            return self._qid(os.stat(name, dir_fd=dfd, follow_symlinks=False))

    def _symlink(self, r: _Reader) -> bytes:
        num, name, target, gid = r.u32(), r.string(), r.string(), r.u32()
        r.done()
        self._writable()
        fid = self._fid(num)
        _check_name(name)
        with self._dir(fid.path) as dfd:
            os.symlink(target, name, dir_fd=dfd)  # stored verbatim, never followed here
            self._give(dfd, name, fid.uid, gid)
            return self._qid(os.stat(name, dir_fd=dfd, follow_symlinks=False))

    def _mknod(self, r: _Reader) -> bytes:
        num, name, mode, _major, _minor, gid = (
            r.u32(), r.string(), r.u32(), r.u32(), r.u32(), r.u32(),
        )  # fmt: skip
        r.done()
        self._writable()
        fid = self._fid(num)
        _check_name(name)
        kind = stat.S_IFMT(mode) or stat.S_IFREG
        if kind in (stat.S_IFCHR, stat.S_IFBLK):
            raise _Error("EPERM")  # a device node would hand the guest a host device
        if kind not in (stat.S_IFREG, stat.S_IFIFO, stat.S_IFSOCK):
            raise _Error("EINVAL")
        with self._dir(fid.path) as dfd:
            os.mknod(name, kind | mode & 0o7777, dir_fd=dfd)
            self._give(dfd, name, fid.uid, gid)
            self._set_mode(dfd, name, mode)
            return self._qid(os.stat(name, dir_fd=dfd, follow_symlinks=False))

    def _link(self, r: _Reader) -> bytes:
        dnum, num, name = r.u32(), r.u32(), r.string()
        r.done()
        self._writable()
        dfid, fid = self._fid(dnum), self._fid(num)
        _check_name(name)
        if not fid.path:
            raise _Error("EPERM")  # the share's root is a directory
        with self._at(fid.path) as (sdfd, sname), self._dir(dfid.path) as ddfd:
            os.link(sname, name, src_dir_fd=sdfd, dst_dir_fd=ddfd, follow_symlinks=False)
        return b""

    def _move(self, old: tuple[bytes, ...], newdir: tuple[bytes, ...], name: bytes) -> None:
        new = (*newdir, _check_name(name))
        with self._dir(old[:-1]) as odfd, self._dir(newdir) as ndfd:
            os.rename(old[-1], name, src_dir_fd=odfd, dst_dir_fd=ndfd)
        self._rename_fids(old, new)

    def _rename(self, r: _Reader) -> bytes:
        num, dnum, name = r.u32(), r.u32(), r.string()
        r.done()
        self._writable()
        fid, dfid = self._fid(num), self._fid(dnum)
        if not fid.path:
            raise _Error("EBUSY")  # the share's root stays where it is
        self._move(fid.path, dfid.path, name)
        return b""

    def _renameat(self, r: _Reader) -> bytes:
        onum, oname, nnum, nname = r.u32(), r.string(), r.u32(), r.string()
        r.done()
        self._writable()
        ofid, nfid = self._fid(onum), self._fid(nnum)
        self._move((*ofid.path, _check_name(oname)), nfid.path, nname)
        return b""

    def _unlinkat(self, r: _Reader) -> bytes:
        num, name, flags = r.u32(), r.string(), r.u32()
        r.done()
        self._writable()
        fid = self._fid(num)
        _check_name(name)
        with self._dir(fid.path) as dfd:
            if flags & AT_REMOVEDIR:
                os.rmdir(name, dir_fd=dfd)
            else:
                os.unlink(name, dir_fd=dfd)
        return b""

    def _remove(self, r: _Reader) -> bytes:
        num = r.u32()
        r.done()
        fid = self._fid(num)
        # Tremove clunks the fid whether or not the removal succeeds.
        self._close(fid)
        del self._fids[num]
        self._writable()
        if not fid.path:
            raise _Error("EBUSY")
        with self._at(fid.path) as (dfd, name):
            if stat.S_ISDIR(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                os.rmdir(name, dir_fd=dfd)
            else:
                os.unlink(name, dir_fd=dfd)
        return b""
