"""Build a guest image from its recipe: Debian packages in, boot files out.

``build_image`` resolves every package of the recipe in the Debian suite
(newest matching version), downloads and extracts it through
:class:`~wasmemu_images.debian.DebianArchive` (signed indexes, SHA-256 checked
``.deb`` files), copies the recipe's files out of the packages (turning the
kernel into a flat RISC-V ``Image`` where needed, see
:mod:`wasmemu_images.kernel`), packs the initramfs (:mod:`wasmemu_images.cpio`)
adds the kernel modules the recipe names with everything they depend on
(:mod:`wasmemu_images.modules`), optionally makes the ext4 root disk
(:mod:`wasmemu_images.rootfs`, only when asked: it needs e2fsprogs), and
publishes everything in ``<cache>/images/<name>/`` together with
``manifest.json``:

.. code-block:: json

    {
      "format": 1, "builder": 2, "name": "default",
      "recipe": {"name": "default", "sha256": "..."},
      "suite": "trixie", "arch": "riscv64",
      "packages": [{"role": "kernel", "name": "linux-image-...", "version": "...",
                    "arch": "riscv64", "filename": "pool/main/...deb",
                    "size": 112012420, "sha256": "<of the .deb>"}, ...],
      "files": {"Image": {"size": ..., "sha256": "...", "from": "kernel:boot/vmlinux-..."},
                "initramfs.cpio.gz": {"size": ..., "sha256": "...", "from": "initramfs"},
                "rootfs.ext4": {"size": ..., "sha256": "...", "from": "rootfs",
                                "uuid": "...", "label": "wasmemu-root"}, ...},
      "boot": {"bios": "fw_dynamic.bin", "kernel": "Image",
               "initrd": "initramfs.cpio.gz", "append": "console=ttyS0 ...",
               "rootfs": "rootfs.ext4"},
      "kernel": {"text_offset": 2097152, "image_size": ..., "header_version": "0.2"},
      "modules": {"kernel": "6.12...-riscv64", "from": "kernel",
                  "names": ["virtio_mmio", ..., "ext4"]}   # all carried, load order
    }

``rootfs.ext4`` and ``boot.rootfs`` appear only in images built with
``rootfs=True``.

The manifest holds no time stamps or host details, so two builds from the
same packages give identical bytes, manifest included. The folder is built
next to its final place and swapped in by renames under a lock, so a reader
(:func:`wasmemu_images.image.load_image`, which takes the same lock shared)
sees either the old image or the new one, never a half-written mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from wasmemu_images import cpio
from wasmemu_images.cache import cache_root
from wasmemu_images.debian import DebianArchive, ProgressEvent, ResolvedPackage
from wasmemu_images.image import (
    MANIFEST,
    Image,
    ImageError,
    image_dir,
    image_lock,
    read_verified,
)
from wasmemu_images.kernel import KernelError, flat_riscv_image, parse_header
from wasmemu_images.modules import ModuleError, ModuleTree, modules_dep, select_modules
from wasmemu_images.recipe import (
    FileSpec,
    InitramfsItem,
    InitramfsSpec,
    Recipe,
    RootfsSpec,
    load_recipe,
)
from wasmemu_images.rootfs import RootfsError, make_ext4, time_stamp

__all__ = ["BUILDER_VERSION", "MANIFEST_FORMAT", "BuildError", "build_image"]

# Bump when the builder's output changes for an unchanged recipe, so cached
# images made by older code count as stale.
BUILDER_VERSION = 2
MANIFEST_FORMAT = 1

Progress = Callable[[ProgressEvent], None]


class BuildError(ImageError):
    """The recipe cannot be turned into an image (missing file, bad kernel...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "build")


def build_image(
    recipe_path: Path | str,
    *,
    cache: Path | str | None = None,
    progress: Progress | None = None,
    rootfs: bool = False,
) -> Image:
    """Build the image described by ``recipe_path`` into the cache and return it.

    With ``rootfs`` the recipe's ext4 root disk is made too (needs e2fsprogs).
    Always rebuilds; :func:`wasmemu_images.image.ensure_image` is the call
    that reuses a cached image. Package downloads and extractions are cached
    separately, so a rebuild costs little more than packing the initramfs.
    """
    recipe = load_recipe(recipe_path)
    root = Path(cache) if cache is not None else cache_root()
    with image_lock(root, recipe.name, exclusive=True):
        return build_locked(recipe, root, progress, rootfs=rootfs)


def build_locked(
    recipe: Recipe, root: Path, progress: Progress | None, *, rootfs: bool = False
) -> Image:
    """``build_image`` for a caller that already holds the image's exclusive lock."""

    def step(stage: str, message: str, percent: float | None = None) -> None:
        if progress is not None:
            progress(ProgressEvent(stage, percent, message))

    archive = DebianArchive(recipe.suite, arches=(recipe.arch,), cache=root, progress=progress)
    resolved: dict[str, ResolvedPackage] = {}
    unpacked: dict[str, Path] = {}
    for spec in recipe.packages:
        step("resolve", f"resolving {spec.pattern} ({spec.arch})")
        pkg = archive.resolve(spec.pattern, spec.arch)
        step("resolve", f"{spec.role}: {pkg.name} {pkg.version}", 100.0)
        resolved[spec.role] = pkg
        unpacked[spec.role] = archive.unpack(pkg)

    outputs: dict[str, bytes] = {}
    sources: dict[str, str] = {}
    kernel_info: dict[str, object] = {}
    for fspec in recipe.files:
        step("files", f"taking {fspec.name} from {resolved[fspec.package].name}")
        rel, data = _pick(unpacked[fspec.package], fspec)
        if fspec.format == "riscv-image":
            try:
                data = flat_riscv_image(data, name=rel)
                header = parse_header(data)
            except KernelError as exc:
                raise BuildError(f"{recipe.name}: files: {fspec.name}: {exc}") from exc
            if recipe.kernel == fspec.name:
                kernel_info = {
                    "text_offset": header.text_offset,
                    "image_size": header.image_size,
                    "header_version": f"{header.version >> 16}.{header.version & 0xFFFF}",
                }
        outputs[fspec.name] = data
        sources[fspec.name] = f"{fspec.package}:{rel}"

    if rootfs and recipe.rootfs is None:
        raise BuildError(
            f"{recipe.name}: the recipe has no rootfs: section; add one to build a root disk"
        )

    step("initramfs", f"packing {recipe.initramfs.name}")
    data, modules_info = _initramfs(recipe.initramfs, unpacked, step)
    outputs[recipe.initramfs.name] = data
    sources[recipe.initramfs.name] = "initramfs"
    entries: dict[str, dict[str, object]] = {
        name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "from": sources[name]}
        for name, data in outputs.items()
    }

    manifest = {
        "format": MANIFEST_FORMAT,
        "builder": BUILDER_VERSION,
        "name": recipe.name,
        "description": recipe.description,
        "recipe": {"name": recipe.name, "sha256": recipe.sha256},
        "suite": recipe.suite,
        "arch": recipe.arch,
        "packages": [
            {
                "role": role,
                "name": pkg.name,
                "version": pkg.version,
                "arch": pkg.arch,
                "filename": pkg.filename,
                "size": pkg.size,
                "sha256": pkg.sha256,
            }
            for role, pkg in resolved.items()
        ],
        "files": entries,
        "boot": {
            "bios": recipe.bios,
            "kernel": recipe.kernel,
            "initrd": recipe.initrd,
            "append": recipe.append,
        },
        "kernel": kernel_info,
    }
    if modules_info:
        manifest["modules"] = modules_info
    final = image_dir(root, recipe.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{recipe.name}.rootfs-", dir=final.parent) as tmp:
        made: dict[str, Path] = {}
        if rootfs:
            assert recipe.rootfs is not None
            spec = recipe.rootfs
            step("rootfs", f"making {spec.name} ({spec.size >> 20} MiB ext4)")
            path = Path(tmp) / spec.name
            fs_uuid = _rootfs(spec, recipe, unpacked, path)
            made[spec.name] = path
            digest, size = _sha256_file(path)
            entries[spec.name] = {
                "size": size, "sha256": digest, "from": "rootfs",
                "uuid": fs_uuid, "label": spec.label,
            }  # fmt: skip
            manifest["boot"]["rootfs"] = spec.name  # type: ignore[index]
        manifest["files"] = dict(sorted(entries.items()))
        step("write", f"writing {final}")
        _publish(final, outputs, manifest, made)
    image = read_verified(root, recipe.name, rootfs=rootfs)
    step("write", f"image {recipe.name} ready", 100.0)
    return image


def _pick(package_root: Path, spec: FileSpec) -> tuple[str, bytes]:
    matches = sorted(p for p in package_root.glob(spec.path) if p.is_file())
    if len(matches) != 1:
        found = ", ".join(str(p.relative_to(package_root)) for p in matches) or "nothing"
        raise BuildError(
            f"files: {spec.name}: the glob {spec.path!r} must match exactly one file in "
            f"{package_root.name}, found {found}; make the path in the recipe more specific"
        )
    rel = str(matches[0].relative_to(package_root))
    return rel, _read_in_package(package_root, rel, f"files: {spec.name}")


def _read_in_package(package_root: Path, rel: str, field: str) -> bytes:
    # Packages contain absolute symlinks ("/usr/bin/x") that mean the package
    # tree, not the host, so symlinks are followed by hand inside the root.
    path = package_root / rel
    for _ in range(16):
        if not path.is_symlink():
            break
        target = os.readlink(path)
        if target.startswith("/"):
            path = package_root / target.lstrip("/")
        else:
            path = path.parent / target
        path = Path(os.path.normpath(path))
        if package_root not in path.parents:
            raise BuildError(f"{field}: {rel} is a symlink leading out of its package")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BuildError(
            f"{field}: cannot read {rel} from package {package_root.name}: {exc}; "
            "check the path in the recipe"
        ) from exc


def _entries(
    contents: tuple[InitramfsItem, ...], unpacked: dict[str, Path], section: str
) -> list[cpio.Entry]:
    """The recipe's content items as archive entries, files read from their packages."""
    entries: list[cpio.Entry] = []
    for item in contents:
        if item.kind == "dir":
            entries.append(cpio.Entry.directory(item.path, item.mode))
        elif item.kind == "symlink":
            assert item.target is not None
            entries.append(cpio.Entry.symlink(item.path, item.target))
        elif item.kind == "char":
            entries.append(cpio.Entry.char_device(item.path, item.major, item.minor, item.mode))
        elif item.kind == "block":
            entries.append(cpio.Entry.block_device(item.path, item.major, item.minor, item.mode))
        elif item.text is not None:
            entries.append(cpio.Entry.file(item.path, item.text.encode(), item.mode))
        else:
            assert item.package is not None and item.source is not None
            data = _read_in_package(unpacked[item.package], item.source, f"{section}: {item.path}")
            entries.append(cpio.Entry.file(item.path, data, item.mode))
    return entries


def _initramfs(
    spec: InitramfsSpec,
    unpacked: dict[str, Path],
    step: Callable[[str, str], None],
) -> tuple[bytes, dict[str, object]]:
    """The packed initramfs, and what the manifest says about its modules."""
    entries = _entries(spec.contents, unpacked, "initramfs")
    info: dict[str, object] = {}
    if spec.modules is not None:
        step("modules", f"resolving kernel modules {', '.join(spec.modules.names)}")
        module_entries, info = _module_entries(spec, unpacked)
        taken = {e.path for e in entries}
        for entry in module_entries:
            if entry.path in taken:
                raise BuildError(
                    f"initramfs: /{entry.path} is written by the modules: section; "
                    "remove it from initramfs.contents"
                )
        entries += module_entries
    try:
        archive = cpio.pack(entries)
    except cpio.CpioError as exc:
        raise BuildError(f"initramfs: {exc}") from exc
    data = cpio.gzip_deterministic(archive) if spec.compression == "gzip" else archive
    return data, info


def _module_entries(
    spec: InitramfsSpec, unpacked: dict[str, Path]
) -> tuple[list[cpio.Entry], dict[str, object]]:
    """Modules and their dependencies, plus the files busybox modprobe reads.

    ``modules.dep`` and ``modules.alias`` let the guest's ``modprobe`` load a
    module by name, by device (``modprobe $(cat .../modalias)``), and when
    the kernel asks for one itself (``fs-ext4``, ``crypto-crc32c``).
    """
    assert spec.modules is not None
    role = spec.modules.package
    try:
        tree = ModuleTree.in_package(unpacked[role], unpacked[role].name)
        modules = select_modules(tree, spec.modules.names)
        aliases = "".join(
            f"alias {alias} {m.name}\n"
            for m in modules
            for alias in tree.modinfo(m.name).get("alias", [])
        )
    except ModuleError as exc:
        raise BuildError(f"initramfs.modules: {exc}") from exc
    base = f"lib/modules/{tree.version}"
    entries = [cpio.Entry.file(f"{base}/{m.path}", m.data) for m in modules]
    entries.append(cpio.Entry.file(f"{base}/modules.dep", modules_dep(modules).encode()))
    entries.append(cpio.Entry.file(f"{base}/modules.alias", aliases.encode()))
    builtin = tree.root / "modules.builtin"
    if builtin.is_file():
        entries.append(cpio.Entry.file(f"{base}/modules.builtin", builtin.read_bytes()))
    info = {"kernel": tree.version, "from": role, "names": [m.name for m in modules]}
    return entries, info


def _rootfs(spec: RootfsSpec, recipe: Recipe, unpacked: dict[str, Path], dest: Path) -> str:
    """Make the ext4 root disk at ``dest``; return its UUID."""
    entries = _entries(spec.contents, unpacked, "rootfs")
    # UUID and directory hash seed come from the content, so equal inputs
    # give equal bytes and a changed disk gets a new UUID.
    h = hashlib.sha256(f"{recipe.sha256}\0{spec.size}\0{spec.label}".encode())
    for e in sorted(entries, key=lambda e: e.path):
        h.update(f"\0{e.path}\0{e.kind}\0{e.mode}\0{e.major}\0{e.minor}\0".encode())
        h.update(hashlib.sha256(e.data).digest())
    digest = h.digest()
    fs_uuid = uuid.UUID(bytes=digest[:16], version=4)
    try:
        make_ext4(
            dest, entries, size=spec.size, label=spec.label, fs_uuid=fs_uuid,
            hash_seed=uuid.UUID(bytes=digest[16:32], version=4), epoch=time_stamp(),
        )  # fmt: skip
    except RootfsError as exc:
        raise BuildError(f"rootfs: {exc}") from exc
    return str(fs_uuid)


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest(), path.stat().st_size


def _publish(
    final: Path,
    outputs: dict[str, bytes],
    manifest: dict[str, object],
    made: dict[str, Path] | None = None,
) -> None:
    """Swap in the new image folder; ``made`` are files already written next to it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.build-", dir=final.parent))
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    try:
        for name, data in outputs.items():
            (tmp / name).write_bytes(data)
            (tmp / name).chmod(0o644)
        for name, path in (made or {}).items():
            os.replace(path, tmp / name)
            # A template: guests write to their disks, so they boot a copy
            # (wasmemu_images.image.copy_rootfs); read-only says so.
            (tmp / name).chmod(0o444)
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        (tmp / MANIFEST).write_text(text)
        tmp.chmod(0o755)
        with contextlib.suppress(FileNotFoundError):
            os.rename(final, old)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
