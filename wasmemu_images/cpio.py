"""Reproducible cpio archives in the "newc" format Linux reads as an initramfs.

The kernel's initramfs unpacker (``init/initramfs.c``) accepts only the SVR4
"newc" format (magic ``070701``, or ``070702`` with a checksum), optionally
compressed. We write it ourselves rather than calling ``cpio`` so that the
archive depends on nothing but the entries given: every entry belongs to
uid/gid 0, carries the same fixed mtime, gets an inode number from its
position in path order, and entries are emitted sorted by path (parents before
children), so the same entries always give the same bytes. ``gzip`` output uses
mtime 0 and no file name in its header for the same reason.

The reader exists for tests and tools that inspect an image; it understands
what the writer produces plus archives from GNU cpio ``-H newc``.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import stat
import zlib
from collections.abc import Iterable

__all__ = [
    "CpioError",
    "Entry",
    "gzip_deterministic",
    "pack",
    "unpack",
]

_MAGIC_NEWC = b"070701"
_MAGIC_CRC = b"070702"
_HEADER_LEN = 110
_TRAILER = "TRAILER!!!"

_KINDS = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "char": stat.S_IFCHR,
    "block": stat.S_IFBLK,
    "fifo": stat.S_IFIFO,
}
_KIND_OF_FORMAT = {v: k for k, v in _KINDS.items()}


class CpioError(ValueError):
    """A malformed archive or an entry that cannot be stored."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One archive member.

    ``path`` is relative to the archive root, without a leading ``/`` (the
    constructors strip one). ``data`` is a file's content or a symlink's
    target; devices use ``major``/``minor``. ``mode`` holds permission bits
    only (including setuid/setgid/sticky); the file type comes from ``kind``.
    """

    path: str
    kind: str
    mode: int
    data: bytes = b""
    major: int = 0
    minor: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise CpioError(f"{self.path}: unknown entry kind {self.kind!r}")
        if self.mode & ~0o7777:
            raise CpioError(f"{self.path}: mode {self.mode:o} has bits beyond 07777")
        _check_path(self.path)

    @classmethod
    def file(cls, path: str, data: bytes, mode: int = 0o644) -> Entry:
        return cls(_norm(path), "file", mode, bytes(data))

    @classmethod
    def directory(cls, path: str, mode: int = 0o755) -> Entry:
        return cls(_norm(path), "dir", mode)

    @classmethod
    def symlink(cls, path: str, target: str) -> Entry:
        return cls(_norm(path), "symlink", 0o777, target.encode())

    @classmethod
    def char_device(cls, path: str, major: int, minor: int, mode: int = 0o600) -> Entry:
        return cls(_norm(path), "char", mode, b"", major, minor)

    @classmethod
    def block_device(cls, path: str, major: int, minor: int, mode: int = 0o600) -> Entry:
        return cls(_norm(path), "block", mode, b"", major, minor)

    @property
    def full_mode(self) -> int:
        return _KINDS[self.kind] | self.mode


def _norm(path: str) -> str:
    return path.strip("/")


def _check_path(path: str) -> None:
    parts = path.split("/")
    # "." alone is the archive root, which the kernel already has; anything
    # else with empty, "." or ".." components could land outside the target
    # when extracted with a general-purpose tool.
    if path != "." and any(p in ("", ".", "..") for p in parts):
        raise CpioError(f"invalid archive path {path!r}")
    if "\0" in path:
        raise CpioError(f"archive path {path!r} contains NUL")


def _sort_key(entry: Entry) -> tuple[str, ...]:
    # Component-wise order puts every directory right before its contents.
    return () if entry.path == "." else tuple(entry.path.split("/"))


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(
    ino: int, mode: int, nlink: int, mtime: int, size: int, rmaj: int, rmin: int, namesize: int
) -> bytes:
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, rmaj, rmin, namesize, 0)
    for value in fields:
        if not 0 <= value <= 0xFFFFFFFF:
            raise CpioError(f"header field {value} does not fit newc's 32 bits")
    return _MAGIC_NEWC + b"".join(b"%08X" % v for v in fields)


def pack(entries: Iterable[Entry], *, mtime: int = 0, add_parents: bool = True) -> bytes:
    """Serialise ``entries`` as a newc archive, trailer included.

    With ``add_parents`` every missing parent directory is added with mode
    0755, so a caller can list just ``bin/busybox``. Duplicate paths are an
    error rather than last-wins: in an initramfs a later duplicate silently
    replaces the earlier one, which hides recipe mistakes.
    """
    by_path: dict[str, Entry] = {}
    for entry in entries:
        if entry.path in by_path:
            raise CpioError(f"duplicate archive path {entry.path!r}")
        by_path[entry.path] = entry
    if add_parents:
        for path in list(by_path):
            parts = path.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                existing = by_path.get(parent)
                if existing is None:
                    by_path[parent] = Entry.directory(parent)
                elif existing.kind != "dir":
                    raise CpioError(f"{path!r} needs {parent!r} to be a directory")
    out = io.BytesIO()
    for ino, entry in enumerate(sorted(by_path.values(), key=_sort_key), start=1):
        name = entry.path.encode() + b"\0"
        data = entry.data if entry.kind in ("file", "symlink") else b""
        nlink = 2 if entry.kind == "dir" else 1
        out.write(
            _header(
                ino,
                entry.full_mode,
                nlink,
                mtime,
                len(data),
                entry.major,
                entry.minor,
                len(name),
            )
        )
        out.write(name + _pad4(_HEADER_LEN + len(name)))
        out.write(data + _pad4(len(data)))
    trailer = _TRAILER.encode() + b"\0"
    out.write(_header(0, 0, 1, 0, 0, 0, 0, len(trailer)))
    out.write(trailer + _pad4(_HEADER_LEN + len(trailer)))
    return out.getvalue()


def gzip_deterministic(data: bytes, level: int = 9) -> bytes:
    """gzip with a zero mtime and no file name, so equal input gives equal output."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def unpack(data: bytes) -> list[Entry]:
    """Parse a newc archive (gzip-compressed or not) up to its trailer.

    Hard links (several names for one inode) come back as independent files;
    the writer never makes them.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise CpioError(f"corrupt gzip stream: {exc}") from exc
    entries: list[Entry] = []
    pos = 0
    while True:
        header = data[pos : pos + _HEADER_LEN]
        if len(header) < _HEADER_LEN:
            raise CpioError(f"archive ends inside a header at offset {pos} (no trailer)")
        if header[:6] not in (_MAGIC_NEWC, _MAGIC_CRC):
            raise CpioError(f"bad magic {header[:6]!r} at offset {pos}; not a newc archive")
        try:
            f = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        except ValueError as exc:
            raise CpioError(f"non-hex header field at offset {pos}") from exc
        _ino, mode, _uid, _gid, _nlink, _mtime, size, _maj, _min, rmaj, rmin, namesize, _ = f
        name_start = pos + _HEADER_LEN
        raw_name = data[name_start : name_start + namesize]
        if len(raw_name) != namesize:
            raise CpioError(f"archive ends inside a file name at offset {name_start}")
        if not raw_name.endswith(b"\0"):
            raise CpioError(f"file name at offset {name_start} is not NUL-terminated")
        name = raw_name[:-1].decode("utf-8", "surrogateescape")
        data_start = name_start + namesize + (-(_HEADER_LEN + namesize) % 4)
        body = data[data_start : data_start + size]
        if len(body) != size:
            raise CpioError(f"{name}: archive ends inside the file data")
        pos = data_start + size + (-size % 4)
        if name == _TRAILER:
            return entries
        kind = _KIND_OF_FORMAT.get(stat.S_IFMT(mode))
        if kind is None:
            raise CpioError(f"{name}: unsupported file type {stat.S_IFMT(mode):o}")
        entries.append(Entry(_reader_path(name), kind, stat.S_IMODE(mode), bytes(body), rmaj, rmin))


def _reader_path(name: str) -> str:
    # GNU cpio run as `find . | cpio -o` stores "./x"; we store "x".
    while name.startswith("./"):
        name = name[2:]
    return _norm(name) or "."
