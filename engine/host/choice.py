"""Which WebAssembly host runs generated code here, and which address mode it prefers.

Natively that is wasmtime; under Pyodide (sys.platform "emscripten") it is the
JavaScript engine Pyodide runs in. `--wasm auto` resolves to the host's
preferred mode, so one command line works everywhere.
"""

from __future__ import annotations

import sys
from typing import Any

WASM_MODES = ("wasm64", "wasm32")


def running_in_pyodide() -> bool:
    return sys.platform == "emscripten"


def resolve_wasm_mode(requested: str) -> str:
    """ "auto" becomes this host's preferred mode; explicit modes pass through."""
    if requested != "auto":
        return requested
    return "wasm32" if running_in_pyodide() else "wasm64"


def create_host(memory64: bool) -> Any:
    """The WasmHost for this process; a JS host refuses memory64 with a HostError."""
    if running_in_pyodide():
        from engine.host.js_host import JsHost

        return JsHost(memory64=memory64)
    from engine.host.wasmtime_host import WasmtimeHost

    return WasmtimeHost(memory64=memory64)
