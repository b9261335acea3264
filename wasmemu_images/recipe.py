"""Load and validate a guest-image recipe (``packaging/images/<name>.yaml``).

A recipe says which Debian packages make up a guest and how to assemble them::

    name: default                 # the image's folder name in the cache
    description: free text        # optional
    suite: trixie                 # Debian suite the packages come from
    arch: riscv64                 # the guest's Debian architecture
    packages:                     # per Debian architecture (the guest's, or all)
      riscv64:
        kernel: linux-image-6.12.*-riscv64   # role: exact name or glob
      all:
        opensbi: opensbi
    files:                        # copied from packages into the image folder
      - name: Image               # output file name
        from: kernel              # a package role
        path: boot/vmlinux-*      # glob inside the package, exactly one match
        format: riscv-image       # optional: raw (default) or riscv-image
    initramfs:
      name: initramfs.cpio.gz     # output file name
      compression: gzip           # gzip or none
      contents:                   # each item has exactly one of these keys
        - {dir: /proc, mode: "0555"}
        - {file: /bin/busybox, from: busybox, path: usr/bin/busybox, mode: "0755"}
        - {file: /init, text: "#!/bin/sh ...", mode: "0755"}
        - {symlink: /bin/sh, target: busybox}
        - {char: /dev/console, major: 5, minor: 1, mode: "0600"}   # or block:
      modules:                    # optional: kernel modules, dependencies added
        from: kernel              # the package role holding lib/modules/<version>/
        names: [virtio_blk, ext4] # module names ('-' and '_' are the same)
    rootfs:                       # optional: an ext4 disk image, built on request
      name: rootfs.ext4           # output file name
      size: 64MiB                 # whole MiB (or GiB), 8MiB to 64GiB
      label: wasmemu-root         # optional file system label
      contents: [...]             # as initramfs.contents; needs /sbin/init or /init
    boot:
      bios: fw_dynamic.bin        # output names (files: or the initramfs)
      kernel: Image
      initrd: initramfs.cpio.gz
      append: console=ttyS0       # default kernel command line

Modes are quoted octal strings: YAML 1.1 reads an unquoted ``0755`` as octal
but ``755`` as decimal, a mistake that is silent and easy to make.

Every error names the file, the field (``files[1].path``) and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

__all__ = [
    "FileSpec",
    "InitramfsItem",
    "InitramfsSpec",
    "ModulesSpec",
    "PackageSpec",
    "Recipe",
    "RecipeError",
    "RootfsSpec",
    "load_recipe",
    "parse_recipe",
    "recipe_path",
]

RECIPES_DIR = Path(__file__).resolve().parent.parent / "packaging" / "images"

FILE_FORMATS = ("raw", "riscv-image")
COMPRESSIONS = ("gzip", "none")
ITEM_KINDS = ("dir", "file", "symlink", "char", "block")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_MODULE_RE = re.compile(r"[A-Za-z0-9_-]+")
_UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


class RecipeError(ValueError):
    """The recipe is missing, unreadable or invalid; the message names the fix."""


@dataclasses.dataclass(frozen=True)
class PackageSpec:
    role: str
    pattern: str  # exact Debian package name or glob
    arch: str  # Debian architecture to resolve in (the guest's or "all")


@dataclasses.dataclass(frozen=True)
class FileSpec:
    name: str  # output file name in the image folder
    package: str  # package role
    path: str  # glob relative to the package root
    format: str = "raw"


@dataclasses.dataclass(frozen=True)
class InitramfsItem:
    kind: str  # one of ITEM_KINDS
    path: str  # absolute path in the guest
    mode: int
    package: str | None = None  # file from a package ...
    source: str | None = None  # ... at this path inside it
    text: str | None = None  # or file content given inline
    target: str | None = None  # symlink target
    major: int = 0
    minor: int = 0


@dataclasses.dataclass(frozen=True)
class ModulesSpec:
    package: str  # package role holding lib/modules/<version>/
    names: tuple[str, ...]  # as written; dependencies are added by the builder


@dataclasses.dataclass(frozen=True)
class InitramfsSpec:
    name: str
    compression: str
    contents: tuple[InitramfsItem, ...]
    modules: ModulesSpec | None = None


@dataclasses.dataclass(frozen=True)
class RootfsSpec:
    name: str
    size: int  # bytes, a multiple of 1 MiB
    label: str
    contents: tuple[InitramfsItem, ...]  # same item format as the initramfs


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    suite: str
    arch: str
    packages: tuple[PackageSpec, ...]
    files: tuple[FileSpec, ...]
    initramfs: InitramfsSpec
    rootfs: RootfsSpec | None
    bios: str
    kernel: str
    initrd: str
    append: str
    sha256: str  # of the parsed content, so comments and layout do not count
    source: Path | None = None

    def package(self, role: str) -> PackageSpec:
        for spec in self.packages:
            if spec.role == role:
                return spec
        raise KeyError(role)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (*(f.name for f in self.files), self.initramfs.name)


def recipe_path(name: str) -> Path:
    """Where the recipe called ``name`` lives in this checkout."""
    if not _NAME_RE.fullmatch(name):
        raise RecipeError(f"invalid image name {name!r}: use letters, digits, '.', '_', '+', '-'")
    return RECIPES_DIR / f"{name}.yaml"


def load_recipe(path: Path | str) -> Recipe:
    """Read and validate a recipe file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecipeError(
            f"no recipe at {path}; image recipes live in {RECIPES_DIR} as NAME.yaml"
        ) from None
    except OSError as exc:
        raise RecipeError(f"cannot read the recipe {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from exc
    return parse_recipe(data, source=path)


def parse_recipe(data: Any, source: Path | None = None) -> Recipe:
    """Validate already-parsed YAML; ``source`` only serves messages."""
    return _Parser(str(source) if source else "recipe").recipe(data, source)


class _Parser:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, problem: str, fix: str) -> RecipeError:
        return RecipeError(f"{self.where}: {field}: {problem}; {fix}")

    def mapping(self, value: Any, field: str, example: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a mapping, got {_show(value)}", f"write {example}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(field, f"key {key!r} is not a string", "quote it")
        return value

    def string(self, value: Any, field: str, example: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(
                field, f"expected a non-empty string, got {_show(value)}", f"write {example}"
            )
        return value

    def only(self, data: Mapping[str, Any], field: str, allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise self.fail(
                f"{field}.{unknown[0]}" if field else unknown[0],
                "unknown field",
                f"remove it or use one of: {', '.join(allowed)}",
            )

    def required(self, data: Mapping[str, Any], key: str, field: str, example: str) -> Any:
        if key not in data:
            where = f"{field}.{key}" if field else key
            raise self.fail(where, "missing", f"add {example}")
        return data[key]

    def recipe(self, data: Any, source: Path | None) -> Recipe:
        top = self.mapping(data, "(top level)", "a mapping with name, suite, arch, ...")
        keys = (
            "name", "description", "suite", "arch", "packages", "files", "initramfs", "rootfs",
            "boot",
        )  # fmt: skip
        self.only(top, "", keys)
        name = self.string(self.required(top, "name", "", "name: default"), "name", "name: default")
        if not _NAME_RE.fullmatch(name):
            raise self.fail("name", f"{name!r} is not a valid folder name", "use [A-Za-z0-9._+-]")
        description = self.string(top.get("description", ""), "description", "text", empty=True)
        suite = self.string(
            self.required(top, "suite", "", "suite: trixie"), "suite", "suite: trixie"
        )
        arch = self.string(self.required(top, "arch", "", "arch: riscv64"), "arch", "arch: riscv64")
        packages = self.packages(self.required(top, "packages", "", "packages:"), arch)
        roles = {p.role for p in packages}
        files = self.files(self.required(top, "files", "", "files:"), roles)
        initramfs = self.initramfs(self.required(top, "initramfs", "", "initramfs:"), roles)
        outputs = [f.name for f in files]
        if initramfs.name in outputs:
            raise self.fail(
                "initramfs.name", f"{initramfs.name!r} is also a files: name", "rename one"
            )
        outputs.append(initramfs.name)
        rootfs = None
        if "rootfs" in top:
            rootfs = self.rootfs(top["rootfs"], roles)
            if rootfs.name in outputs:
                raise self.fail(
                    "rootfs.name", f"{rootfs.name!r} is also the name of another output",
                    "rename one",
                )  # fmt: skip
        boot = self.mapping(self.required(top, "boot", "", "boot:"), "boot", "boot: {...}")
        self.only(boot, "boot", ("bios", "kernel", "initrd", "append"))
        picked = {}
        for key, example in (
            ("bios", "bios: fw_dynamic.bin"),
            ("kernel", "kernel: Image"),
            ("initrd", "initrd: initramfs.cpio.gz"),
        ):
            value = self.string(self.required(boot, key, "boot", example), f"boot.{key}", example)
            if value not in outputs:
                raise self.fail(
                    f"boot.{key}",
                    f"{value!r} is not an output of this recipe",
                    f"use one of: {', '.join(outputs)}",
                )
            picked[key] = value
        append = self.string(boot.get("append", ""), "boot.append", "console=ttyS0", empty=True)
        if "\n" in append:
            raise self.fail("boot.append", "contains a line break", "write it on one line")
        digest = hashlib.sha256(
            json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
        ).hexdigest()
        return Recipe(
            name=name,
            description=description,
            suite=suite,
            arch=arch,
            packages=packages,
            files=files,
            initramfs=initramfs,
            rootfs=rootfs,
            append=" ".join(append.split()),
            sha256=digest,
            source=source,
            **picked,
        )

    def packages(self, value: Any, guest_arch: str) -> tuple[PackageSpec, ...]:
        example = f"packages: {{{guest_arch}: {{kernel: linux-image-6.12.*-{guest_arch}}}}}"
        by_arch = self.mapping(value, "packages", example)
        result: list[PackageSpec] = []
        seen: set[str] = set()
        for deb_arch, roles in by_arch.items():
            field = f"packages.{deb_arch}"
            if deb_arch not in (guest_arch, "all"):
                raise self.fail(
                    field,
                    f"architecture {deb_arch!r} is neither the guest's ({guest_arch}) nor 'all'",
                    f"group packages under {guest_arch}: or all:",
                )
            for role, pattern in self.mapping(roles, field, "ROLE: PACKAGE").items():
                if role in seen:
                    raise self.fail(f"{field}.{role}", "role used twice", "give it another name")
                seen.add(role)
                pattern = self.string(
                    pattern, f"{field}.{role}", f"{role}: PACKAGE-NAME (a glob is allowed)"
                )
                if any(c.isspace() for c in pattern):
                    raise self.fail(
                        f"{field}.{role}", "contains spaces", "give one package name or glob"
                    )
                result.append(PackageSpec(role, pattern, deb_arch))
        if not result:
            raise self.fail("packages", "no packages", f"add at least one, e.g. {example}")
        return tuple(result)

    def files(self, value: Any, roles: set[str]) -> tuple[FileSpec, ...]:
        if not isinstance(value, list):
            raise self.fail(
                "files", f"expected a list, got {_show(value)}", "write `- name: ...` items"
            )
        result: list[FileSpec] = []
        names: set[str] = set()
        for i, item in enumerate(value):
            field = f"files[{i}]"
            item = self.mapping(item, field, "{name: Image, from: kernel, path: boot/vmlinux-*}")
            self.only(item, field, ("name", "from", "path", "format"))
            name = self.output_name(self.required(item, "name", field, "name: FILE"), field)
            if name in names:
                raise self.fail(f"{field}.name", f"{name!r} used twice", "rename one")
            names.add(name)
            package = self.role(self.required(item, "from", field, "from: ROLE"), field, roles)
            path = self.package_path(self.required(item, "path", field, "path: GLOB"), field)
            fmt = item.get("format", "raw")
            if fmt not in FILE_FORMATS:
                raise self.fail(
                    f"{field}.format", f"unknown format {fmt!r}", f"use {' or '.join(FILE_FORMATS)}"
                )
            result.append(FileSpec(name, package, path, fmt))
        return tuple(result)

    def output_name(self, value: Any, field: str) -> str:
        name = self.string(value, f"{field}.name", "name: Image")
        if not _NAME_RE.fullmatch(name) or name == "manifest.json":
            raise self.fail(
                f"{field}.name",
                f"{name!r} is not a plain file name (or is reserved)",
                "use letters, digits, '.', '_', '+', '-' and not manifest.json",
            )
        return name

    def role(self, value: Any, field: str, roles: set[str]) -> str:
        role = self.string(value, f"{field}.from", "from: ROLE")
        if role not in roles:
            raise self.fail(
                f"{field}.from",
                f"no package has the role {role!r}",
                f"use one of: {', '.join(sorted(roles))}, or add it under packages:",
            )
        return role

    def package_path(self, value: Any, field: str) -> str:
        path = self.string(value, f"{field}.path", "path: usr/bin/busybox")
        parts = PurePosixPath(path).parts
        if path.startswith("/") or ".." in parts:
            raise self.fail(
                f"{field}.path",
                f"{path!r} must be relative to the package root and stay inside it",
                "write it without a leading / and without ..",
            )
        return path

    def mode(self, item: Mapping[str, Any], field: str, default: int) -> int:
        if "mode" not in item:
            return default
        raw = item["mode"]
        if not isinstance(raw, str) or not re.fullmatch(r"(0o?)?[0-7]{1,4}", raw):
            raise self.fail(
                f"{field}.mode",
                f"{_show(raw)} is not a quoted octal mode",
                'write it quoted, e.g. mode: "0755"',
            )
        return int(raw.removeprefix("0o"), 8)

    def initramfs(self, value: Any, roles: set[str]) -> InitramfsSpec:
        spec = self.mapping(value, "initramfs", "initramfs: {name: ..., contents: [...]}")
        self.only(spec, "initramfs", ("name", "compression", "contents", "modules"))
        name = self.output_name(
            self.required(spec, "name", "initramfs", "name: initramfs.cpio.gz"), "initramfs"
        )
        compression = spec.get("compression", "gzip")
        if compression not in COMPRESSIONS:
            raise self.fail(
                "initramfs.compression",
                f"unknown compression {compression!r}",
                f"use {' or '.join(COMPRESSIONS)}",
            )
        contents = self.contents(
            self.required(spec, "contents", "initramfs", "contents: [...]"), "initramfs", roles
        )
        if not any(item.path == "/init" for item in contents):
            raise self.fail(
                "initramfs.contents", "no /init", 'add `- {file: /init, mode: "0755", text: ...}`'
            )
        modules = None
        if "modules" in spec:
            modules = self.modules(spec["modules"], roles)
        return InitramfsSpec(name, compression, contents, modules)

    def contents(self, items: Any, section: str, roles: set[str]) -> tuple[InitramfsItem, ...]:
        field = f"{section}.contents"
        if not isinstance(items, list) or not items:
            raise self.fail(
                field, f"expected a non-empty list, got {_show(items)}",
                "list entries such as `- {file: /init, text: ...}`",
            )  # fmt: skip
        contents = []
        paths: set[str] = set()
        for i, raw in enumerate(items):
            item = self.item(raw, f"{field}[{i}]", roles)
            if item.path in paths:
                raise self.fail(f"{field}[{i}]", f"{item.path} is listed twice", "keep one")
            paths.add(item.path)
            contents.append(item)
        return tuple(contents)

    def modules(self, value: Any, roles: set[str]) -> ModulesSpec:
        field = "initramfs.modules"
        spec = self.mapping(value, field, "modules: {from: kernel, names: [virtio_blk]}")
        self.only(spec, field, ("from", "names"))
        package = self.role(self.required(spec, "from", field, "from: kernel"), field, roles)
        names = self.required(spec, "names", field, "names: [virtio_blk, ext4]")
        if not isinstance(names, list) or not names:
            raise self.fail(
                f"{field}.names", f"expected a non-empty list, got {_show(names)}",
                "write names: [virtio_blk, ext4]",
            )  # fmt: skip
        seen: set[str] = set()
        for i, name in enumerate(names):
            # YAML reads a bare 9p as a string but e.g. 1 as a number.
            if not isinstance(name, str) or not _MODULE_RE.fullmatch(name):
                raise self.fail(
                    f"{field}.names[{i}]", f"{_show(name)} is not a kernel module name",
                    "write the module's name, e.g. virtio_blk (no path, no .ko)",
                )  # fmt: skip
            canonical = name.replace("-", "_")
            if canonical in seen:
                raise self.fail(f"{field}.names[{i}]", f"{name} is listed twice", "keep one")
            seen.add(canonical)
        return ModulesSpec(package, tuple(names))

    def rootfs(self, value: Any, roles: set[str]) -> RootfsSpec:
        spec = self.mapping(value, "rootfs", "rootfs: {name: rootfs.ext4, size: 64MiB, ...}")
        self.only(spec, "rootfs", ("name", "size", "label", "contents"))
        name = self.output_name(
            self.required(spec, "name", "rootfs", "name: rootfs.ext4"), "rootfs"
        )
        raw_size = self.required(spec, "size", "rootfs", "size: 64MiB")
        m = re.fullmatch(
            r"\s*(\d+)\s*(KiB|MiB|GiB)\s*", raw_size if isinstance(raw_size, str) else ""
        )
        size = int(m[1]) * _UNITS[m[2]] if m else 0
        if not m or size % _UNITS["MiB"] or not 8 * _UNITS["MiB"] <= size <= 64 * _UNITS["GiB"]:
            raise self.fail(
                "rootfs.size", f"{_show(raw_size)} is not a size from 8MiB to 64GiB in whole MiB",
                "write e.g. size: 64MiB",
            )  # fmt: skip
        label = self.string(spec.get("label", "rootfs"), "rootfs.label", "label: wasmemu-root")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,16}", label):
            raise self.fail(
                "rootfs.label", f"{label!r} is not a usable ext4 label",
                "use up to 16 of A-Z a-z 0-9 . _ -",
            )  # fmt: skip
        contents = self.contents(
            self.required(spec, "contents", "rootfs", "contents: [...]"), "rootfs", roles
        )
        if not any(item.path in ("/sbin/init", "/init") for item in contents):
            raise self.fail(
                "rootfs.contents", "no /sbin/init (nor /init)",
                'add `- {file: /sbin/init, mode: "0755", text: ...}`',
            )  # fmt: skip
        return RootfsSpec(name, size, label, contents)

    def item(self, raw: Any, field: str, roles: set[str]) -> InitramfsItem:
        item = self.mapping(raw, field, "{dir: /proc}")
        kinds = [k for k in ITEM_KINDS if k in item]
        if len(kinds) != 1:
            raise self.fail(
                field,
                f"has {len(kinds)} of the keys {', '.join(ITEM_KINDS)}",
                "give exactly one, whose value is the path in the guest",
            )
        kind = kinds[0]
        path = self.string(item[kind], f"{field}.{kind}", f"{kind}: /ABSOLUTE/PATH")
        parts = PurePosixPath(path).parts
        if not path.startswith("/") or path == "/" or ".." in parts or "." in path.split("/"):
            raise self.fail(
                f"{field}.{kind}", f"{path!r} is not an absolute path below /", "e.g. /bin/busybox"
            )
        path = str(PurePosixPath(path))
        if kind == "dir":
            self.only(item, field, ("dir", "mode"))
            return InitramfsItem("dir", path, self.mode(item, field, 0o755))
        if kind == "symlink":
            self.only(item, field, ("symlink", "target"))
            target = self.string(
                self.required(item, "target", field, "target: busybox"), f"{field}.target", "x"
            )
            return InitramfsItem("symlink", path, 0o777, target=target)
        if kind in ("char", "block"):
            self.only(item, field, (kind, "major", "minor", "mode"))
            numbers = {}
            for key in ("major", "minor"):
                v = self.required(item, key, field, f"{key}: NUMBER")
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 20:
                    raise self.fail(
                        f"{field}.{key}", f"expected a device number, got {_show(v)}", "e.g. 5"
                    )
                numbers[key] = v
            return InitramfsItem(kind, path, self.mode(item, field, 0o600), **numbers)
        self.only(item, field, ("file", "from", "path", "text", "mode"))
        mode = self.mode(item, field, 0o644)
        if "text" in item:
            if "from" in item or "path" in item:
                raise self.fail(field, "has both text and from/path", "keep one source")
            text = self.string(item["text"], f"{field}.text", "text: |", empty=True)
            return InitramfsItem("file", path, mode, text=text)
        if "from" not in item or "path" not in item:
            raise self.fail(
                field,
                "a file needs its content",
                "add `text: ...`, or `from: ROLE` and `path: FILE-IN-PACKAGE`",
            )
        package = self.role(item["from"], field, roles)
        source = self.package_path(item["path"], field)
        return InitramfsItem("file", path, mode, package=package, source=source)


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]
