"""Entry point of the JavaScript runners: `wasmemu run` inside Pyodide.

packaging/node/vm-worker.mjs loads Pyodide, installs the engine and guest
packages into its file system and calls main() with the command line and the
console bridge; the exit status goes back to the runner as the process's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine import cli
from engine.machine.js_console import JsConsole


def main(argv: Sequence[str], bridge: Any) -> int:
    """`bridge.cacheSaved`, if the runner gives one, is called after each save of the
    translation cache (the browser page copies the folder into its IndexedDB)."""
    console = JsConsole(bridge, interactive=bool(bridge.interactive))
    saved = getattr(bridge, "cacheSaved", None)
    try:
        return cli.main(["run", *argv], console=console, tcache_saved=saved)
    finally:
        console.flush()
