"""The files the JavaScript runners load: the engine and a guest image as file packages.

A web bundle is a folder with

* ``wasmemu-engine.data`` (+ ``.js.metadata``): the engine's Python sources,
  installed at ``/wasmemu/engine`` in Pyodide's file system;
* ``guest-NAME.data`` (+ ``.js.metadata``): firmware, kernel and initramfs of
  image NAME at ``/guest``;
* ``bundle.json``: which packages to load and the engine options that boot the
  guest from them, plus the digests of the inputs, so an unchanged bundle is
  reused and a changed engine or image is repackaged.

The Node.js runner (packaging/node/run.mjs) and the browser page read only
``bundle.json`` and the packages, and every file is checked against its
SHA-256 before the guest starts.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from wasmemu_images.cache import cache_root
from wasmemu_images.file_packager import write_package
from wasmemu_images.image import Image

BUNDLE_FORMAT = 1
ENGINE_PACKAGE = "wasmemu-engine.data"
ENGINE_MOUNT = "/wasmemu"
GUEST_MOUNT = "/guest"
ENGINE_ROOT = Path(__file__).resolve().parent.parent / "engine"


def default_bundle_dir(image_name: str = "default") -> Path:
    """Where `invoke run --node`/`invoke serve` keep the bundle (run.mjs looks here too)."""
    return cache_root() / "web" / image_name


def python_sources(root: Path, prefix: str) -> dict[str, Path]:
    """The Python files below `root` by ``prefix/relative path`` (no byte code, no caches)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            found[f"{prefix}/{path.relative_to(root).as_posix()}"] = path
    return found


def engine_files(root: Path = ENGINE_ROOT) -> dict[str, Path]:
    """The engine's sources by path below /wasmemu."""
    return python_sources(root, "engine")


def _digest(files: dict[str, Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for name, path in files.items():
        h.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def guest_files(image: Image) -> dict[str, Path]:
    return {"bios": image.bios, "kernel": image.kernel, "initrd": image.initrd}


def build_bundle(image: Image, dest: Path | None = None) -> Path:
    """Write (or reuse) the bundle for `image` in `dest`; returns the folder."""
    dest = default_bundle_dir(image.name) if dest is None else dest
    dest.mkdir(parents=True, exist_ok=True)
    engine = engine_files()
    roles = guest_files(image)
    guest = {path.name: path for path in roles.values()}  # as they appear in /guest
    inputs = {"engine": _digest(engine), "guest": _digest(guest, image.append)}
    manifest_path = dest / "bundle.json"
    old = _read_json(manifest_path)
    guest_package = f"guest-{image.name}.data"
    packages: list[dict[str, Any]] = []
    for key, data_name, files, mount, label in (
        ("engine", ENGINE_PACKAGE, engine, ENGINE_MOUNT, "the wasmemu engine"),
        ("guest", guest_package, guest, GUEST_MOUNT, f"the guest image '{image.name}'"),
    ):  # fmt: skip
        reuse = old.get("inputs", {}).get(key) == inputs[key] and (dest / data_name).is_file()
        if not reuse:
            write_package(files, dest / data_name, mount=mount)
        packages.append({"data": data_name, "label": label})
    argv = [
        "-bios", f"{GUEST_MOUNT}/{roles['bios'].name}",
        "-kernel", f"{GUEST_MOUNT}/{roles['kernel'].name}",
        "-initrd", f"{GUEST_MOUNT}/{roles['initrd'].name}",
        "-append", image.append,
    ]  # fmt: skip
    manifest = {
        "format": BUNDLE_FORMAT,
        "image": image.name,
        "packages": packages,
        "argv": argv,
        "inputs": inputs,
    }
    tmp = manifest_path.with_name(f".bundle.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, manifest_path)
    return dest


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
