"""Recipe validation: the default recipe loads, and each mistake gets a message
naming the field and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from wasmemu_images.recipe import RecipeError, load_recipe, parse_recipe, recipe_path

DEFAULT = recipe_path("default")


def base() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT.read_text())


def test_default_recipe_loads() -> None:
    r = load_recipe(DEFAULT)
    assert (r.name, r.suite, r.arch) == ("default", "trixie", "riscv64")
    assert {p.role: (p.pattern, p.arch) for p in r.packages} == {
        "kernel": ("linux-image-6.12.*-riscv64", "riscv64"),
        "busybox": ("busybox-static", "riscv64"),
        "opensbi": ("opensbi", "all"),
    }
    assert (r.bios, r.kernel, r.initrd) == ("fw_dynamic.bin", "Image", "initramfs.cpio.gz")
    assert "fw_jump.bin" in r.outputs
    assert r.append.startswith("console=ttyS0")
    items = {i.path: i for i in r.initramfs.contents}
    assert items["/init"].mode == 0o755 and "busybox --install -s" in (items["/init"].text or "")
    assert (items["/dev/console"].kind, items["/dev/console"].major) == ("char", 5)
    assert items["/tmp"].mode == 0o1777
    # Drivers for the virtio-mmio devices, from the kernel's own package.
    assert r.initramfs.modules is not None
    assert r.initramfs.modules.package == "kernel"
    assert set(r.initramfs.modules.names) == {
        "virtio_mmio", "virtio_blk", "ext4", "9pnet_virtio", "9p", "virtio_rng",
    }  # fmt: skip
    # /init handles root= and 9p shares.
    init = items["/init"].text or ""
    assert "switch_root" in init and "mount_tag" in init and "modalias" in init
    assert 'echo "wasmemu: Debian riscv64 guest' in init


def test_default_recipe_has_a_root_disk() -> None:
    rootfs = load_recipe(DEFAULT).rootfs
    assert rootfs is not None
    assert (rootfs.name, rootfs.size, rootfs.label) == ("rootfs.ext4", 64 << 20, "wasmemu-root")
    items = {i.path: i for i in rootfs.contents}
    assert items["/sbin/init"].mode == 0o755
    assert "wasmemu: Debian riscv64 rootfs on" in (items["/sbin/init"].text or "")
    assert items["/bin/busybox"].package == "busybox"
    assert items["/bin/sh"].kind == "symlink"


def test_modules_and_rootfs_are_optional() -> None:
    data = base()
    del data["initramfs"]["modules"]
    del data["rootfs"]
    r = parse_recipe(data)
    assert r.initramfs.modules is None and r.rootfs is None


def test_rootfs_needs_an_init() -> None:
    data = base()
    data["rootfs"]["contents"] = [
        i for i in data["rootfs"]["contents"] if i.get("file") != "/sbin/init"
    ]
    with pytest.raises(RecipeError, match=r"rootfs\.contents: no /sbin/init"):
        parse_recipe(data)


def test_hash_ignores_comments_but_not_content(tmp_path: Path) -> None:
    text = DEFAULT.read_text()
    commented = tmp_path / "default.yaml"
    commented.write_text("# another comment\n" + text)
    assert load_recipe(commented).sha256 == load_recipe(DEFAULT).sha256
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("panic=-1", "panic=10"))
    assert load_recipe(changed).sha256 != load_recipe(DEFAULT).sha256


def edit(path: str, value: Any) -> dict[str, Any]:
    """The default recipe with the field at ``path`` (dots, [i]) replaced or deleted."""
    data = copy.deepcopy(base())
    keys: list[Any] = []
    for part in path.split("."):
        name, _, index = part.partition("[")
        keys.append(name)
        if index:
            keys.append(int(index.rstrip("]")))
    node = data
    for key in keys[:-1]:
        node = node[key]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


DELETE = object()

CASES = [
    ("suite", DELETE, r"suite: missing; add suite: trixie"),
    ("bogus", 1, r"bogus: unknown field; remove it"),
    ("packages.riscv64.kernel", 42, r"packages\.riscv64\.kernel: expected a non-empty string"),
    ("packages.amd64", {"x": "y"}, r"packages\.amd64: architecture 'amd64' is neither"),
    ("files[0].from", "kernal", r"files\[0\]\.from: no package has the role 'kernal'; use one of"),
    ("files[1].path", "/usr/lib/x", r"files\[1\]\.path: .* must be relative"),
    ("files[0].format", "zimage", r"files\[0\]\.format: unknown format 'zimage'; use raw or"),
    ("files[2].name", "fw_dynamic.bin", r"files\[2\]\.name: 'fw_dynamic.bin' used twice"),
    ("boot.bios", "fw_payload.bin", r"boot\.bios: 'fw_payload.bin' is not an output"),
    ("boot.append", "a\nb", r"boot\.append: contains a line break"),
    ("initramfs.compression", "xz", r"initramfs\.compression: unknown compression 'xz'"),
    ("initramfs.contents[0]", {"dir": "/a", "file": "/b"}, r"contents\[0\]: has 2 of the keys"),
    ("initramfs.contents[0]", {"dir": "bin"}, r"contents\[0\]\.dir: 'bin' is not an absolute"),
    ("initramfs.contents[5].mode", 755, r"contents\[5\]\.mode: int 755 is not a quoted octal"),
    ("initramfs.contents[5].mode", "0955", r"is not a quoted octal mode; write it quoted"),
    ("initramfs.contents[11].major", "five", r"contents\[11\]\.major: expected a device number"),
    ("initramfs.contents[12].from", "nope", r"contents\[12\]\.from: no package has the role"),
    ("initramfs.contents[12].path", DELETE, r"contents\[12\]: a file needs its content"),
    ("initramfs.contents[1]", {"dir": "/bin"}, r"contents\[1\]: /bin is listed twice"),
    ("initramfs.name", "Image", r"initramfs\.name: 'Image' is also a files: name"),
    ("initramfs.modules.from", "busybx", r"initramfs\.modules\.from: no package has the role"),
    ("initramfs.modules.names", [], r"initramfs\.modules\.names: expected a non-empty list"),
    ("initramfs.modules.names[0]", "fs/ext4.ko", r"names\[0\]: str 'fs/ext4.ko' is not a kernel"),
    ("initramfs.modules.names[0]", 9, r"names\[0\]: int 9 is not a kernel module name"),
    ("initramfs.modules.names[1]", "virtio-mmio", r"names\[1\]: virtio-mmio is listed twice"),
    ("initramfs.modules.load", ["x"], r"initramfs\.modules\.load: unknown field"),
    ("rootfs.name", "Image", r"rootfs\.name: 'Image' is also the name of another output"),
    ("rootfs.size", "64M", r"rootfs\.size: str '64M' is not a size .*write e\.g\. size: 64MiB"),
    ("rootfs.size", "4MiB", r"rootfs\.size: str '4MiB' is not a size from 8MiB"),
    ("rootfs.size", 67108864, r"rootfs\.size: int 67108864 is not a size"),
    ("rootfs.label", "a label with spaces", r"rootfs\.label: .* is not a usable ext4 label"),
    ("rootfs.contents", [], r"rootfs\.contents: expected a non-empty list"),
    ("rootfs.contents[0].dir", "bin", r"rootfs\.contents\[0\]\.dir: 'bin' is not an absolute"),
]


@pytest.mark.parametrize(("path", "value", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_recipes_name_the_field_and_the_fix(path: str, value: Any, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse_recipe(edit(path, value), source=Path("r.yaml"))


def test_missing_init_is_reported() -> None:
    data = base()
    data["initramfs"]["contents"] = [
        i for i in data["initramfs"]["contents"] if i.get("file") != "/init"
    ]
    with pytest.raises(RecipeError, match=r"initramfs\.contents: no /init"):
        parse_recipe(data)


def test_unreadable_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"no recipe at .*NAME\.yaml"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="invalid image name"):
        recipe_path("../etc/passwd")
