"""`invoke serve`: the browser page, its scripts, Pyodide, xterm.js and the bundle, over HTTP.

The page needs SharedArrayBuffer (console input reaches the VM's Worker
through one), which browsers give only to cross-origin isolated pages, so
every response carries Cross-Origin-Opener-Policy: same-origin and
Cross-Origin-Embedder-Policy: require-corp. Nothing is copied: each URL
prefix maps onto one folder, and paths that leave it are refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.server
import sys
import threading
import webbrowser
from collections.abc import Mapping, Sequence
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


@dataclasses.dataclass(frozen=True)
class Site:
    """Where the page's own files, the runner's modules and the npm packages are."""

    runner: Path  # run.mjs, vm-worker.mjs, ...: only its *.mjs files are served
    page: Path  # index.html, page.mjs
    modules: Path  # node_modules with pyodide and @xterm/xterm

    @classmethod
    def source_tree(cls) -> Site:
        return cls(NODE_DIR, WEB_DIR, NODE_DIR / "node_modules")

    @classmethod
    def release(cls, root: Path) -> Site:
        """An unpacked release (see wasmemu_images/dist.py): runner at the top, page in web/."""
        return cls(root, root / "web", root / "node_modules")


def routes(bundle: Path, site: Site | None = None) -> dict[str, Path]:
    """URL prefix -> folder."""
    site = Site.source_tree() if site is None else site
    table = {
        "/node/": site.runner,
        "/pyodide/": site.modules / "pyodide",
        "/xterm/": site.modules / "@xterm" / "xterm",
        "/bundle/": bundle,
        "/": site.page,
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
        return str(self.table["/"] / "does-not-exist")

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
                 verbose: bool = False, site: Site | None = None) -> None:  # fmt: skip
        handler = type("Handler", (_Handler,), {"table": routes(bundle, site)})
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


def serve_page(bundle: Path, host: str = "127.0.0.1", port: int = 8080, *,
               site: Site | None = None, open_browser: bool = False) -> int:  # fmt: skip
    """Serve until Ctrl-C, saying where; returns an exit status (1, with a message, on failure)."""
    try:
        server = PageServer(bundle, host, port, verbose=True, site=site)
    except ServeError as e:
        print(f"wasmemu: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"wasmemu: cannot listen on {host}:{port} ({e.strerror}); choose another with "
              "--port", file=sys.stderr)  # fmt: skip
        return 1
    print(f"wasmemu: serving the page at {server.url} (Ctrl-C stops)", file=sys.stderr)
    if open_browser and not webbrowser.open(server.url):
        print("wasmemu: no browser found here; open the address above in one", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 serve.py` in an unpacked release: serve its page and bundle."""
    parser = argparse.ArgumentParser(prog="serve.py", description=main.__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the release folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    return serve_page(root / "bundle", args.host, args.port, site=Site.release(root))
