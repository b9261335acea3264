"""`invoke serve`'s server: cross-origin isolation, the right MIME types, nothing else exposed."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmemu_images.node_setup import ensure_node_modules
from wasmemu_images.web_server import ISOLATION_HEADERS, PageServer, ServeError


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PageServer]:
    ensure_node_modules(quiet=True)
    (tmp_path / "bundle.json").write_text("{}")
    (tmp_path / "guest.data").write_bytes(b"\0" * 10)
    s = PageServer(tmp_path, port=0)
    s.start_in_background()
    yield s
    s.shutdown()
    s.server_close()


def fetch(server: PageServer, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""


@pytest.mark.parametrize(
    ("path", "mime"),
    [
        ("/", "text/html"),
        ("/page.mjs", "text/javascript"),
        ("/node/vm-worker.mjs", "text/javascript"),
        ("/node/input_ring.mjs", "text/javascript"),
        ("/pyodide/pyodide.asm.wasm", "application/wasm"),
        ("/xterm/lib/xterm.mjs", "text/javascript"),
        ("/bundle/guest.data", "application/octet-stream"),
    ],
)
def test_the_page_and_its_parts_are_served_isolated(
    server: PageServer, path: str, mime: str
) -> None:
    status, headers, _ = fetch(server, path)
    assert status == 200
    assert headers["Content-type"].startswith(mime)
    for name, value in ISOLATION_HEADERS.items():
        assert headers[name] == value


@pytest.mark.parametrize(
    "path",
    [
        "/node/package.json",  # only the runner's own modules
        "/node/node_modules/pyodide/package.json",
        "/bundle/../../../../etc/passwd",
        "/bundle/..%2f..%2f..%2fetc/passwd",
        "/pyodide/../../../run.mjs",
    ],
)
def test_nothing_outside_the_served_folders_is_reachable(server: PageServer, path: str) -> None:
    status, headers, _ = fetch(server, path)
    assert status == 404
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"  # even on errors


def test_serving_without_a_bundle_says_how_to_make_one(tmp_path: Path) -> None:
    ensure_node_modules(quiet=True)
    with pytest.raises(ServeError, match="invoke serve"):
        PageServer(tmp_path, port=0)
