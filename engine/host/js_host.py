"""The JavaScript host: the engine under Pyodide (Node.js, browsers), the WebAssembly JS API.

Python under Pyodide reads and writes only its own linear memory without a
copy; any other WebAssembly.Memory is reachable only through JavaScript calls
(about a microsecond per word), far too slow for the interpreter tier and the
device models, which touch guest RAM and CPU state all the time. So guest
RAM, CPU state, the TLB and the lookup table live in a bytearray inside
Pyodide's own heap, and generated modules import Pyodide's memory itself:
Python sees the region as a plain memoryview, generated code addresses it at
`memory_address(memory)`. That memory has 32-bit addresses, so this host runs
the wasm32 variant; `memory64_available()` tells whether the engine could
run memory64 code at all, for the error message when wasm64 is asked for.

Calls cross Python -> JavaScript -> Wasm and back through small JavaScript
wrappers made once per function, which turn i64 values into BigInt and back
(the JS API insists on BigInt for i64 and Number for i32). Exceptions raised
by Python host functions unwind through Wasm as JavaScript errors; Pyodide
hands the original Python exception back to the Python caller.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.backend.wasm.reader import Signature, export_signatures

_GLUE = r"""
(() => {
  const asPython = (t, name) => t === "i64" ? `BigInt.asUintN(64, ${name})` : name;
  const asWasm = (t, expr) => t === "i64" ? `BigInt(${expr})`
    : t === "i32" ? `Number(BigInt.asIntN(32, BigInt(${expr})))` : expr;
  const names = (n) => Array.from({length: n}, (_, i) => `a${i}`);
  return {
    memory64Available() {
      // A module that only declares a 64-bit memory: valid iff the engine has memory64.
      const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 4, 1]);
      try { return WebAssembly.validate(bytes); } catch { return false; }
    },
    table(size) { return new WebAssembly.Table({element: "anyfunc", initial: size}); },
    globalI32(value) { return new WebAssembly.Global({value: "i32", mutable: false}, value); },
    // A host function as Wasm sees it: i64 arguments arrive as BigInt and go to
    // Python unsigned; the result goes back as BigInt (i64) or Number (i32).
    hostFunction(fn, params, result) {
      const args = names(params.length);
      const call = `fn(${args.map((a, i) => asPython(params[i], a)).join(", ")})`;
      const body = result ? `return ${asWasm(result, call)};` : `${call};`;
      return new Function("fn", `return (${args.join(", ")}) => { ${body} };`)(fn);
    },
    // An exported Wasm function as Python calls it.
    caller(func, params) {
      const args = names(params.length);
      const given = args.map((a, i) => params[i] === "i64" ? `BigInt(${a})` : a);
      const call = `func(${given.join(", ")})`;
      return new Function("func", `return (${args.join(", ")}) => ${call};`)(func);
    },
    instantiate(bytes, imports) {
      const module = new WebAssembly.Module(bytes);
      const given = {};
      WebAssembly.Module.imports(module).forEach((imp, i) => {
        (given[imp.module] ??= {})[imp.name] = imports[i];
      });
      return new WebAssembly.Instance(module, given);
    },
    compileError(bytes) {
      try { new WebAssembly.Module(bytes); return null; } catch (e) { return String(e.message); }
    },
  };
})()
"""


class HostError(Exception):
    """The JavaScript engine cannot do what was asked (a missing WebAssembly feature)."""


@dataclass
class JsMemory:
    """A region of Pyodide's heap that generated code addresses at `address`."""

    js: Any  # the WebAssembly.Memory of Pyodide itself
    buffer: bytearray  # never resized: generated code holds its address
    pin: Any  # the ctypes array over `buffer`, which also forbids resizing it
    offset: int  # where the region starts in `buffer`
    size: int
    address: int


@dataclass
class JsInstance:
    js: Any
    signatures: dict[str, Signature]


def _pyodide_memory() -> Any:
    import pyodide_js  # type: ignore[import-not-found]

    return pyodide_js._module.memory


class JsHost:
    """WasmHost for Pyodide: generated modules compiled and instantiated by the JS engine."""

    supports_memory64 = False  # see the module docstring
    module_cache = None
    call_path = "pyodide"

    def __init__(self, memory64: bool = False) -> None:
        from pyodide.code import run_js  # type: ignore[import-not-found]
        from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

        self._glue = run_js(_GLUE)
        self._create_proxy, self._to_js = create_proxy, to_js
        if memory64:
            raise HostError(wasm64_refusal(self.memory64_available()))
        self._proxies: list[Any] = []  # host functions live as long as the host
        self.modules_instantiated = 0

    def memory64_available(self) -> bool:
        return bool(self._glue.memory64Available())

    def cache_modules(self, folder: object) -> None:
        """The JS engine keeps no compiled code between runs here; nothing to set up."""

    # -- memory and table --------------------------------------------------------------------
    def create_memory(self, pages: int, memory64: bool) -> JsMemory:
        if memory64:
            raise HostError(wasm64_refusal(self.memory64_available()))
        size = pages << 16
        buffer = bytearray(size + 0xFFFF)
        pin = (ctypes.c_char * len(buffer)).from_buffer(buffer)
        start = ctypes.addressof(pin)
        offset = -start & 0xFFFF  # 64 KiB aligned, like a memory of its own
        return JsMemory(_pyodide_memory(), buffer, pin, offset, size, start + offset)

    def memory_view(self, memory: JsMemory) -> memoryview:
        return memoryview(memory.buffer)[memory.offset : memory.offset + memory.size]

    def memory_address(self, memory: JsMemory) -> int:
        return memory.address

    def memory_import(self, memory: JsMemory) -> tuple[int, int | None]:
        # Pyodide's heap grows as Python allocates; any size at least this one matches.
        return (memory.address + memory.size + 0xFFFF) >> 16, None

    def create_table(self, size: int) -> Any:
        return self._glue.table(size)

    def table_size(self, table: Any) -> int:
        return int(table.length)

    def grow_table(self, table: Any, delta: int) -> None:
        table.grow(delta)

    def global_i32(self, value: int) -> Any:
        return self._glue.globalI32(value)

    # -- functions ---------------------------------------------------------------------------
    def function(
        self, params: Sequence[str], results: Sequence[str], fn: Callable[..., int | None]
    ) -> Any:
        if len(results) > 1 or any(t not in ("i32", "i64") for t in (*params, *results)):
            raise ValueError(f"unsupported host function type {list(params)} -> {list(results)}")
        proxy = self._create_proxy(fn)
        self._proxies.append(proxy)
        return self._glue.hostFunction(
            proxy, self._to_js(list(params)), results[0] if results else None
        )

    def instantiate(self, wasm: bytes, imports: Sequence[Any]) -> JsInstance:
        given = [imp.js if isinstance(imp, JsMemory) else imp for imp in imports]
        js = self._glue.instantiate(self._to_js(wasm), self._to_js(given))
        self.modules_instantiated += 1
        return JsInstance(js, export_signatures(wasm))

    def export(self, instance: JsInstance, name: str) -> Callable[..., int]:
        params, _results = instance.signatures[name]
        return self._glue.caller(getattr(instance.js.exports, name), self._to_js(list(params)))

    def exported(self, instance: JsInstance, name: str) -> Any:
        return getattr(instance.js.exports, name)

    def validate(self, wasm: bytes) -> None:
        message = self._glue.compileError(self._to_js(wasm))
        if message is not None:
            raise ValueError(str(message))


def wasm64_refusal(memory64_available: bool) -> str:
    if not memory64_available:
        return (
            "wasm64 needs WebAssembly memory64, which this JavaScript engine lacks "
            "(Node.js 24+, Chrome 133+ and Firefox 134+ have it); use --wasm wasm32"
        )
    return (
        "wasm64 is not available under Pyodide yet: Python there can share only Pyodide's "
        "own 32-bit memory with generated code without a JavaScript call per access; "
        "use --wasm wasm32 (the default here)"
    )
