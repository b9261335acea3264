"""The native host: wasmtime through its Python bindings (the only wasmtime user).

Crossing the Python/Wasm boundary through wasmtime-py's public API is slow: a
call rebuilds the function's type over FFI and boxes every value (~15-30 µs),
a `wasmtime.Func` callback ~10-35 µs. The emulator crosses for every
dispatcher entry, TLB miss, device access and helper, so this module calls the
C API's *unchecked* entry points directly through ctypes:

* `wasmtime_func_call_unchecked` with a ValRaw array allocated once per
  export, arguments and results passed in place (~0.5-1 µs a call);
* `wasmtime_func_new_unchecked` with a ctypes callback per host function,
  reading and writing the same ValRaw array (~0.3-0.7 µs a callback).

Those functions are reached through `wasmtime._ffi`, a private module; every
use of it is in this file (`_RawApi` and the code it serves). A self-check
runs once per process; if the bindings are missing or misbehave the host
falls back to the public API, and `WasmtimeHost.call_path` says which path is
active ("unchecked" or "public"). `WASMEMU_HOST_CALLS=public` forces the
public path (for A/B measurements and bug hunts).

Python exceptions cross Wasm like this: a callback catches the exception,
parks it in a per-thread slot and returns a trap made by `wasmtime_trap_new`;
Wasm unwinds without running any Python; the call that entered Wasm sees the
error, takes the parked exception and re-raises that very object. A genuine
Wasm trap comes back as `wasmtime.Trap` (message and trap code), any other
failure as `wasmtime.WasmtimeError`, as with the public API.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import wasmtime

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}

# What a Python exception looks like to anyone who sees the trap without our
# caller around it (e.g. a public-API call into a module importing our functions).
_TRAP_MESSAGE = b"wasmemu: a Python host function raised an exception"


def _signed64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _signed32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


class _Parked(threading.local):
    """The exception a callback raised, waiting for the call into Wasm to re-raise it.

    Between a callback returning its trap and the entering call seeing the
    error only Wasm frames unwind, so one slot per thread is enough, also for
    nested Python -> Wasm -> Python -> Wasm -> Python calls: the innermost
    call takes its exception before the next callback can park another.
    """

    exc: BaseException | None = None


_parked = _Parked()


def _take_parked() -> BaseException | None:
    exc = _parked.exc
    _parked.exc = None
    return exc


class _RawApi:
    """wasmtime's C entry points, bound from the private `wasmtime._ffi` once per process.

    Fresh function objects (`dll[name]`) are taken, never the ones wasmtime-py
    configured, so our restype/argtypes choices cannot disturb the public API.
    """

    def __init__(self) -> None:
        from wasmtime import _ffi as ffi

        dll = ffi.dll
        self.func_t = ffi.wasmtime_func_t
        self.trap_ptr = ctypes.POINTER(ffi.wasm_trap_t)
        self.error_ptr = ctypes.POINTER(ffi.wasmtime_error_t)
        # (context, func, args_and_results, len, trap_out) -> error or NULL.
        # No argtypes: every argument is passed as a prepared ctypes object,
        # which skips per-call conversion; c_void_p gives an int or None.
        self.call = dll["wasmtime_func_call_unchecked"]
        self.call.restype = ctypes.c_void_p
        self.call.argtypes = None
        # The callback returns a wasm_trap_t* (0 for success); c_size_t keeps it a plain int.
        self.callback_t = ctypes.CFUNCTYPE(
            ctypes.c_size_t,
            ctypes.c_void_p,  # env (unused: each callback is its own closure)
            ctypes.c_void_p,  # wasmtime_caller_t*
            ctypes.POINTER(ctypes.c_uint64),  # args and results, one ValRaw each
            ctypes.c_size_t,
        )
        self.new = dll["wasmtime_func_new_unchecked"]
        self.new.restype = None
        self.new.argtypes = [
            ctypes.POINTER(ffi.wasmtime_context_t),
            ctypes.POINTER(ffi.wasm_functype_t),
            self.callback_t,
            ctypes.c_void_p,
            ctypes.c_void_p,  # finalizer: none, the host keeps the callbacks alive
            ctypes.POINTER(ffi.wasmtime_func_t),
        ]
        # A wasmtime.Func made elsewhere parks its exception in wasmtime-py itself.
        from wasmtime import _func

        self.reraise_public = _func.maybe_raise_last_exn
        self.trap_new = dll["wasmtime_trap_new"]
        self.trap_new.restype = ctypes.c_size_t
        self.trap_new.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        # A ValRaw is a union as wide as v128: value i sits at 64-bit word i * stride.
        size = ctypes.sizeof(ffi.wasmtime_val_raw_t)
        if size % 8:
            raise RuntimeError(f"unexpected wasmtime_val_raw_t size {size}")
        self.stride = size // 8

    def raise_failure(self, error: int | None, trap: ctypes.c_void_p) -> NoReturn:
        """Turn a failed unchecked call into the exception the public API would raise."""
        parked = _take_parked()
        if trap.value:
            # A genuine Wasm trap (a host function's trap comes back as an error);
            # a parked exception here can only be stale, from a callback whose
            # trap some other caller reported.
            ptr, trap.value = trap.value, None
            raise wasmtime.Trap._from_ptr(ctypes.cast(ptr, self.trap_ptr))
        failure = wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, self.error_ptr))
        if parked is not None:
            del failure  # frees the wasmtime error now
            raise parked
        self.reraise_public()
        raise failure


@functools.cache
def _unchecked_api() -> tuple[_RawApi | None, str]:
    """The bound C API if it passes the self-check, else None and why (once per process)."""
    try:
        api = _RawApi()
        _self_check(api)
    except Exception as e:  # any failure means: use the public API
        return None, f"{type(e).__name__}: {e}"
    return api, "ok"


class WasmtimeHost:
    supports_memory64 = True
    ram_apart = False  # Python views any memory here; one memory of either width serves
    moving_base = False  # each memory is a machine's own, its view starting at address 0

    def __init__(
        self, memory64: bool = True, fast_calls: bool | None = None, compile_threads: bool = False
    ) -> None:
        """A wasmtime engine and store.

        `fast_calls`: None uses the unchecked C API when it passed its
        self-check, False forces the public API, True requires the fast path.
        `compile_threads`: compile each module's functions on wasmtime's thread
        pool, for processes that never fork (see engine.host.choice.create_host).
        """
        api: _RawApi | None = None
        forced_public = os.environ.get("WASMEMU_HOST_CALLS", "") == "public"
        reason = "asked for the public API"
        if fast_calls or (fast_calls is None and not forced_public):
            api, reason = _unchecked_api()
            if api is None and fast_calls:
                raise RuntimeError(f"wasmtime's unchecked call API is unusable: {reason}")
        self._setup(memory64, api, compile_threads)
        # Why the public path is in use, for bug reports; None on the fast path.
        self.call_path_reason = None if api is not None else reason

    def _setup(self, memory64: bool, api: _RawApi | None, compile_threads: bool = False) -> None:
        config = wasmtime.Config()
        config.wasm_memory64 = memory64
        config.wasm_tail_call = True
        # A batch of 64 TBs compiles in about 25 ms on the pool of two cores
        # against 43 ms on this thread (docs/performance.md), but a guest fork()
        # in user mode is a host fork(), which the pool's threads do not survive.
        config.parallel_compilation = compile_threads
        self.compile_threads = compile_threads
        self.engine = wasmtime.Engine(config)
        self.store = wasmtime.Store(self.engine)
        # One module per batch of TBs: lift the default cap of 10,000 instances.
        self.store.set_limits(instances=1_000_000, tables=1_000_000, memories=16)
        self.supports_memory64 = memory64
        self.modules_instantiated = 0
        self.module_cache: Path | None = None
        self.module_cache_hits = self.module_cache_misses = 0
        self._api = api
        self.call_path = "unchecked" if api is not None else "public"
        if api is not None:
            self._context = self.store._context()
            # Wasm may call a callback whenever the store runs code, so the
            # callbacks live exactly as long as the Store object: its native
            # store is deleted in its __del__, before its attributes go.
            self._callbacks: list[Any] = []
            self.store._wasmemu_callbacks = self._callbacks

    def create_memory(self, pages: int, memory64: bool) -> wasmtime.Memory:
        limits = wasmtime.Limits(pages, pages)
        return wasmtime.Memory(self.store, wasmtime.MemoryType(limits, is_64=memory64))

    def create_ram_memory(self, pages: int) -> tuple[wasmtime.Memory, memoryview]:
        memory = self.create_memory(pages, memory64=True)
        return memory, self.memory_view(memory)

    def memory_view(self, memory: wasmtime.Memory) -> memoryview:
        size = memory.data_len(self.store)
        base = ctypes.addressof(memory.data_ptr(self.store).contents)
        return memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")

    def memory_address(self, memory: wasmtime.Memory) -> int:
        return 0  # each machine has a memory of its own

    def memory_import(self, memory: wasmtime.Memory) -> tuple[int, int | None]:
        pages = memory.size(self.store)
        return pages, pages

    def create_table(self, size: int) -> wasmtime.Table:
        ty = wasmtime.TableType(wasmtime.ValType.funcref(), wasmtime.Limits(size, None))
        return wasmtime.Table(self.store, ty, None)

    def table_size(self, table: wasmtime.Table) -> int:
        return table.size(self.store)

    def grow_table(self, table: wasmtime.Table, delta: int) -> None:
        table.grow(self.store, delta, None)

    def global_i32(self, value: int) -> wasmtime.Global:
        ty = wasmtime.GlobalType(wasmtime.ValType.i32(), False)
        return wasmtime.Global(self.store, ty, wasmtime.Val.i32(value))

    # -- host functions (Wasm -> Python) ------------------------------------------------------
    def function(
        self, params: Sequence[str], results: Sequence[str], fn: Callable[..., int | None]
    ) -> wasmtime.Func:
        if len(results) > 1 or any(t not in _VALTYPES for t in (*params, *results)):
            raise ValueError(f"unsupported host function type {list(params)} -> {list(results)}")
        ty = wasmtime.FuncType([_VALTYPES[p]() for p in params], [_VALTYPES[r]() for r in results])
        if self._api is None:
            return self._public_function(ty, params, results, fn)
        api = self._api
        callback = api.callback_t(_callback(api, params, results, fn))
        self._callbacks.append(callback)
        raw = api.func_t()
        api.new(self._context, ty.ptr(), callback, None, None, ctypes.byref(raw))
        return wasmtime.Func._from_raw(raw)

    def _public_function(
        self,
        ty: wasmtime.FuncType,
        params: Sequence[str],
        results: Sequence[str],
        fn: Callable[..., int | None],
    ) -> wasmtime.Func:
        unsigned = [p == "i64" for p in params]
        returns = bool(results)

        def trampoline(*args: int) -> int | None:
            # wasmtime passes i64 as signed Python ints; helpers think unsigned.
            conv = [a & M64 if u else a for a, u in zip(args, unsigned, strict=True)]
            r = fn(*conv)
            if not returns:
                return None
            return _signed64(r) if results[0] == "i64" else _signed32(r)

        return wasmtime.Func(self.store, ty, trampoline)

    def instantiate(self, wasm: bytes, imports: Sequence[Any]) -> wasmtime.Instance:
        module = self._compiled(wasm)
        self.modules_instantiated += 1
        return wasmtime.Instance(self.store, module, list(imports))

    def cache_modules(self, folder: Path | str) -> None:
        """Keep compiled machine code in `folder` and reuse it for identical modules.

        Entries are named by a digest of the module bytes and this engine's
        settings and carry a checksum of their own: wasmtime trusts what it
        deserializes, so only intact files written by this code are loaded.
        """
        tag = f"wasmtime-{_wasmtime_version()}-{'m64' if self.supports_memory64 else 'm32'}"
        self.module_cache = Path(folder) / tag
        _trim(self.module_cache, MODULE_CACHE_BYTES)

    def _compiled(self, wasm: bytes) -> wasmtime.Module:
        if self.module_cache is None:
            return wasmtime.Module(self.engine, wasm)
        path = self.module_cache / (hashlib.sha256(wasm).hexdigest()[:40] + ".cwasm")
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        if len(data) > 32 and hashlib.sha256(data[32:]).digest() == data[:32]:
            try:
                module = wasmtime.Module.deserialize(self.engine, data[32:])
                self.module_cache_hits += 1
                return module
            except wasmtime.WasmtimeError:
                pass  # another wasmtime build's: compile afresh and replace it
        module = wasmtime.Module(self.engine, wasm)
        self.module_cache_misses += 1
        try:
            code = module.serialize()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(hashlib.sha256(code).digest() + code)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full cache only costs speed
        return module

    # -- exported functions (Python -> Wasm) --------------------------------------------------
    def export(self, instance: wasmtime.Instance, name: str) -> Callable[..., int]:
        func = instance.exports(self.store)[name]
        store = self.store
        if self._api is not None and isinstance(func, wasmtime.Func):
            ty = func.type(store)
            params = [str(t) for t in ty.params]
            results = [str(t) for t in ty.results]
            if len(results) <= 1 and all(t in _VALTYPES for t in (*params, *results)):
                return _unchecked_caller(self._api, store, self._context, func, params, results)

        def call(*args: Any) -> Any:
            try:
                return func(store, *args)
            except wasmtime.WasmtimeError:
                # Did one of our unchecked callbacks raise under this public call?
                parked = _take_parked()
                if parked is None:
                    raise
            raise parked  # outside the handler: no chained wasmtime error

        return call

    def exported(self, instance: wasmtime.Instance, name: str) -> Any:
        """An export as an import for another module (a direct Wasm-to-Wasm call)."""
        return instance.exports(self.store)[name]

    def validate(self, wasm: bytes) -> None:
        try:
            wasmtime.Module.validate(self.engine, wasm)
        except wasmtime.WasmtimeError as e:
            raise ValueError(str(e)) from None


def _callback(
    api: _RawApi, params: Sequence[str], results: Sequence[str], fn: Callable[..., int | None]
) -> Callable[[int | None, int | None, Any, int], int]:
    """The Python side of an unchecked host function, specialised to its signature.

    Per-call work is what dominates a callback, so the body is generated with
    the arguments read by constant index (measured faster than slicing the
    ValRaw array or looping): i64 arrive unsigned, i32 signed, as the public
    path gives them.
    """
    words = [f"v[{i * api.stride}]" for i in range(len(params))]
    args = ", ".join(
        w if t == "i64" else f"signed32({w})" for w, t in zip(words, params, strict=True)
    )
    if not results:
        body = f"fn({args})"
    elif results[0] == "i64":
        body = f"v[0] = fn({args})"  # a c_uint64 store keeps the low 64 bits of any int
    else:
        body = f"v[0] = fn({args}) & {M32}"  # i32 in a ValRaw is zero-extended
    source = (
        "def callback(env, caller, v, n):\n"
        "    try:\n"
        f"        {body}\n"
        "        return 0\n"
        "    except BaseException as exc:\n"
        "        parked.exc = exc\n"
        "        return trap_new(message, len(message))\n"
    )
    namespace: dict[str, Any] = {
        "fn": fn,
        "signed32": _signed32,
        "parked": _parked,
        "trap_new": api.trap_new,
        "message": _TRAP_MESSAGE,
    }
    filename = f"<wasmemu host callback {getattr(fn, '__name__', '?')}>"
    exec(compile(source, filename, "exec"), namespace)
    return namespace["callback"]


def _unchecked_caller(
    api: _RawApi,
    store: wasmtime.Store,
    context: Any,
    func: wasmtime.Func,
    params: Sequence[str],
    results: Sequence[str],
) -> Callable[..., Any]:
    """A callable for `func` through wasmtime_func_call_unchecked with a preallocated array.

    Reentrancy is safe: wasmtime copies the arguments out of the array on entry
    and writes results back on return, so a nested call of the same export
    from a callback may reuse the array in between.
    """
    slots = max(len(params), len(results), 1)
    stride = api.stride
    values = (ctypes.c_uint64 * (slots * stride))()  # c_uint64 stores reinterpret signed ints
    if results == ["i32"]:
        out: Any = memoryview(values).cast("B").cast("i")  # low half of slot 0 (little-endian)
    else:
        out = memoryview(values).cast("B").cast("q")
    trap = ctypes.c_void_p()
    call, fail = api.call, api.raise_failure
    func_ref, trap_ref = ctypes.byref(func._func), ctypes.byref(trap)
    length = ctypes.c_size_t(slots)
    masks = [M64 if t == "i64" else M32 for t in params]
    returns = bool(results)
    # Referenced by the closures so they keep the store (and with it the
    # callbacks, see WasmtimeHost._setup) and the function alive.
    keep = (store, func)

    if params == ["i64"] and returns:  # the dispatcher's shape: keep it lean

        def call1(a: int) -> int:
            values[0] = a
            error = call(context, func_ref, values, length, trap_ref)
            if error is not None or trap.value is not None:
                fail(error, trap)
            return out[0]

        call1.keep = keep  # type: ignore[attr-defined]
        return call1

    if not params and returns:

        def call0() -> int:
            error = call(context, func_ref, values, length, trap_ref)
            if error is not None or trap.value is not None:
                fail(error, trap)
            return out[0]

        call0.keep = keep  # type: ignore[attr-defined]
        return call0

    nparams = len(params)

    def call_n(*args: int) -> int | None:
        if len(args) != nparams:
            raise wasmtime.WasmtimeError(
                f"wrong number of parameters: given {len(args)}, expected {nparams}"
            )
        for i, a in enumerate(args):
            values[i * stride] = a & masks[i]
        error = call(context, func_ref, values, length, trap_ref)
        if error is not None or trap.value is not None:
            fail(error, trap)
        return out[0] if returns else None

    call_n.keep = keep  # type: ignore[attr-defined]
    return call_n


# -- start-up self-check of the unchecked path ------------------------------------------------
_CHECK_WAT = """
(module
  (import "h" "mix" (func $mix (param i64 i64 i32) (result i64)))
  (import "h" "boom" (func $boom))
  (func (export "id64") (param i64) (result i64) local.get 0)
  (func (export "low32") (param i64) (result i32) local.get 0 i32.wrap_i64)
  (func (export "via") (param i64 i64 i32) (result i64)
    local.get 0 local.get 1 local.get 2 call $mix)
  (func (export "raise") call $boom)
  (func (export "trap") unreachable))
"""

_EDGES64 = (0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, (1 << 63) - 1, 1 << 63, M64)


class _CheckError(Exception):
    pass


def _self_check(api: _RawApi) -> None:
    """Exercise the unchecked path on a throwaway store; raise if anything is off."""
    host = WasmtimeHost.__new__(WasmtimeHost)
    host._setup(memory64=False, api=api)
    seen: list[tuple[int, int, int]] = []

    def mix(a: int, b: int, c: int) -> int:
        seen.append((a, b, c))
        return a ^ b

    def boom() -> None:
        raise _CheckError("parked")

    imports = [host.function(["i64", "i64", "i32"], ["i64"], mix), host.function([], [], boom)]
    inst = host.instantiate(wasmtime.wat2wasm(_CHECK_WAT), imports)
    id64, low32 = host.export(inst, "id64"), host.export(inst, "low32")
    via = host.export(inst, "via")
    for v in _EDGES64:
        for given in (v, _signed64(v)):
            if id64(given) != _signed64(v) or low32(given) != _signed32(v):
                raise RuntimeError(f"value {given:#x} does not round-trip")
            seen.clear()
            got = via(given, 5, given)
            if seen != [(v, 5, _signed32(v))] or got != _signed64(v ^ 5):
                raise RuntimeError(f"callback saw {seen} -> {got:#x} for {given:#x}")
    try:
        host.export(inst, "raise")()
    except _CheckError as e:
        if e.args != ("parked",):
            raise RuntimeError("a different exception came back") from None
    else:
        raise RuntimeError("a host function's exception was lost")
    try:
        host.export(inst, "trap")()
    except wasmtime.Trap:
        pass
    else:
        raise RuntimeError("a Wasm trap was lost")
    if id64(7) != 7 or _parked.exc is not None:
        raise RuntimeError("state left behind after a trap")


@functools.cache
def _wasmtime_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wasmtime")
    except PackageNotFoundError:
        return "unknown"


MODULE_CACHE_BYTES = 512 << 20


def _trim(folder: Path, limit: int) -> None:
    """Keep a module cache under `limit` bytes by dropping its least recently written half."""
    try:
        entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.glob("*.cwasm")]
    except OSError:
        return
    if sum(size for _, size, _ in entries) <= limit:
        return
    total = 0
    for _, size, path in sorted(entries, reverse=True):
        total += size
        if total > limit // 2:
            with contextlib.suppress(OSError):
                path.unlink()
