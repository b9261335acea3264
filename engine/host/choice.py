"""Which WebAssembly host runs generated code here, and which address mode it prefers.

Natively that is wasmtime; under Pyodide (sys.platform "emscripten") it is the
JavaScript engine Pyodide runs in. `--wasm auto` resolves to wasm64 wherever
the engine can run it (natively; under Pyodide with memory64 and
multi-memory, as on Node.js 24) and to wasm32 elsewhere, so one command line
works everywhere.
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
    if running_in_pyodide():
        from engine.host.js_host import wasm64_available

        return "wasm64" if wasm64_available() else "wasm32"
    return "wasm64"


def create_host(memory64: bool, compile_threads: bool = False) -> Any:
    """The WasmHost for this process; a JS host without the features wasm64 needs
    refuses memory64 with a HostError.

    `compile_threads` lets wasmtime compile a module's functions on a thread
    pool. Only a process that never forks may ask for it: the pool's threads do
    not survive fork(), and the child's first compilation would wait forever.
    JavaScript engines decide that for themselves."""
    if running_in_pyodide():
        from engine.host.js_host import JsHost

        return JsHost(memory64=memory64)
    from engine.host.wasmtime_host import WasmtimeHost

    return WasmtimeHost(memory64=memory64, compile_threads=compile_threads)
