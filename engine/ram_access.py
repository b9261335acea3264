"""How Python code reads and writes guest RAM: struct on a buffer, or the RAM's own calls.

Guest RAM is normally a memoryview (of a Wasm linear memory or a bytearray)
and Python reaches it with struct. Under Pyodide the wasm64 variant keeps RAM
in a 64-bit WebAssembly.Memory of its own, which Python's 32-bit heap cannot
view: such a RAM object offers `unpacker(fmt)` and `packer(fmt)` with
struct's calling convention, so the accessors built on these stay one piece
of code for both.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Protocol

Unpack = Callable[[Any, int], tuple[int]]
Pack = Callable[[Any, int, int], None]


class RamLike(Protocol):
    """What Python does with guest RAM besides struct: its size, a byte, a copied range,
    and writing a range. A memoryview is one."""

    def __len__(self) -> int: ...
    def __getitem__(self, key: Any) -> Any: ...
    def __setitem__(self, key: slice, data: Any) -> None: ...


def unpacker(ram: Any, fmt: str) -> Unpack:
    """unpack(ram, offset) -> (value,) for a little-endian integer format such as "<Q"."""
    own = getattr(ram, "unpacker", None)
    return own(fmt) if own is not None else struct.Struct(fmt).unpack_from


def packer(ram: Any, fmt: str) -> Pack:
    """pack(ram, offset, value) for an unsigned little-endian format such as "<Q"."""
    own = getattr(ram, "packer", None)
    return own(fmt) if own is not None else struct.Struct(fmt).pack_into
