"""Building the default guest image for real from Debian's riscv64 packages."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmemu_images import cpio
from wasmemu_images.build import BUILDER_VERSION, build_image
from wasmemu_images.image import Image, ImageError, ensure_image, load_image
from wasmemu_images.kernel import parse_header
from wasmemu_images.recipe import load_recipe, recipe_path

EM_RISCV = 243


def test_kernel_is_a_flat_riscv_image(default_image: Image) -> None:
    data = default_image.kernel.read_bytes()
    assert data[0x30:0x38] == b"RISCV\0\0\0"
    assert data[0x38:0x3C] == b"RSC\x05"
    header = parse_header(data)
    assert header.text_offset == 0x200000  # 2 MiB, as RV64 kernels are linked
    assert header.image_size >= len(data)
    kernel_pkg = next(p for p in default_image.manifest["packages"] if p["role"] == "kernel")
    assert kernel_pkg["name"].startswith("linux-image-6.12.")
    assert kernel_pkg["name"].endswith("-riscv64")


def test_firmware_files_are_present(default_image: Image) -> None:
    assert default_image.bios.name == "fw_dynamic.bin"
    for name in ("fw_dynamic.bin", "fw_jump.bin"):
        data = default_image.files[name].read_bytes()
        assert 64 * 1024 < len(data) < 4 * 1024 * 1024
        assert b"OpenSBI" in data


def test_initramfs_contents(default_image: Image) -> None:
    entries = {e.path: e for e in cpio.unpack(default_image.initrd.read_bytes())}
    init = entries["init"]
    assert init.kind == "file" and init.mode == 0o755
    assert init.data.startswith(b"#!/bin/busybox sh\n")
    assert b"busybox --install -s" in init.data
    console = entries["dev/console"]
    assert (console.kind, console.major, console.minor) == ("char", 5, 1)
    busybox = entries["bin/busybox"].data
    assert busybox[:4] == b"\x7fELF" and busybox[4] == 2  # ELFCLASS64
    assert int.from_bytes(busybox[18:20], "little") == EM_RISCV
    # A static binary has no PT_INTERP program header.
    phoff = int.from_bytes(busybox[32:40], "little")
    phentsize = int.from_bytes(busybox[54:56], "little")
    phnum = int.from_bytes(busybox[56:58], "little")
    types = [
        int.from_bytes(busybox[phoff + i * phentsize : phoff + i * phentsize + 4], "little")
        for i in range(phnum)
    ]
    assert 3 not in types, "busybox should be static (no PT_INTERP)"


def test_initramfs_carries_the_virtio_modules_unpacked(default_image: Image) -> None:
    entries = {e.path: e for e in cpio.unpack(default_image.initrd.read_bytes())}
    info = default_image.manifest["modules"]
    base = f"lib/modules/{info['kernel']}"
    kernel_pkg = next(p for p in default_image.manifest["packages"] if p["role"] == "kernel")
    assert kernel_pkg["name"] == f"linux-image-{info['kernel']}"
    # What the recipe names, plus what modules.dep/modinfo say they need.
    assert set(info["names"]) >= {
        "virtio_mmio", "virtio_blk", "virtio_rng", "9pnet_virtio", "9pnet", "9p", "netfs",
        "ext4", "jbd2", "mbcache", "crc16", "crc32c_generic",
    }  # fmt: skip
    dep = entries[f"{base}/modules.dep"].data.decode()
    paths = {line.split(":")[0]: line.split(":")[1].split() for line in dep.splitlines()}
    assert len(paths) == len(info["names"])
    for path in paths:
        data = entries[f"{base}/{path}"].data
        assert path.endswith(".ko") and data[:4] == b"\x7fELF", path
        assert int.from_bytes(data[18:20], "little") == EM_RISCV
    ext4 = next(p for p in paths if p.endswith("/ext4.ko"))
    assert {p.rsplit("/", 1)[1] for p in paths[ext4]} == {"jbd2.ko", "mbcache.ko", "crc16.ko"}
    aliases = entries[f"{base}/modules.alias"].data.decode()
    # Device matches for /init's coldplug, and what the kernel itself asks for.
    for alias in ("fs-ext4 ext4", "fs-9p 9p", "crypto-crc32c crc32c_generic",
                  "virtio:d00000002v* virtio_blk", "virtio:d00000009v* 9pnet_virtio",
                  "of:N*T*Cvirtio,mmio virtio_mmio"):  # fmt: skip
        assert f"alias {alias}\n" in aliases
    assert f"{base}/modules.builtin" in entries
    assert entries["etc/filesystems"].data == b"ext4\n"


def test_manifest_records_inputs_and_outputs(default_image: Image) -> None:
    m = default_image.manifest
    recipe = load_recipe(recipe_path("default"))
    assert m["recipe"]["sha256"] == recipe.sha256
    assert {p["role"] for p in m["packages"]} == {"kernel", "busybox", "opensbi"}
    for p in m["packages"]:
        assert p["version"] and len(p["sha256"]) == 64 and p["filename"].endswith(".deb")
    assert set(m["files"]) == {"Image", "fw_dynamic.bin", "fw_jump.bin", "initramfs.cpio.gz"}
    assert "rootfs" not in m["boot"] and default_image.rootfs is None
    assert m["builder"] == BUILDER_VERSION
    for name, entry in m["files"].items():
        assert (default_image.path / name).stat().st_size == entry["size"]
    assert default_image.append == recipe.append
    assert default_image.packages["busybox-static"].startswith("1:1.")


def test_load_image_verifies_and_catches_corruption(
    default_image: Image, new_image_cache: Callable[[], Path]
) -> None:
    cache = new_image_cache()
    shutil.copytree(default_image.path, cache / "images" / "default")
    assert load_image(cache=cache).kernel == cache / "images" / "default" / "Image"

    victim = cache / "images" / "default" / "fw_jump.bin"
    data = bytearray(victim.read_bytes())
    data[1000] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"fw_jump\.bin is corrupt") as info:
        load_image(cache=cache)
    assert "rebuild it with `invoke images --force`" in str(info.value)
    # ensure_image does not paper over damage ...
    with pytest.raises(ImageError, match="corrupt"):
        ensure_image(cache=cache)
    # ... but --force repairs it.
    repaired = ensure_image(cache=cache, force=True)
    assert (
        repaired.files["fw_jump.bin"].read_bytes()
        == default_image.files["fw_jump.bin"].read_bytes()
    )

    (cache / "images" / "default" / "Image").unlink()
    with pytest.raises(ImageError, match="Image is missing"):
        load_image(cache=cache)


def test_missing_image_is_reported_then_built_by_ensure_image(
    default_image: Image, new_image_cache: Callable[[], Path]
) -> None:
    cache = new_image_cache()
    with pytest.raises(ImageError, match=r"has not been built.*`invoke images`") as info:
        load_image(cache=cache)
    assert info.value.reason == "missing"
    image = ensure_image(cache=cache)
    assert image.manifest == default_image.manifest
    # A second call reuses the verified image instead of rebuilding it.
    before = (image.path / "manifest.json").stat().st_ino
    assert ensure_image(cache=cache).path == image.path
    assert (image.path / "manifest.json").stat().st_ino == before


def test_stale_image_is_rebuilt(default_image: Image, new_image_cache: Callable[[], Path]) -> None:
    cache = new_image_cache()
    folder = cache / "images" / "default"
    shutil.copytree(default_image.path, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["recipe"]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert ensure_image(cache=cache).manifest == default_image.manifest


def test_builds_are_reproducible(
    default_image: Image,
    new_image_cache: Callable[[], Path],
    build_default: Callable[..., Image],
) -> None:
    again = build_default(new_image_cache())
    assert again.manifest == default_image.manifest
    for name, path in default_image.files.items():
        assert again.files[name].read_bytes() == path.read_bytes(), name
    assert (again.path / "manifest.json").read_bytes() == (
        default_image.path / "manifest.json"
    ).read_bytes()


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_gnu_cpio_reads_the_initramfs(default_image: Image) -> None:
    archive = gzip.decompress(default_image.initrd.read_bytes())
    listing = subprocess.run(
        ["cpio", "-tv", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    assert any(
        line.endswith(" init") and line.startswith("-rwxr-xr-x") for line in listing.splitlines()
    )
    assert any(
        line.endswith("dev/console") and line.startswith("crw") for line in listing.splitlines()
    )


def test_build_image_rejects_a_recipe_whose_glob_matches_nothing(
    new_image_cache: Callable[[], Path], tmp_path: Path
) -> None:
    text = recipe_path("default").read_text().replace("boot/vmlinux-*", "boot/vmlinuz-*")
    bad = tmp_path / "default.yaml"
    bad.write_text(text)
    with pytest.raises(ImageError, match=r"'boot/vmlinuz-\*' must match exactly one file"):
        build_image(bad, cache=new_image_cache())
