"""`invoke serve`: the browser page, its scripts, Pyodide, xterm.js and the bundle, over HTTP.

The page needs SharedArrayBuffer (console input reaches the VM's Worker
through one), which browsers give only to cross-origin isolated pages, so
every response carries Cross-Origin-Opener-Policy: same-origin and
Cross-Origin-Embedder-Policy: require-corp. Nothing is copied: each URL
prefix maps onto one folder, and paths that leave it are refused.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Mapping
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
NODE_DIR = PROJECT / "packaging" / "node"
WEB_DIR = PROJECT / "packaging" / "web"
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CONTENT_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".data": "application/octet-stream",
    ".metadata": "application/json",
    ".json": "application/json",
    ".zip": "application/zip",
}


class ServeError(Exception):
    """Something the page needs is not there; the message says how to get it."""


def routes(bundle: Path) -> dict[str, Path]:
    """URL prefix -> folder. Only the runner's own scripts are served from packaging/node."""
    modules = NODE_DIR / "node_modules"
    table = {
        "/node/": NODE_DIR,
        "/pyodide/": modules / "pyodide",
        "/xterm/": modules / "@xterm" / "xterm",
        "/bundle/": bundle,
        "/": WEB_DIR,
    }
    for prefix in ("/pyodide/", "/xterm/"):
        if not table[prefix].is_dir():
            raise ServeError(
                f"{table[prefix]} is missing: install the page's npm packages with "
                "`python3 -m invoke node-setup`"
            )
    if not (bundle / "bundle.json").is_file():
        raise ServeError(f"no bundle in {bundle}: `python3 -m invoke serve` builds it")
    return table


class _Handler(http.server.SimpleHTTPRequestHandler):
    table: Mapping[str, Path] = {}

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, folder in self.table.items():
            if clean.startswith(prefix):
                rest = clean[len(prefix) :] or "index.html"
                if prefix == "/node/" and (not rest.endswith(".mjs") or "/" in rest):
                    break  # node_modules and package files are not the page's business
                target = (folder / rest).resolve()
                if target.is_relative_to(folder.resolve()):
                    return str(target)
                break
        return str(WEB_DIR / "does-not-exist")

    def guess_type(self, path: str | Path) -> str:
        return CONTENT_TYPES.get(Path(path).suffix) or super().guess_type(path)

    def end_headers(self) -> None:
        for name, value in self.server.headers.items():  # type: ignore[attr-defined]
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)


class PageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    headers: Mapping[str, str] = ISOLATION_HEADERS  # sent with every response

    def __init__(self, bundle: Path, host: str = "127.0.0.1", port: int = 8080, *,
                 verbose: bool = False) -> None:  # fmt: skip
        handler = type("Handler", (_Handler,), {"table": routes(bundle)})
        super().__init__((host, port), handler)
        self.verbose = verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="wasmemu-page", daemon=True)
        thread.start()
        return thread
