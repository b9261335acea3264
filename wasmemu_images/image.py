"""Use a built guest image: find it in the cache, verify it, build it if missing.

An image is the folder ``<cache>/images/<name>/`` written by
:mod:`wasmemu_images.build`: boot files plus ``manifest.json``. Every
:func:`load_image` re-hashes every file against the manifest (about 40 ms for
the default image's 33 MB), because the cache is a plain folder anyone may
touch and a silently damaged kernel fails in ways that look like emulator bugs.

The default kernel command line of the default image is
``console=ttyS0 quiet panic=-1``:

* ``console=ttyS0`` -- the virt board's NS16550A UART at 0x10000000, the
  console QEMU's ``-nographic`` and our runner connect to the terminal;
* ``quiet`` -- the boot log is hundreds of lines, and under emulation every
  byte written to the UART is a device access that leaves generated code;
  warnings and errors (log level 4 and below) are still shown, and ``dmesg``
  has the rest;
* ``panic=-1`` -- reboot at once on a kernel panic, so a broken boot ends the
  run (with ``-no-reboot`` in QEMU) instead of hanging until a timeout.

An image may also carry an ext4 root disk (``rootfs.ext4``, made only on
request because it needs e2fsprogs: :func:`ensure_rootfs`). It is a
*template*: a guest writes to its disk, so boot a copy
(:func:`copy_rootfs`). It is verified only when asked for, so a damaged disk
never stands in the way of the plain initramfs boot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from wasmemu_images.cache import cache_root
from wasmemu_images.debian import ProgressEvent

try:
    import fcntl
except ImportError:  # pragma: no cover - Pyodide and non-POSIX hosts
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MANIFEST",
    "Image",
    "ImageError",
    "copy_rootfs",
    "ensure_image",
    "ensure_rootfs",
    "image_dir",
    "load_image",
]

MANIFEST = "manifest.json"


class ImageError(Exception):
    """A cached image is missing, stale, corrupt or cannot be built.

    ``reason`` is ``"missing"`` (never built), ``"no-rootfs"`` (built without
    the root disk that was asked for), ``"corrupt"`` (a file or the manifest
    does not match), ``"stale"`` (built from another recipe or by older code)
    or ``"build"``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Image:
    """A verified guest image: what ``qemu-system-riscv64 -M virt`` needs to boot it."""

    name: str
    path: Path  # the image folder
    bios: Path  # OpenSBI firmware (-bios)
    kernel: Path  # flat RISC-V Image (-kernel)
    initrd: Path  # initramfs (-initrd)
    append: str  # default kernel command line (-append)
    files: Mapping[str, Path]  # every output by name, e.g. files["fw_jump.bin"]
    packages: Mapping[str, str]  # Debian package name -> version it was built from
    manifest: Mapping[str, Any]
    # The ext4 root disk template, when asked for and verified (boot a copy).
    rootfs: Path | None = None

    def qemu_args(self, append: str | None = None) -> list[str]:
        """Boot options for qemu-system-riscv64 (and for wasmemu's system mode)."""
        return [
            "-bios",
            str(self.bios),
            "-kernel",
            str(self.kernel),
            "-initrd",
            str(self.initrd),
            "-append",
            self.append if append is None else append,
        ]


def image_dir(cache: Path | str | None, name: str) -> Path:
    """The folder of image ``name`` under the cache (not created)."""
    root = Path(cache) if cache is not None else cache_root()
    return root / "images" / name


@contextlib.contextmanager
def image_lock(cache: Path, name: str, *, exclusive: bool) -> Iterator[None]:
    """Serialise builders of one image; readers share the lock."""
    folder = cache / "images"
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(folder / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def load_image(
    name: str = "default", *, cache: Path | str | None = None, rootfs: bool = False
) -> Image:
    """The cached image ``name``, every file verified against its manifest.

    The root disk is checked (and ``Image.rootfs`` set) only with ``rootfs``.
    Raises :class:`ImageError` if it was never built or anything in it does
    not match; the message says which file and how to rebuild.
    """
    root = Path(cache) if cache is not None else cache_root()
    with image_lock(root, name, exclusive=False):
        return read_verified(root, name, rootfs=rootfs)


def ensure_image(
    name: str = "default",
    *,
    cache: Path | str | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    force: bool = False,
    rootfs: bool = False,
) -> Image:
    """The image ``name``, built first if missing, stale or ``force`` is set.

    With ``rootfs`` the image must also have its ext4 root disk
    (``Image.rootfs``); an image built without one is rebuilt with it, which
    needs e2fsprogs. Without ``rootfs`` nothing needs e2fsprogs.

    Stale means built from a different recipe or by an older builder. A
    corrupt image is not rebuilt behind the user's back: the error says how
    to rebuild it. Newer Debian packages alone never trigger a rebuild; that
    takes ``force`` (``invoke images --force``).
    """
    # Imported here: build imports this module, and Pyodide, which only ever
    # loads prebuilt images, need not import the builder at all.
    from wasmemu_images.build import BUILDER_VERSION, build_locked
    from wasmemu_images.recipe import load_recipe, recipe_path

    root = Path(cache) if cache is not None else cache_root()
    recipe = load_recipe(recipe_path(name))
    with image_lock(root, name, exclusive=True):
        if not force:
            try:
                image = read_verified(root, name, rootfs=rootfs)
            except ImageError as exc:
                if exc.reason not in ("missing", "no-rootfs"):
                    raise
            else:
                built_from = image.manifest.get("recipe", {}).get("sha256")
                builder = image.manifest.get("builder")
                if built_from == recipe.sha256 and builder == BUILDER_VERSION:
                    return image
        return build_locked(recipe, root, progress, rootfs=rootfs)


def ensure_rootfs(
    name: str = "default",
    *,
    cache: Path | str | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    force: bool = False,
) -> Path:
    """The verified ext4 root disk template of image ``name``, built if needed.

    Boot a copy (:func:`copy_rootfs`), never this file: the guest writes to
    its disk, and a changed template counts as corrupt.
    """
    image = ensure_image(name, cache=cache, progress=progress, force=force, rootfs=True)
    assert image.rootfs is not None
    return image.rootfs


def copy_rootfs(
    dest: Path | str, name: str = "default", *, cache: Path | str | None = None
) -> Path:
    """A fresh, writable copy of image ``name``'s root disk at ``dest`` (built if needed)."""
    dest = Path(dest)
    shutil.copyfile(ensure_rootfs(name, cache=cache), dest)
    dest.chmod(0o644)
    return dest


def read_verified(root: Path, name: str, *, rootfs: bool = False) -> Image:
    """``load_image`` for a caller that already holds the image's lock."""
    folder = image_dir(root, name)
    manifest_path = folder / MANIFEST
    rebuild = f"rebuild it with `invoke images --force{_name_option(name)}`"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ImageError(
            f"the image {name!r} has not been built (no {manifest_path}); "
            f"build it with `invoke images{_name_option(name)}`",
            "missing",
        ) from None
    except (OSError, ValueError) as exc:
        raise ImageError(
            f"the cached image manifest {manifest_path} is unreadable ({exc}); {rebuild}",
            "corrupt",
        ) from exc
    try:
        entries: Mapping[str, Mapping[str, Any]] = manifest["files"]
        boot = manifest["boot"]
        paths = {file: folder / file for file in entries}
        chosen = {key: paths[boot[key]] for key in ("bios", "kernel", "initrd")}
        append = str(boot["append"])
        packages = {p["name"]: p["version"] for p in manifest["packages"]}
        disk = boot.get("rootfs")
        if disk is not None:
            disk_path = paths[disk]
    except (KeyError, TypeError) as exc:
        raise ImageError(
            f"the cached image manifest {manifest_path} lacks {exc}; {rebuild}", "corrupt"
        ) from exc
    if rootfs and disk is None:
        raise ImageError(
            f"the image {name!r} was built without its root disk; "
            f"build it with `invoke images --rootfs{_name_option(name)}`",
            "no-rootfs",
        )
    for file, entry in entries.items():
        if file == disk and not rootfs:
            continue  # 64 MiB to hash, and only needed by those who boot it
        path = paths[file]
        try:
            digest, size = _sha256(path)
        except FileNotFoundError:
            raise ImageError(
                f"the cached image file {path} is missing; {rebuild}", "corrupt"
            ) from None
        if digest != entry.get("sha256") or size != entry.get("size"):
            template = (
                "; did a guest write to it? boot a copy (copy_rootfs)" if file == disk else ""
            )
            raise ImageError(
                f"the cached image file {path} is corrupt (checksum mismatch{template}); "
                + (rebuild.replace("--force", "--rootfs --force") if file == disk else rebuild),
                "corrupt",
            )
    return Image(
        name=name,
        path=folder,
        append=append,
        files=paths,
        packages=packages,
        manifest=manifest,
        rootfs=disk_path if rootfs else None,
        **chosen,
    )


def _name_option(name: str) -> str:
    return "" if name == "default" else f" --name {name}"


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size
