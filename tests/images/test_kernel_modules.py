"""Kernel module selection on synthetic module trees: dependencies from
modules.dep or from each module's .modinfo, soft dependencies, built-in
modules, decompression, and the errors a recipe author sees."""

from __future__ import annotations

import gzip
import lzma
import struct
from pathlib import Path

import pytest

from wasmemu_images.modules import (
    ModuleError,
    ModuleTree,
    module_name,
    modules_dep,
    parse_modinfo,
    select_modules,
)

VERSION = "6.12.0-test-riscv64"


def fake_module(**info: str | list[str]) -> bytes:
    """A minimal ELF64 relocatable object whose .modinfo holds ``info``."""
    fields = []
    for key, value in info.items():
        for v in value if isinstance(value, list) else [value]:
            fields.append(f"{key}={v}".encode() + b"\0")
    modinfo = b"".join(fields)
    shstrtab = b"\0.modinfo\0.shstrtab\0"
    data_off = 64
    str_off = data_off + len(modinfo)
    shoff = (str_off + len(shstrtab) + 7) & ~7

    def shdr(name: int, kind: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, kind, 0, 0, offset, size, 0, 0, 1, 0)

    header = b"\x7fELF\x02\x01\x01" + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 1, 243, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    body = header + modinfo + shstrtab
    body += bytes(shoff - len(body))
    body += shdr(0, 0, 0, 0) + shdr(1, 1, data_off, len(modinfo)) + shdr(10, 3, str_off, 19)
    return body


def make_tree(
    tmp_path: Path,
    modules: dict[str, dict[str, str | list[str]]],
    *,
    builtin: tuple[str, ...] = (),
    modules_dep: str | None = None,
    compress: str = "xz",
) -> Path:
    """lib/modules/VERSION/ in a fake package, modules under kernel/<name>.ko.<compress>."""
    root = tmp_path / "pkg" / "usr" / "lib" / "modules" / VERSION
    for path, info in modules.items():
        name = module_name(path)
        data = fake_module(name=name, **info)
        if compress == "xz":
            data, suffix = lzma.compress(data, format=lzma.FORMAT_XZ), ".ko.xz"
        elif compress == "gz":
            data, suffix = gzip.compress(data), ".ko.gz"
        else:
            suffix = ".ko"
        target = root / "kernel" / f"{path}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (root / "modules.builtin").write_text("".join(f"kernel/{b}.ko\n" for b in builtin))
    if modules_dep is not None:
        (root / "modules.dep").write_text(modules_dep)
    return tmp_path / "pkg"


# Shaped like Debian's 6.12 kernel: ext4's chain plus a crypto soft dependency.
EXT4_LIKE: dict[str, dict[str, str | list[str]]] = {
    "fs/ext4/ext4": {"depends": "jbd2,mbcache,crc16", "softdep": "pre: crypto-crc32c"},
    "fs/jbd2/jbd2": {"depends": "", "softdep": "pre: crypto-crc32c"},
    "fs/mbcache": {"depends": ""},
    "lib/crc16": {"depends": ""},
    "crypto/crc32c_generic": {"depends": "", "alias": ["crypto-crc32c", "crc32c"]},
    "fs/9p/9p": {"depends": "9pnet,netfs", "alias": "fs-9p"},
    "net/9p/9pnet": {"depends": "netfs"},
    "net/9p/9pnet_virtio": {"depends": "9pnet", "alias": "virtio:d00000009v*"},
    "fs/netfs/netfs": {"depends": ""},
    "drivers/char/hw_random/virtio-rng": {"depends": ""},
}


def names(mods: list) -> list[str]:
    return [m.name for m in mods]


def assert_load_order(order: list[str], tree: ModuleTree) -> None:
    for i, name in enumerate(order):
        for dep in tree.depends(name):
            if dep not in tree.builtin:
                assert dep in order[:i], f"{name} loads before its dependency {dep}"


def test_modinfo_dependencies_resolve_recursively_in_load_order(tmp_path: Path) -> None:
    tree = ModuleTree.in_package(make_tree(tmp_path, EXT4_LIKE), "linux-image-test")
    assert tree.version == VERSION
    mods = select_modules(tree, ["9p", "ext4"])
    order = names(mods)
    expected = {"9p", "9pnet", "netfs", "ext4", "jbd2", "mbcache", "crc16", "crc32c_generic"}
    assert set(order) == expected
    assert_load_order(order, tree)
    # The soft dependency comes first, before jbd2 which wants it too.
    assert order.index("crc32c_generic") < order.index("jbd2") < order.index("ext4")
    # Plain ELF out, named .ko, wherever the package keeps it.
    ext4 = mods[order.index("ext4")]
    assert ext4.path == "kernel/fs/ext4/ext4.ko"
    assert ext4.data[:4] == b"\x7fELF"
    assert parse_modinfo(ext4.data)["depends"] == ["jbd2,mbcache,crc16"]
    assert ext4.depends == ("jbd2", "mbcache", "crc16")


def test_dash_and_underscore_name_the_same_module(tmp_path: Path) -> None:
    tree = ModuleTree.in_package(make_tree(tmp_path, EXT4_LIKE), "k")
    (rng,) = select_modules(tree, ["virtio-rng"])
    assert (rng.name, rng.path) == ("virtio_rng", "kernel/drivers/char/hw_random/virtio-rng.ko")
    assert names(select_modules(tree, ["virtio_rng"])) == ["virtio_rng"]


def test_builtin_modules_are_skipped(tmp_path: Path) -> None:
    modules = {
        "fs/ext4/ext4": {"depends": "jbd2,crc16"},
        "fs/jbd2/jbd2": {"depends": ""},
    }
    tree = ModuleTree.in_package(make_tree(tmp_path, modules, builtin=("lib/crc16",)), "k")
    assert names(select_modules(tree, ["ext4", "crc16"])) == ["jbd2", "ext4"]


def test_modules_dep_is_used_when_the_tree_has_one(tmp_path: Path) -> None:
    # modules.dep says what to load; the modules' own (stale) modinfo is ignored.
    dep = (
        "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\n"
        "kernel/net/9p/9pnet.ko.xz: kernel/fs/netfs/netfs.ko.xz\n"
        "kernel/fs/netfs/netfs.ko.xz:\n"
        "kernel/lib/extra.ko.xz:\n"
    )
    modules = {
        "fs/9p/9p": {"depends": "extra"},
        "net/9p/9pnet": {"depends": ""},
        "fs/netfs/netfs": {"depends": ""},
        "lib/extra": {"depends": ""},
    }
    tree = ModuleTree.in_package(make_tree(tmp_path, modules, modules_dep=dep), "k")
    assert names(select_modules(tree, ["9p"])) == ["netfs", "9pnet", "9p"]


def test_generated_modules_dep_lists_transitive_dependencies_like_depmod(tmp_path: Path) -> None:
    tree = ModuleTree.in_package(make_tree(tmp_path, EXT4_LIKE), "k")
    text = modules_dep(select_modules(tree, ["9pnet_virtio", "9p"]))
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert lines["kernel/fs/netfs/netfs.ko"] == ""
    # Everything needed, the one to load first last (as modprobe reads it).
    needs = ["kernel/net/9p/9pnet.ko", "kernel/fs/netfs/netfs.ko"]
    assert lines["kernel/fs/9p/9p.ko"].split() == needs
    assert lines["kernel/net/9p/9pnet_virtio.ko"].split() == needs


@pytest.mark.parametrize("compress", ["xz", "gz", "none"])
def test_modules_come_out_uncompressed(tmp_path: Path, compress: str) -> None:
    tree = ModuleTree.in_package(make_tree(tmp_path, EXT4_LIKE, compress=compress), "k")
    (crc16,) = select_modules(tree, ["crc16"])
    assert crc16.path == "kernel/lib/crc16.ko"
    assert parse_modinfo(crc16.data)["name"] == ["crc16"]


def test_a_missing_module_is_named_with_the_fix(tmp_path: Path) -> None:
    tree = ModuleTree.in_package(make_tree(tmp_path, EXT4_LIKE), "k")
    with pytest.raises(ModuleError, match=r"kernel module 'virtio_bkl' is not in .*fix the name"):
        select_modules(tree, ["ext4", "virtio_bkl"])


def test_a_missing_dependency_names_who_needs_it(tmp_path: Path) -> None:
    modules = {"fs/ext4/ext4": {"depends": "jbd2"}}
    tree = ModuleTree.in_package(make_tree(tmp_path, modules), "k")
    with pytest.raises(ModuleError, match=r"'jbd2' \(needed by ext4\) is not in"):
        select_modules(tree, ["ext4"])


def test_an_unresolvable_soft_dependency_says_what_to_add(tmp_path: Path) -> None:
    modules = {"fs/ext4/ext4": {"depends": "", "softdep": "pre: crypto-crc99"}}
    tree = ModuleTree.in_package(make_tree(tmp_path, modules), "k")
    with pytest.raises(ModuleError, match=r"ext4 wants 'crypto-crc99' .* add the module"):
        select_modules(tree, ["ext4"])


def test_a_soft_dependency_met_by_a_listed_module_is_found_by_its_alias(tmp_path: Path) -> None:
    modules = {
        "fs/ext4/ext4": {"depends": "", "softdep": "pre: crypto-crc32c"},
        "arch/riscv/crypto/crc32c_riscv": {"depends": "", "alias": "crypto-crc32c"},
    }
    tree = ModuleTree.in_package(make_tree(tmp_path, modules), "k")
    assert names(select_modules(tree, ["ext4", "crc32c_riscv"])) == ["crc32c_riscv", "ext4"]


def test_dependency_cycles_are_reported(tmp_path: Path) -> None:
    modules = {"lib/a": {"depends": "b"}, "lib/b": {"depends": "a"}}
    tree = ModuleTree.in_package(make_tree(tmp_path, modules), "k")
    with pytest.raises(ModuleError, match="cycle"):
        select_modules(tree, ["a"])


def test_a_package_without_modules_is_reported(tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    with pytest.raises(ModuleError, match=r"exactly one lib/modules/<version>/ .* found none"):
        ModuleTree.in_package(tmp_path, "busybox-static")


def test_a_corrupt_module_is_reported(tmp_path: Path) -> None:
    pkg = make_tree(tmp_path, {"lib/crc16": {"depends": ""}})
    (pkg / "usr/lib/modules" / VERSION / "kernel/lib/crc16.ko.xz").write_bytes(b"not xz")
    tree = ModuleTree.in_package(pkg, "k")
    with pytest.raises(ModuleError, match=r"crc16\.ko\.xz does not decompress"):
        select_modules(tree, ["crc16"])
    with pytest.raises(ModuleError, match="not a little-endian ELF64"):
        parse_modinfo(b"garbage" * 20, "x.ko")
