"""The newc cpio writer/reader: round trips, determinism, and agreement with GNU cpio."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from wasmemu_images import cpio
from wasmemu_images.cpio import CpioError, Entry

CPIO = shutil.which("cpio")
needs_cpio = pytest.mark.skipif(CPIO is None, reason="GNU cpio not installed (Debian package cpio)")


def sample() -> list[Entry]:
    return [
        Entry.file("/init", b"#!/bin/sh\necho hi\n", 0o755),
        Entry.char_device("/dev/console", 5, 1, 0o600),
        Entry.block_device("dev/vda", 254, 0, 0o660),
        Entry.directory("/tmp", 0o1777),
        Entry.symlink("/bin/sh", "busybox"),
        Entry.file("/bin/busybox", bytes(range(256)) * 13 + b"xyz", 0o755),
        Entry.file("/etc/empty", b""),
        Entry("run/fifo", "fifo", 0o644),
    ]


def by_path(entries: list[Entry]) -> dict[str, Entry]:
    return {e.path: e for e in entries}


def test_round_trip_keeps_every_kind_and_adds_parents() -> None:
    got = by_path(cpio.unpack(cpio.pack(sample())))
    for entry in sample():
        assert got[entry.path] == entry
    for parent in ("bin", "dev", "etc", "run"):
        assert got[parent] == Entry.directory(parent)
    assert len(got) == len(sample()) + 4


def test_order_is_sorted_with_parents_first_and_independent_of_input_order() -> None:
    forward = cpio.pack(sample())
    assert cpio.pack(reversed(sample())) == forward
    paths = [e.path for e in cpio.unpack(forward)]
    assert paths == sorted(paths, key=lambda p: p.split("/"))
    assert paths.index("bin") < paths.index("bin/busybox")


def test_layout_alignment_and_trailer() -> None:
    data = cpio.pack([Entry.file("a", b"12345")])
    assert data.startswith(b"070701")
    assert len(data) % 4 == 0
    assert b"TRAILER!!!\0" in data[-124:]
    # header (110) + "a\0" padded to 4, then 5 bytes of data padded to 8
    assert data[112:117] == b"12345"
    assert data[117:120] == b"\0\0\0"


def test_fields_are_fixed_for_reproducibility() -> None:
    data = cpio.pack([Entry.file("x", b"1")], mtime=1234)
    fields = [int(data[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
    ino, mode, uid, gid, nlink, mtime = fields[:6]
    assert (ino, mode, uid, gid, nlink, mtime) == (1, stat.S_IFREG | 0o644, 0, 0, 1, 1234)


def test_gzip_is_deterministic_and_readable() -> None:
    raw = cpio.pack(sample())
    a, b = cpio.gzip_deterministic(raw), cpio.gzip_deterministic(raw)
    assert a == b
    assert a[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert gzip.decompress(a) == raw
    assert cpio.unpack(a) == cpio.unpack(raw)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([Entry.file("a", b""), Entry.file("/a", b"x")], "duplicate"),
        ([Entry.file("a", b""), Entry.file("a/b", b"")], "directory"),
    ],
)
def test_pack_rejects_inconsistent_trees(entries: list[Entry], message: str) -> None:
    with pytest.raises(CpioError, match=message):
        cpio.pack(entries)


@pytest.mark.parametrize("path", ["a/../b", "a//b", "./a", ".."])
def test_entries_reject_paths_that_escape_or_are_ambiguous(path: str) -> None:
    with pytest.raises(CpioError, match="invalid archive path"):
        Entry.file(path, b"")


def test_reader_rejects_garbage_and_truncation() -> None:
    data = cpio.pack(sample())
    with pytest.raises(CpioError, match="bad magic"):
        cpio.unpack(b"X" * 200)
    with pytest.raises(CpioError, match="archive ends inside"):
        cpio.unpack(data[:-130])


def write_tree(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "prog").write_bytes(b"\x7fELF" + bytes(1000))
    (root / "bin" / "prog").chmod(0o755)
    (root / "bin" / "link").symlink_to("prog")
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("hello\n")


@needs_cpio
def test_gnu_cpio_lists_and_extracts_our_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.cpio"
    archive.write_bytes(cpio.pack(sample()))
    listing = subprocess.run(
        [CPIO, "-t", "--quiet", "-F", str(archive)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(listing) == sorted(e.path for e in cpio.unpack(archive.read_bytes()))

    verbose = subprocess.run(
        [CPIO, "-tv", "--quiet", "-F", str(archive)], capture_output=True, text=True, check=True
    ).stdout
    console = next(line for line in verbose.splitlines() if line.endswith("dev/console"))
    assert console.startswith("crw-------") and "5,   1" in console

    out = tmp_path / "out"
    out.mkdir()
    # Device nodes need privileges to create; extract everything else.
    subprocess.run(
        [CPIO, "-i", "-d", "--quiet", "--no-absolute-filenames", "-F", str(archive),
         "--nonmatching", "dev/*", "run/fifo"],
        cwd=out, check=True, capture_output=True,
    )  # fmt: skip
    for entry in sample():
        path = out / entry.path
        if entry.kind == "file":
            assert path.read_bytes() == entry.data
            assert stat.S_IMODE(path.stat().st_mode) == entry.mode
        elif entry.kind == "symlink":
            assert os.readlink(path) == entry.data.decode()
        elif entry.kind == "dir":
            assert path.is_dir()


@needs_cpio
def test_we_read_what_gnu_cpio_writes(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_tree(tree)
    names = "\n".join(["bin", "bin/link", "bin/prog", "etc", "etc/motd"]) + "\n"
    data = subprocess.run(
        [CPIO, "-o", "-H", "newc", "--quiet"],
        input=names.encode(), cwd=tree, capture_output=True, check=True,
    ).stdout  # fmt: skip
    got = by_path(cpio.unpack(data))
    assert got["bin/prog"].data == (tree / "bin" / "prog").read_bytes()
    assert got["bin/prog"].mode == 0o755
    assert got["bin/link"] == Entry.symlink("bin/link", "prog")
    assert got["etc/motd"].data == b"hello\n"
    assert got["etc"].kind == "dir"
