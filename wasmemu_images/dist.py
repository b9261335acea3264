"""`invoke build`: everything a user downloads, in ``dist/``, described by ``dist/manifest.yaml``.

``dist/`` holds one folder, ``wasmemu-VERSION/``, laid out as the user unpacks
it from the release archive::

    run.mjs vm-worker.mjs input_ring.mjs file_package.mjs   the Node.js runner
    package.json node_modules/{pyodide,@xterm/xterm}       its pinned packages
    web/index.html web/page.mjs                            the browser page
    bundle/                                                engine + default guest (web bundle)
    wasmemu-VERSION-py3-none-any.whl                       the engine, for native use
    serve.py README.txt SHA256SUMS

and ``manifest.yaml`` beside it: every file with its SHA-256 and size, the
variants, and the resolved version of every input (Python and setuptools that
built the wheel, wasmtime, the npm packages from package-lock.json, the Debian
packages the guest image came from, the source commit). Nothing in it depends
on the time or the machine's paths, and the wheel and archives are written
with fixed timestamps, so two builds from the same inputs give the same
manifest, byte for byte.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from wasmemu_images.image import Image, ensure_image
from wasmemu_images.node_setup import NODE_DIR, NodeSetupError, node_modules_dir
from wasmemu_images.release import sha256_file
from wasmemu_images.web_bundle import build_bundle, python_sources
from wasmemu_images.web_server import WEB_DIR

PROJECT = Path(__file__).resolve().parent.parent
RELEASE_DIR = PROJECT / "packaging" / "release"
MANIFEST_FORMAT = 1
RUNNER_FILES = ("run.mjs", "vm-worker.mjs", "input_ring.mjs", "file_package.mjs")
PAGE_FILES = ("index.html", "page.mjs")
RUNTIME_PACKAGES = ("pyodide", "@xterm/xterm")  # what the runner and the page load at run time
# Both variants are modes of the one engine; they differ in the generated code's addressing.
VARIANTS = {
    "wasm64": {
        "memory": "memory64: guest addresses are i64 in generated code",
        "native": "wasmemu run --wasm wasm64 (the default natively)",
        "javascript": "needs WebAssembly memory64 (Node.js 24+); not yet under Pyodide",
    },
    "wasm32": {
        "memory": "32-bit memory: guest addresses are wrapped to i32 in generated code",
        "native": "wasmemu run --wasm wasm32",
        "javascript": "node run.mjs, and the page (the default under Pyodide, any engine)",
    },
}


class DistError(Exception):
    """The build cannot go on; the message says what to do."""


def project_version(root: Path = PROJECT) -> str:
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def tree_name(version: str) -> str:
    return f"wasmemu-{version}"


def build_dist(dest: Path, image_name: str = "default") -> Path:
    """Build ``dest/wasmemu-VERSION`` and ``dest/manifest.yaml``; returns the manifest's path."""
    version = project_version()
    source = source_state()
    image = ensure_image(image_name)
    try:
        modules = node_modules_dir()
    except NodeSetupError as e:
        raise DistError(str(e)) from None
    dest.mkdir(parents=True, exist_ok=True)
    tree = dest / tree_name(version)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=dest))
    staging.chmod(0o755)  # mkdtemp makes it private; the tree is for everyone
    try:
        wheel = build_wheel(staging, source["epoch"])
        _copy_runner(staging, modules)
        build_bundle(image, staging / "bundle")
        shutil.copy2(RELEASE_DIR / "serve.py", staging / "serve.py")
        (staging / "README.txt").write_text(_readme(version, wheel.name), encoding="utf-8")
        write_sha256sums(staging)
        if tree.exists():
            shutil.rmtree(tree)
        os.replace(staging, tree)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": "wasmemu",
        "version": version,
        "source": {
            "commit": source["commit"],
            "modified": source["modified"],
            "time": source["epoch"],  # the commit's: the archives' timestamps
        },
        "inputs": resolved_inputs(image, wheel.name),
        "variants": VARIANTS,
        "files": file_table(dest, tree),
    }
    path = dest / "manifest.yaml"
    text = yaml.safe_dump(manifest, sort_keys=True, width=100, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def source_state(root: Path = PROJECT) -> dict[str, Any]:
    """The commit the sources are at, whether tracked files differ from it, and its time.

    Without git (a source archive) the commit is unknown and the time is 0.
    """
    git = ["git", "-c", f"safe.directory={root}", "-C", str(root)]
    try:
        commit = _output([*git, "rev-parse", "HEAD"])
        epoch = int(_output([*git, "log", "-1", "--format=%ct"]))
        modified = bool(_output([*git, "status", "--porcelain", "--untracked-files=no"]))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {"commit": "unknown", "modified": True, "epoch": 0}
    return {"commit": commit, "modified": modified, "epoch": epoch}


def _output(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def build_wheel(dest: Path, epoch: int) -> Path:
    """The engine wheel, built from a clean copy of the sources with fixed timestamps.

    A copy, because setuptools leaves ``build/`` and ``*.egg-info`` behind (and
    would pack stale files from an earlier ``build/lib``), and the source may
    be mounted read-only.
    """
    with tempfile.TemporaryDirectory(prefix="wasmemu-wheel-") as tmp:
        src = Path(tmp) / "src"
        for rel in _wheel_sources():
            target = src / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PROJECT / rel, target)
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(max(epoch, 315532800))}  # zip needs >= 1980
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-q", "-w", str(dest), str(src)]  # fmt: skip
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            tail = " / ".join(result.stderr.strip().splitlines()[-3:])
            raise DistError(f"building the wheel failed: {tail}")
    wheels = sorted(dest.glob("wasmemu-*.whl"))
    if len(wheels) != 1:
        raise DistError(f"expected one wheel, found {[w.name for w in wheels]}")
    return wheels[0]


def _wheel_sources() -> list[str]:
    """pyproject, README and the two packages' Python files, without caches."""
    names = ["pyproject.toml", "README.md"]
    for package in ("engine", "wasmemu_images"):
        names += python_sources(PROJECT / package, package)
    return names


def _copy_runner(tree: Path, modules: Path) -> None:
    for name in RUNNER_FILES:
        shutil.copyfile(NODE_DIR / name, tree / name)
    package = json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))
    package.pop("devDependencies", None)  # the test tools and Node 24 are not shipped
    (tree / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    for name in RUNTIME_PACKAGES:
        shutil.copytree(modules / name, tree / "node_modules" / name)
    (tree / "web").mkdir()
    for name in PAGE_FILES:
        shutil.copyfile(WEB_DIR / name, tree / "web" / name)


def _files(root: Path) -> Iterable[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def write_sha256sums(tree: Path) -> None:
    """``SHA256SUMS`` in sha256sum's format, for every file below `tree` but itself."""
    lines = [
        f"{sha256_file(p)}  {p.relative_to(tree).as_posix()}\n"
        for p in _files(tree)
        if p.name != "SHA256SUMS" or p.parent != tree
    ]
    (tree / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")


def file_table(dest: Path, tree: Path) -> dict[str, dict[str, Any]]:
    return {
        p.relative_to(dest).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in _files(tree)
    }


def resolved_inputs(image: Image, wheel_name: str) -> dict[str, Any]:
    lock = json.loads((NODE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    npm = {name: lock["packages"][f"node_modules/{name}"]["version"] for name in RUNTIME_PACKAGES}
    package = json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))
    return {
        "wheel": {
            "file": wheel_name,
            "python": platform.python_version(),
            "setuptools": _version("setuptools"),
            "runs_on": {"wasmtime": _version("wasmtime")},
        },
        "npm": npm,
        "node": package.get("engines", {}).get("node", "unknown"),
        "guest": {
            "image": image.name,
            "append": image.append,
            "debian": dict(sorted(image.packages.items())),
        },
    }


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _readme(version: str, wheel: str) -> str:
    return f"""\
wasmemu {version}: a RISC-V Linux guest on WebAssembly

Every file here is listed in SHA256SUMS (`sha256sum -c SHA256SUMS`); both
runners check them before the guest starts.

Node.js 20 or newer (the engine runs under Pyodide, included):
    node run.mjs

Natively (CPython 3.11+ with wasmtime from PyPI):
    pip install ./{wheel}
    wasmemu run            # from this folder: boots the guest in ./bundle

In a browser (serves this folder with the headers the page needs):
    python3 serve.py       # then open http://127.0.0.1:8080/

Ctrl-A X leaves the guest in a terminal; `poweroff` in the guest ends a run.
"""
