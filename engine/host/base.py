"""What the engine needs from a WebAssembly host, whatever runs it.

The native host is wasmtime (engine/host/wasmtime_host.py); a JavaScript host
under Pyodide implements the same few operations with the WebAssembly API.
Everything is created once per machine except modules and instances, which
the JIT makes in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from engine.ram_access import RamLike

# Value types of helper signatures, as Wasm spells them.
I32, I64 = "i32", "i64"


class WasmHost(Protocol):
    supports_memory64: bool
    # Whether wasm64 keeps guest RAM in a 64-bit memory of its own, apart from a
    # 32-bit memory holding everything else (Pyodide's heap); see create_ram_memory.
    ram_apart: bool
    # Whether memory_address() may differ from run to run (a region of Pyodide's
    # heap): generated code kept across runs must then read it at run time.
    moving_base: bool

    def create_memory(self, pages: int, memory64: bool) -> Any:
        """A fixed-size linear memory of `pages` 64 KiB pages (it never grows or moves)."""

    def create_ram_memory(self, pages: int) -> tuple[Any, RamLike]:
        """Guest RAM in a 64-bit memory of its own, for a second memory import: the
        memory, and what Python reads and writes it through (engine.ram_access)."""

    def memory_view(self, memory: Any) -> memoryview:
        """A zero-copy writable byte view of the whole memory."""

    def memory_address(self, memory: Any) -> int:
        """Where offset 0 of memory_view(memory) sits in the memory generated code addresses."""

    def memory_import(self, memory: Any) -> tuple[int, int | None]:
        """The (minimum, maximum) pages generated modules declare when importing it."""

    def create_table(self, size: int) -> Any:
        """A funcref table shared by every generated module."""

    def table_size(self, table: Any) -> int: ...

    def grow_table(self, table: Any, delta: int) -> None: ...

    def global_i32(self, value: int) -> Any:
        """An immutable i32 global to import (where a module's table segment starts)."""

    def function(
        self, params: Sequence[str], results: Sequence[str], fn: Callable[..., int | None]
    ) -> Any:
        """A host function importable by generated code; i64 arguments arrive unsigned."""

    def instantiate(self, wasm: bytes, imports: Sequence[Any]) -> Any:
        """Compile and instantiate a module; `imports` in the module's import order."""

    def export(self, instance: Any, name: str) -> Callable[..., int]:
        """A callable for an exported function."""

    def exported(self, instance: Any, name: str) -> Any:
        """An exported function as an import for other modules (Wasm calls it directly)."""

    def validate(self, wasm: bytes) -> None:
        """Raise ValueError with the engine's message if the module is invalid."""
