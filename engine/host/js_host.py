"""The JavaScript host: the engine under Pyodide (Node.js, browsers), the WebAssembly JS API.

Python under Pyodide reads and writes only its own linear memory without a
copy; any other WebAssembly.Memory is reachable only through JavaScript calls
(about a microsecond per word), far too slow for the interpreter tier and the
device models, which touch guest RAM and CPU state all the time. So guest
RAM, CPU state, the TLB and the lookup table live in a bytearray inside
Pyodide's own heap, and generated modules import Pyodide's memory itself:
Python sees the region as a plain memoryview, generated code addresses it at
`memory_address(memory)`. That memory has 32-bit addresses, which is the
wasm32 variant.

The wasm64 variant needs a 64-bit memory, which Pyodide's heap cannot be, so
there guest RAM moves into a 64-bit WebAssembly.Memory of its own, which
generated code imports as a second memory (multi-memory), while the CPU
state, TLB and lookup table stay in the heap. Python reaches that RAM
through `JsRam`, one JavaScript call per access: the price wasm64 pays under
Pyodide on the interpreter tier, the page walks in Python and device DMA.
`wasm64_available()` says whether the engine has memory64 and multi-memory.

Calls cross Python -> JavaScript -> Wasm and back through small JavaScript
wrappers made once per function, which turn i64 values into BigInt and back
(the JS API insists on BigInt for i64 and Number for i32). An exception
raised by a Python host function is kept aside while a plain JavaScript error
unwinds the Wasm frames, and the caller of the export raises it again: letting
it cross into JavaScript itself makes Pyodide format its traceback, about a
millisecond each time, and a boot has hundreds of page faults raised in
helpers.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.backend.wasm.reader import Signature, export_signatures

_GLUE = r"""
(() => {
  // i64 values reach Python as Numbers when exact (Pyodide makes those plain ints),
  // else as BigInt, which Pyodide turns into a JsBigInt that JsHost.function
  // converts: JsBigInt arithmetic runs in Python, about 9x slower than int's.
  const asPython = (t, name) => t === "i64" ? `small(BigInt.asUintN(64, ${name}))` : name;
  const asWasm = (t, expr) => t === "i64" ? `BigInt(${expr})`
    : t === "i32" ? `Number(BigInt.asIntN(32, BigInt(${expr})))` : expr;
  const names = (n) => Array.from({length: n}, (_, i) => `a${i}`);
  const small = (v) => v <= 0x1fffffffffffffn && v >= -0x1fffffffffffffn ? Number(v) : v;
  const raised = new Error("a Python host function raised");
  return {
    memory64Available() {
      // A module that only declares a 64-bit memory: valid iff the engine has memory64.
      const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 4, 1]);
      try { return WebAssembly.validate(bytes); } catch { return false; }
    },
    multiMemoryAvailable() {
      // A module declaring two memories: valid iff the engine has multi-memory.
      const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 5, 2, 0, 1, 0, 1]);
      try { return WebAssembly.validate(bytes); } catch { return false; }
    },
    // Guest RAM in a 64-bit memory of its own, with the accessors Python uses in
    // place of struct (one call per access; ranges copy through the byte array).
    guestRam(pages) {
      const size = BigInt(pages);
      const memory = new WebAssembly.Memory({initial: size, maximum: size, address: "i64"});
      const bytes = new Uint8Array(memory.buffer), view = new DataView(memory.buffer);
      return {
        memory, bytes,
        "<B": (o) => bytes[o], "<b": (o) => view.getInt8(o),
        "<H": (o) => view.getUint16(o, true), "<h": (o) => view.getInt16(o, true),
        "<I": (o) => view.getUint32(o, true), "<i": (o) => view.getInt32(o, true),
        "<Q": (o) => small(view.getBigUint64(o, true)),
        "<q": (o) => small(view.getBigInt64(o, true)),
        "=B": (o, v) => { bytes[o] = v; }, "=H": (o, v) => view.setUint16(o, v, true),
        "=I": (o, v) => view.setUint32(o, v, true),
        "=Q": (o, v) => view.setBigUint64(o, BigInt(v), true),
      };
    },
    table(size) { return new WebAssembly.Table({element: "anyfunc", initial: size}); },
    globalI32(value) { return new WebAssembly.Global({value: "i32", mutable: false}, value); },
    // A host function as Wasm sees it: i64 arguments arrive as BigInt and go to
    // Python unsigned; the result goes back as BigInt (i64) or Number (i32). A
    // string from Python means it raised (JsHost keeps the exception): throw.
    hostFunction(fn, params, result) {
      const args = names(params.length);
      const call = `fn(${args.map((a, i) => asPython(params[i], a)).join(", ")})`;
      const back = result ? `return ${asWasm(result, "r")};` : "";
      const body = `const r = ${call}; if (typeof r === "string") throw raised; ${back}`;
      return new Function("fn", "small", "raised", `return (${args.join(", ")}) => { ${body} };`)(
        fn, small, raised);
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


class JsRam:
    """Guest RAM in a 64-bit WebAssembly.Memory (the wasm64 variant), as Python reaches it.

    Python's heap cannot view that memory, so every access is a JavaScript call:
    a byte or a word through `unpacker`/`packer` (engine.ram_access), a range
    copied in or out. Generated code imports `js` as its second memory.
    """

    def __init__(self, glue: Any, pages: int) -> None:
        self._ram = glue.guestRam(pages)
        self.js = self._ram.memory
        self._bytes = self._ram.bytes
        self._byte = getattr(self._ram, "<B")
        self.size = pages << 16
        self.pages = pages

    def __len__(self) -> int:
        return self.size

    def _range(self, key: slice) -> tuple[int, int]:
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise ValueError("guest RAM ranges are contiguous")
        return start, max(start, stop)

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            start, stop = self._range(key)
            return memoryview(self._bytes.subarray(start, stop).to_bytes())
        if not 0 <= key < self.size:
            raise IndexError(f"guest RAM offset {key:#x} out of range")
        return self._byte(key)

    def __setitem__(self, key: slice, data: Any) -> None:
        start, stop = self._range(key)
        if len(data) != stop - start:
            raise ValueError(f"{len(data)} bytes do not fill a {stop - start}-byte range")
        if stop > start:
            self._bytes.subarray(start, stop).assign(data)

    def unpacker(self, fmt: str) -> Any:
        load = getattr(self._ram, fmt)
        if fmt in ("<Q", "<q"):  # a BigInt beyond 2**53 arrives as a JsBigInt: make it an int
            return lambda _ram, offset: (int(load(offset)),)
        return lambda _ram, offset: (load(offset),)

    def packer(self, fmt: str) -> Any:
        store = getattr(self._ram, "=" + fmt.removeprefix("<"))
        return lambda _ram, offset, value: store(offset, value)


@dataclass
class JsInstance:
    js: Any
    signatures: dict[str, Signature]


def _pyodide_memory() -> Any:
    import pyodide_js  # type: ignore[import-not-found]

    return pyodide_js._module.memory


@functools.cache
def _glue() -> Any:
    from pyodide.code import run_js  # type: ignore[import-not-found]

    return run_js(_GLUE)


def wasm64_available() -> bool:
    """Whether this JavaScript engine can run the wasm64 variant: a 64-bit memory for
    guest RAM next to Pyodide's 32-bit heap needs memory64 and multi-memory."""
    return bool(_glue().memory64Available()) and bool(_glue().multiMemoryAvailable())


class JsHost:
    """WasmHost for Pyodide: generated modules compiled and instantiated by the JS engine."""

    module_cache = None
    call_path = "pyodide"
    moving_base = True  # a memory is a region of the heap, wherever Python allocated it

    def __init__(self, memory64: bool = False) -> None:
        from pyodide.ffi import JsException, create_proxy, to_js  # type: ignore[import-not-found]

        self._glue = _glue()
        self._create_proxy, self._to_js = create_proxy, to_js
        self._js_exception = JsException
        self.raised: BaseException | None = None  # by a host function, until its export's caller
        self.supports_memory64 = self.memory64_available()
        if memory64 and not wasm64_available():
            raise HostError(wasm64_refusal(self.supports_memory64))
        # wasm64: RAM in a 64-bit memory apart from the heap (see the module docstring).
        self.ram_apart = memory64
        self._proxies: list[Any] = []  # host functions live as long as the host
        self.modules_instantiated = 0

    def memory64_available(self) -> bool:
        return bool(self._glue.memory64Available())

    def cache_modules(self, folder: object) -> None:
        """The JS engine keeps no compiled code between runs here; nothing to set up."""

    # -- memory and table --------------------------------------------------------------------
    def create_memory(self, pages: int, memory64: bool) -> JsMemory:
        if memory64:
            raise HostError("Pyodide's heap has 32-bit addresses; 64-bit memory is only "
                            "for guest RAM apart from it (create_ram_memory)")  # fmt: skip
        size = pages << 16
        buffer = bytearray(size + 0xFFFF)
        pin = (ctypes.c_char * len(buffer)).from_buffer(buffer)
        start = ctypes.addressof(pin)
        offset = -start & 0xFFFF  # 64 KiB aligned, like a memory of its own
        return JsMemory(_pyodide_memory(), buffer, pin, offset, size, start + offset)

    def create_ram_memory(self, pages: int) -> tuple[JsRam, JsRam]:
        ram = JsRam(self._glue, pages)
        return ram, ram

    def memory_view(self, memory: JsMemory) -> memoryview:
        return memoryview(memory.buffer)[memory.offset : memory.offset + memory.size]

    def memory_address(self, memory: JsMemory) -> int:
        return memory.address

    def memory_import(self, memory: JsMemory | JsRam) -> tuple[int, int | None]:
        if isinstance(memory, JsRam):
            return memory.pages, memory.pages
        # Pyodide's heap grows as Python allocates, and holds at least the region. A
        # minimum that does not depend on where the region is keeps modules reusable.
        return memory.size >> 16, None

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
        proxy = self._create_proxy(_host_side(fn, params, self))
        self._proxies.append(proxy)
        return self._glue.hostFunction(
            proxy, self._to_js(list(params)), results[0] if results else None
        )

    def instantiate(self, wasm: bytes, imports: Sequence[Any]) -> JsInstance:
        given = [imp.js if isinstance(imp, JsMemory | JsRam) else imp for imp in imports]
        js = self._glue.instantiate(self._to_js(wasm), self._to_js(given))
        self.modules_instantiated += 1
        return JsInstance(js, export_signatures(wasm))

    def export(self, instance: JsInstance, name: str) -> Callable[..., int]:
        params, _results = instance.signatures[name]
        call = self._glue.caller(getattr(instance.js.exports, name), self._to_js(list(params)))
        host, js_exception = self, self._js_exception

        def export(*args: int) -> int:
            try:
                return call(*args)
            except js_exception:
                raised, host.raised = host.raised, None
                if raised is None:
                    raise  # a trap, or JavaScript's own error
                raise raised from None

        return export

    def exported(self, instance: JsInstance, name: str) -> Any:
        return getattr(instance.js.exports, name)

    def validate(self, wasm: bytes) -> None:
        message = self._glue.compileError(self._to_js(wasm))
        if message is not None:
            raise ValueError(str(message))


_RAISED = "raised"  # what a host function returns to the glue in place of raising


def _host_side(fn: Callable[..., Any], params: Sequence[str], host: JsHost) -> Callable[..., Any]:
    """fn as the glue calls it: its i64 arguments made plain ints (see the glue's
    `small`), and an exception kept in `host.raised` rather than raised into
    JavaScript (see the module docstring)."""
    names = [f"a{k}" for k in range(len(params))]
    given = [f"int({a})" if t == "i64" else a for a, t in zip(names, params, strict=True)]
    source = (
        f"def call({', '.join(names)}):\n"
        f"    try:\n"
        f"        return fn({', '.join(given)})\n"
        f"    except BaseException as exc:\n"
        f"        host.raised = exc\n"
        f"        return RAISED\n"
    )
    namespace = {"fn": fn, "int": int, "host": host, "RAISED": _RAISED}
    exec(source, namespace)
    return namespace["call"]


def wasm64_refusal(memory64_available: bool) -> str:
    lacking = "memory64" if not memory64_available else "multi-memory"
    return (
        f"wasm64 needs WebAssembly {lacking}, which this JavaScript engine lacks "
        "(Node.js 24+, Chrome 133+ and Firefox 134+ have memory64 and multi-memory); "
        "use --wasm wasm32"
    )
