"""Binary layouts of the riscv64 Linux structures that system calls exchange."""

from __future__ import annotations

import os
import stat as statmod
import struct

# asm-generic struct stat (riscv64 uses the generic layout): 128 bytes.
STAT = struct.Struct("<QQIIIIQQqiiqqQqQqQII")
# struct statx: 256 bytes.
STATX = struct.Struct("<IIQIIIHHQQQQqIiqIiqIiqIiIIIIQ")
TIMESPEC = struct.Struct("<qq")
TIMEVAL = struct.Struct("<qq")
IOVEC = struct.Struct("<QQ")
RLIMIT = struct.Struct("<QQ")
RLIM_INFINITY = 0xFFFF_FFFF_FFFF_FFFF

STATX_BASIC_STATS = 0x7FF


def _split_ns(ns: int) -> tuple[int, int]:
    return ns // 1_000_000_000, ns % 1_000_000_000


def pack_stat(st: os.stat_result) -> bytes:
    a_s, a_ns = _split_ns(st.st_atime_ns)
    m_s, m_ns = _split_ns(st.st_mtime_ns)
    c_s, c_ns = _split_ns(st.st_ctime_ns)
    return STAT.pack(
        st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
        getattr(st, "st_rdev", 0), 0, st.st_size, getattr(st, "st_blksize", 4096), 0,
        getattr(st, "st_blocks", (st.st_size + 511) // 512),
        a_s, a_ns, m_s, m_ns, c_s, c_ns, 0, 0,
    )  # fmt: skip


def pack_statx(st: os.stat_result) -> bytes:
    def ts(ns: int) -> tuple[int, int, int]:
        s, n = _split_ns(ns)
        return s, n, 0

    dev, rdev = st.st_dev, getattr(st, "st_rdev", 0)
    body = STATX.pack(
        STATX_BASIC_STATS, getattr(st, "st_blksize", 4096), 0, st.st_nlink, st.st_uid,
        st.st_gid, statmod.S_IFMT(st.st_mode) | statmod.S_IMODE(st.st_mode), 0, st.st_ino,
        st.st_size, getattr(st, "st_blocks", 0), 0,
        *ts(st.st_atime_ns), *ts(getattr(st, "st_birthtime_ns", st.st_ctime_ns)),
        *ts(st.st_ctime_ns), *ts(st.st_mtime_ns),
        os.major(rdev), os.minor(rdev), os.major(dev), os.minor(dev), 0,
    )  # fmt: skip
    return body.ljust(256, b"\0")
