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
    ("initramfs.contents[9].major", "five", r"contents\[9\]\.major: expected a device number"),
    ("initramfs.contents[10].from", "nope", r"contents\[10\]\.from: no package has the role"),
    ("initramfs.contents[10].path", DELETE, r"contents\[10\]: a file needs its content"),
    ("initramfs.contents[1]", {"dir": "/bin"}, r"contents\[1\]: /bin is listed twice"),
    ("initramfs.name", "Image", r"initramfs\.name: 'Image' is also a files: name"),
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
