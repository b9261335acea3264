"""Front ends of `invoke run --node`, `invoke run --browser` and `invoke serve`.

Each makes what the JavaScript runners need (the guest image, the web bundle,
the pinned npm packages) and hands over; failures end in one line that says
what to do, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from wasmemu_images.cli import images_command
from wasmemu_images.image import ensure_image
from wasmemu_images.node_setup import NODE_DIR, NodeSetupError, ensure_node_modules
from wasmemu_images.web_bundle import build_bundle


def _fail(message: str) -> NoReturn:
    print(f"wasmemu: {message}", file=sys.stderr)
    raise SystemExit(1)


def prepare(image_name: str = "default") -> Path:
    """Image, bundle and npm packages, ready; returns the bundle folder."""
    images_command(image_name)
    try:
        ensure_node_modules(quiet=True)
    except NodeSetupError as e:
        _fail(str(e))
    return build_bundle(ensure_image(image_name))


def run_on_node(options: Sequence[str], node: str = "node") -> NoReturn:
    """Boot the default guest with packaging/node/run.mjs (replaces this process)."""
    binary = shutil.which(node) if os.sep not in node else node
    if binary is None or not os.access(binary, os.X_OK):
        _fail(f"cannot run Node.js '{node}'; install Node.js 20+ or pass --node-binary PATH")
    bundle = prepare()
    script = NODE_DIR / "run.mjs"
    os.execv(binary, [binary, str(script), "--bundle", str(bundle), *options])


def serve(host: str = "127.0.0.1", port: int = 8080, *, open_browser: bool = False) -> None:
    """Serve the page until Ctrl-C; `open_browser` opens it in the system's browser."""
    from wasmemu_images.web_server import serve_page

    status = serve_page(prepare(), host, port, open_browser=open_browser)
    if status:
        raise SystemExit(status)
