"""The ext4 root disk (`invoke images --rootfs`): what is on it, that it is
reproducible and verified, and that it stays optional."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmemu_images import rootfs as rootfs_module
from wasmemu_images.build import build_image
from wasmemu_images.cpio import Entry
from wasmemu_images.image import (
    Image,
    ImageError,
    copy_rootfs,
    ensure_image,
    ensure_rootfs,
    load_image,
)
from wasmemu_images.recipe import recipe_path
from wasmemu_images.rootfs import RootfsError, make_ext4

SBIN = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
DEBUGFS = shutil.which("debugfs", path=SBIN)
E2FSCK = shutil.which("e2fsck", path=SBIN)
DUMPE2FS = shutil.which("dumpe2fs", path=SBIN)
needs_e2fsprogs = pytest.mark.skipif(
    not (DEBUGFS and E2FSCK and DUMPE2FS), reason="e2fsprogs not installed"
)


def debugfs(image: Path, command: str) -> str:
    assert DEBUGFS is not None
    return subprocess.run(
        [DEBUGFS, "-R", command, str(image)], capture_output=True, text=True, timeout=60
    ).stdout


def test_manifest_records_the_root_disk(rootfs_image: Image) -> None:
    m = rootfs_image.manifest
    assert m["boot"]["rootfs"] == "rootfs.ext4"
    entry = m["files"]["rootfs.ext4"]
    assert entry["size"] == 64 << 20 and entry["from"] == "rootfs"
    assert entry["label"] == "wasmemu-root"
    assert uuid.UUID(entry["uuid"]).version == 4
    assert rootfs_image.rootfs == rootfs_image.path / "rootfs.ext4"
    # A template: read-only, so that nobody boots (and changes) it by mistake.
    assert rootfs_image.rootfs.stat().st_mode & 0o222 == 0
    # The rest of the image is the same as without the disk.
    plain = {k: v for k, v in m["files"].items() if k != "rootfs.ext4"}
    assert set(plain) == {"Image", "fw_dynamic.bin", "fw_jump.bin", "initramfs.cpio.gz"}


@needs_e2fsprogs
def test_root_disk_content(rootfs_image: Image) -> None:
    disk = rootfs_image.rootfs
    assert disk is not None
    assert E2FSCK is not None and DUMPE2FS is not None
    check = subprocess.run([E2FSCK, "-fn", str(disk)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    header = subprocess.run(
        [DUMPE2FS, "-h", str(disk)], capture_output=True, text=True, timeout=60
    ).stdout
    assert re.search(r"Filesystem volume name:\s+wasmemu-root", header)
    assert re.search(r"Filesystem UUID:\s+" + rootfs_image.manifest["files"]["rootfs.ext4"]["uuid"],
                     header)  # fmt: skip
    assert "metadata_csum" in header and "has_journal" in header

    listing = debugfs(disk, "ls -l /")
    for name in ("bin", "sbin", "etc", "dev", "proc", "sys", "tmp", "root", "mnt"):
        assert re.search(rf"\s{name}\n", listing), listing
    init = debugfs(disk, "cat /sbin/init")
    assert init.startswith("#!/bin/busybox sh\n") and "poweroff -f" in init
    busybox = debugfs(disk, "stat /bin/busybox")
    assert "Mode:  0755" in busybox and re.search(r"User:\s+0\s+Group:\s+0", busybox)
    busybox_pkg = next(p for p in rootfs_image.manifest["packages"] if p["role"] == "busybox")
    assert busybox_pkg["name"] == "busybox-static"
    assert "Type: character special" in debugfs(disk, "stat /dev/console")
    assert "busybox" in debugfs(disk, "stat /bin/sh")  # fast symlink target
    # Fixed time stamps everywhere, whoever and whenever it was built.
    stamps = set(re.findall(r"time: 0x([0-9a-f]+)", debugfs(disk, "stat /etc/passwd")))
    assert stamps == {f"{rootfs_module.time_stamp():08x}"}


def test_root_disk_builds_are_reproducible(
    rootfs_image: Image,
    new_image_cache: Callable[[], Path],
    build_default: Callable[..., Image],
) -> None:
    again = build_default(new_image_cache(), rootfs=True)
    assert again.rootfs is not None and rootfs_image.rootfs is not None
    assert again.rootfs.read_bytes() == rootfs_image.rootfs.read_bytes()
    assert again.manifest == rootfs_image.manifest


def test_plain_ensure_image_neither_builds_nor_checks_the_disk(
    rootfs_image: Image, new_image_cache: Callable[[], Path]
) -> None:
    cache = new_image_cache()
    folder = cache / "images" / "default"
    shutil.copytree(rootfs_image.path, folder)
    disk = folder / "rootfs.ext4"
    disk.chmod(0o644)
    with disk.open("r+b") as f:  # what booting the template itself would do
        f.seek(1 << 20)
        f.write(b"guest data")
    image = ensure_image(cache=cache)
    assert image.rootfs is None and image.kernel == folder / "Image"
    with pytest.raises(ImageError, match=r"rootfs\.ext4 is corrupt .*boot a copy") as info:
        ensure_rootfs(cache=cache)
    assert "invoke images --rootfs --force" in str(info.value)
    assert info.value.reason == "corrupt"
    # --force makes a fresh one.
    assert (
        ensure_rootfs(cache=cache, force=True).read_bytes()
        == (rootfs_image.path / "rootfs.ext4").read_bytes()
    )


def test_ensure_rootfs_adds_the_disk_to_an_image_built_without_it(
    default_image: Image, rootfs_image: Image, new_image_cache: Callable[[], Path]
) -> None:
    cache = new_image_cache()
    shutil.copytree(default_image.path, cache / "images" / "default")
    with pytest.raises(ImageError, match=r"without its root disk.*invoke images --rootfs"):
        load_image(cache=cache, rootfs=True)
    disk = ensure_rootfs(cache=cache)
    assert disk == cache / "images" / "default" / "rootfs.ext4"
    assert load_image(cache=cache, rootfs=True).manifest == rootfs_image.manifest


def test_copy_rootfs_gives_a_writable_copy(rootfs_image: Image, tmp_path: Path) -> None:
    cache = rootfs_image.path.parent.parent
    copy = copy_rootfs(tmp_path / "disk.ext4", cache=cache)
    assert copy.read_bytes() == (rootfs_image.path / "rootfs.ext4").read_bytes()
    assert os.access(copy, os.W_OK) and copy.stat().st_mode & 0o200


def test_a_recipe_without_rootfs_says_so(
    new_image_cache: Callable[[], Path], tmp_path: Path
) -> None:
    text = recipe_path("default").read_text()
    bad = tmp_path / "default.yaml"
    bad.write_text(text[: text.index("\nrootfs:")] + text[text.index("\n# How to boot") :])
    with pytest.raises(ImageError, match=r"no rootfs: section; add one"):
        build_image(bad, cache=new_image_cache(), rootfs=True)


def test_missing_e2fsprogs_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rootfs_module, "SBIN_DIRS", ())
    with pytest.raises(RootfsError, match=r"mke2fs not found: .*e2fsprogs"):
        make_ext4(
            tmp_path / "x.ext4", [Entry.file("sbin/init", b"")], size=8 << 20, label="x",
            fs_uuid=uuid.uuid4(), hash_seed=uuid.uuid4(), epoch=1,
        )  # fmt: skip


@needs_e2fsprogs
def test_make_ext4_stores_devices_modes_and_links_without_root(tmp_path: Path) -> None:
    entries = [
        Entry.directory("tmp", 0o1777),
        Entry.file("etc/motd", b"hello\n", 0o600),
        Entry.symlink("bin/sh", "busybox"),
        Entry.block_device("dev/vda", 254, 0, 0o660),
    ]
    disk = tmp_path / "d.ext4"
    make_ext4(
        disk, entries, size=8 << 20, label="t", fs_uuid=uuid.UUID(int=1),
        hash_seed=uuid.UUID(int=2), epoch=1234567890,
    )  # fmt: skip
    assert disk.stat().st_size == 8 << 20
    assert debugfs(disk, "cat /etc/motd") == "hello\n"
    assert "Mode:  01777" in debugfs(disk, "stat /tmp")
    assert "Mode:  0600" in debugfs(disk, "stat /etc/motd")
    vda = debugfs(disk, "stat /dev/vda")
    assert "Type: block special" in vda and "Mode:  0660" in vda
    assert "Device major/minor number: 254:00 " in vda
    assert "0x499602d2" in debugfs(disk, "stat /bin/sh")  # epoch 1234567890


def test_make_ext4_rejects_paths_debugfs_cannot_quote(tmp_path: Path) -> None:
    with pytest.raises(RootfsError, match="no spaces, quotes"):
        make_ext4(
            tmp_path / "x.ext4", [Entry.file("etc/my file", b"")], size=8 << 20, label="x",
            fs_uuid=uuid.uuid4(), hash_seed=uuid.uuid4(), epoch=1,
        )  # fmt: skip


def test_manifest_json_is_stable(rootfs_image: Image) -> None:
    text = (rootfs_image.path / "manifest.json").read_text()
    assert json.loads(text)["boot"]["rootfs"] == "rootfs.ext4"
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
