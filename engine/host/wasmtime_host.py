"""The native host: wasmtime through its Python bindings (the only wasmtime user)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime

M64 = (1 << 64) - 1
_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}


def _signed64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


class WasmtimeHost:
    supports_memory64 = True

    def __init__(self, memory64: bool = True) -> None:
        config = wasmtime.Config()
        config.wasm_memory64 = memory64
        config.wasm_tail_call = True
        # Generated code is compiled in many small batches; compile each on
        # this thread rather than paying for a thread pool hand-off.
        config.parallel_compilation = False
        self.engine = wasmtime.Engine(config)
        self.store = wasmtime.Store(self.engine)
        # One module per batch of TBs: lift the default cap of 10,000 instances.
        self.store.set_limits(instances=1_000_000, tables=1_000_000, memories=16)
        self.supports_memory64 = memory64
        self.modules_instantiated = 0

    def create_memory(self, pages: int, memory64: bool) -> wasmtime.Memory:
        limits = wasmtime.Limits(pages, pages)
        return wasmtime.Memory(self.store, wasmtime.MemoryType(limits, is_64=memory64))

    def memory_view(self, memory: wasmtime.Memory) -> memoryview:
        size = memory.data_len(self.store)
        base = ctypes.addressof(memory.data_ptr(self.store).contents)
        return memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")

    def create_table(self, size: int) -> wasmtime.Table:
        ty = wasmtime.TableType(wasmtime.ValType.funcref(), wasmtime.Limits(size, None))
        return wasmtime.Table(self.store, ty, None)

    def table_size(self, table: wasmtime.Table) -> int:
        return table.size(self.store)

    def grow_table(self, table: wasmtime.Table, delta: int) -> None:
        table.grow(self.store, delta, None)

    def function(
        self, params: Sequence[str], results: Sequence[str], fn: Callable[..., int | None]
    ) -> wasmtime.Func:
        ty = wasmtime.FuncType([_VALTYPES[p]() for p in params], [_VALTYPES[r]() for r in results])
        unsigned = [p == "i64" for p in params]
        returns = bool(results)

        def trampoline(*args: int) -> int | None:
            # wasmtime passes i64 as signed Python ints; helpers think unsigned.
            conv = [a & M64 if u else a for a, u in zip(args, unsigned, strict=True)]
            r = fn(*conv)
            return _signed64(r) if returns else None

        return wasmtime.Func(self.store, ty, trampoline)

    def instantiate(self, wasm: bytes, imports: Sequence[Any]) -> wasmtime.Instance:
        module = wasmtime.Module(self.engine, wasm)
        self.modules_instantiated += 1
        return wasmtime.Instance(self.store, module, list(imports))

    def export(self, instance: wasmtime.Instance, name: str) -> Callable[..., int]:
        func = instance.exports(self.store)[name]
        store = self.store
        return lambda *args: func(store, *args)

    def validate(self, wasm: bytes) -> None:
        try:
            wasmtime.Module.validate(self.engine, wasm)
        except wasmtime.WasmtimeError as e:
            raise ValueError(str(e)) from None
