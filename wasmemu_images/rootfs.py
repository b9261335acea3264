"""Make an ext4 disk image from a list of entries, reproducibly, with e2fsprogs.

The entries (the recipe's ``rootfs.contents``, resolved by the builder into
:class:`~wasmemu_images.cpio.Entry` values) are staged in a temporary folder
and turned into a file system by ``mke2fs -t ext4 -d``. Then ``debugfs``
fixes what staging cannot: every inode belongs to root whoever builds, all
time stamps are one fixed value, and device nodes exist without needing
root to ``mknod`` them.

Reproducible where cheap: our own ``mke2fs.conf`` (the host's default
features differ between releases), a UUID and directory hash seed the caller
derives from the content, ``E2FSPROGS_FAKE_TIME`` for the times e2fsprogs
stamps itself (superblock, lost+found, journal), ``nodiscard``. Equal input
with the same e2fsprogs release gives equal bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from wasmemu_images.cpio import Entry

__all__ = ["ROOTFS_EPOCH", "RootfsError", "make_ext4", "time_stamp"]

# Time stamp of every inode when SOURCE_DATE_EPOCH is unset (2025-01-01 UTC).
# Not 0: some e2fsprogs code reads a zero fake time as "use the clock".
ROOTFS_EPOCH = 1735689600
TOOL_TIMEOUT = 300.0
# mke2fs and debugfs live in /sbin, which a normal user's PATH often lacks.
SBIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/sbin")

# Upstream's ext4 defaults, written down so that every host makes the same
# file system. metadata_csum needs crc32c in the guest (the recipe's
# crc32c_generic, a soft dependency of ext4).
_MKE2FS_CONF = """\
[defaults]
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	small = {
		inode_ratio = 16384
	}
	floppy = {
		inode_ratio = 16384
	}
"""


class RootfsError(Exception):
    """The disk image cannot be made (tool missing or failing, unusable entry)."""


def time_stamp() -> int:
    """SOURCE_DATE_EPOCH if set (the reproducible-builds convention), else ROOTFS_EPOCH."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else ROOTFS_EPOCH


def _tool(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    found = shutil.which(name, path=path)
    if found is None:
        raise RootfsError(
            f"{name} not found: building the rootfs needs Debian's e2fsprogs "
            "(`sudo apt-get install e2fsprogs`, or run scripts/bootstrap)"
        )
    return found


def make_ext4(
    dest: Path,
    entries: Sequence[Entry],
    *,
    size: int,
    label: str,
    fs_uuid: uuid.UUID,
    hash_seed: uuid.UUID,
    epoch: int,
) -> None:
    """Write an ext4 image of ``size`` bytes holding ``entries`` to ``dest``."""
    mke2fs, debugfs = _tool("mke2fs"), _tool("debugfs")
    for entry in entries:
        # debugfs takes one command per line and paths in double quotes.
        if any(c in entry.path for c in '"\n\\') or any(c.isspace() for c in entry.path):
            raise RootfsError(f"rootfs path {entry.path!r}: use no spaces, quotes or backslashes")
    with tempfile.TemporaryDirectory(prefix="wasmemu-rootfs-") as tmp:
        stage = Path(tmp) / "root"
        stage.mkdir()
        devices = _stage(stage, entries)
        conf = Path(tmp) / "mke2fs.conf"
        conf.write_text(_MKE2FS_CONF)
        env = {
            **os.environ,
            "MKE2FS_CONFIG": str(conf),
            "E2FSPROGS_FAKE_TIME": str(epoch),
            "SOURCE_DATE_EPOCH": str(epoch),
            "LC_ALL": "C",
        }
        dest.unlink(missing_ok=True)
        _run(
            [
                mke2fs, "-q", "-F", "-t", "ext4", "-d", str(stage), "-L", label,
                "-U", str(fs_uuid), "-m", "0",
                "-E", f"hash_seed={hash_seed},root_owner=0:0,nodiscard",
                str(dest), f"{size // 1024}k",
            ],
            env,
        )  # fmt: skip
        script = Path(tmp) / "fixup.debugfs"
        script.write_text(_fixups(stage, devices, epoch))
        _run([debugfs, "-w", "-f", str(script), str(dest)], env)


def _stage(stage: Path, entries: Sequence[Entry]) -> list[Entry]:
    """Write files, folders and symlinks below ``stage``; return the device nodes."""
    devices = []
    for entry in sorted(entries, key=lambda e: e.path):
        path = stage / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "dir":
            path.mkdir(exist_ok=True)
            path.chmod(entry.mode)
        elif entry.kind == "file":
            path.write_bytes(entry.data)
            path.chmod(entry.mode)
        elif entry.kind == "symlink":
            os.symlink(entry.data.decode(), path)
        elif entry.kind in ("char", "block"):
            devices.append(entry)
        else:
            raise RootfsError(f"rootfs entry {entry.path}: cannot store a {entry.kind}")
    return devices


def _fixups(stage: Path, devices: Sequence[Entry], epoch: int) -> str:
    lines = []
    for dev in devices:
        parent, _, name = ("/" + dev.path).rpartition("/")
        kind = "c" if dev.kind == "char" else "b"
        lines += [f'cd "{parent or "/"}"', f'mknod "{name}" {kind} {dev.major} {dev.minor}']
        lines.append(f'sif "/{dev.path}" mode 0{dev.full_mode:o}')
    staged = sorted("/" + p.relative_to(stage).as_posix() for p in stage.rglob("*"))
    paths = ["/", *staged, *sorted("/" + d.path for d in devices)]
    for path in paths:
        for field in ("uid", "gid"):
            lines.append(f'sif "{path}" {field} 0')
        # Staging left host times (and reading a file moves its atime).
        for field in ("atime", "mtime", "ctime", "crtime"):
            lines.append(f'sif "{path}" {field} @{epoch}')
    return "".join(line + "\n" for line in lines)


def _run(cmd: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(cmd, env=env, capture_output=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RootfsError(f"{Path(cmd[0]).name} did not finish in {TOOL_TIMEOUT:.0f} s") from None
    # debugfs reports a failed command on stderr but still exits 0.
    errors = [
        line
        for line in result.stderr.decode(errors="replace").splitlines()
        if line.strip() and not line.startswith("debugfs ")
    ]
    if result.returncode or (Path(cmd[0]).name == "debugfs" and errors):
        detail = "\n".join(errors[-10:]) or f"exit status {result.returncode}"
        raise RootfsError(f"{Path(cmd[0]).name} failed making the rootfs:\n{detail}")
