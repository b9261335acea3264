"""wasmtime with the machine's memory region placed the way Pyodide places it.

Under Pyodide the state, TLB and lookup table are a region of the Python heap
at an address that changes from run to run, so generated code must not bake
it in (Layout.relocatable). This host reproduces that natively: each memory
the machine asks for is a region `offset` bytes into a larger Wasm memory,
and modules declare the memory import by the region's size alone, as the
JavaScript host does. Guest RAM kept apart (create_ram_memory) starts its own
memory, as there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import wasmtime

from engine.host.wasmtime_host import WasmtimeHost


class RelocatedWasmtimeHost(WasmtimeHost):
    moving_base = True

    def __init__(self, memory64: bool, offset: int, compile_threads: bool = False) -> None:
        if offset & 0xFFFF:
            raise ValueError("Pyodide's regions are 64 KiB aligned; so is this one")
        super().__init__(memory64, compile_threads=compile_threads)
        self.offset = offset
        self._regions: list[tuple[wasmtime.Memory, int]] = []  # (memory, region pages)

    def _region_pages(self, memory: wasmtime.Memory) -> int | None:
        return next((pages for m, pages in self._regions if m is memory), None)

    def create_memory(self, pages: int, memory64: bool) -> wasmtime.Memory:
        memory = super().create_memory(pages + (self.offset >> 16), memory64)
        self._regions.append((memory, pages))
        return memory

    def create_ram_memory(self, pages: int) -> tuple[wasmtime.Memory, memoryview]:
        memory = super().create_memory(pages, memory64=True)
        return memory, self.memory_view(memory)

    def memory_view(self, memory: wasmtime.Memory) -> memoryview:
        whole = super().memory_view(memory)
        pages = self._region_pages(memory)
        return whole if pages is None else whole[self.offset : self.offset + (pages << 16)]

    def memory_address(self, memory: wasmtime.Memory) -> int:
        return 0 if self._region_pages(memory) is None else self.offset

    def memory_import(self, memory: wasmtime.Memory) -> tuple[int, int | None]:
        pages = self._region_pages(memory)
        return super().memory_import(memory) if pages is None else (pages, None)


@contextmanager
def machines_placed_at(offset: int) -> Iterator[None]:
    """Machines created inside get a RelocatedWasmtimeHost with their region at `offset`."""

    def create(memory64: bool, compile_threads: bool = False) -> RelocatedWasmtimeHost:
        return RelocatedWasmtimeHost(memory64, offset, compile_threads)

    with mock.patch("engine.host.choice.create_host", create):
        yield
