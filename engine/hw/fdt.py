"""Flattened device tree (DTB, version 17) encoder, and a small decoder for tests.

Build a tree of `FdtNode`s under a `DeviceTree`, then `to_dtb()`. The blob is
laid out as dtc and libfdt's sequential writer do: header, memory reservation
block, structure block, strings block. Property names are stored once in the
strings block; a name that is the tail of one already stored reuses its bytes,
as dtc does. Values are big-endian cells, as the Devicetree Specification
requires.

`decode_dtb` parses a blob (ours or anyone's) into nested dicts,
`{"props": {name: bytes}, "children": {name: subtree}}`, plus the reservation
list and header fields; `node_at`, `u32s`, `strings` read it back.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

FDT_MAGIC = 0xD00DFEED
FDT_VERSION = 17
FDT_LAST_COMP_VERSION = 16
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9
HEADER_SIZE = 40

_NODE_NAME = re.compile(r"[0-9A-Za-z,._+-]{1,31}(@[0-9A-Za-z,._+-]+)?")
_PROP_NAME = re.compile(r"[0-9A-Za-z,._+?#-]{1,31}")


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _cells(values: Iterable[int]) -> bytes:
    out = bytearray()
    for v in values:
        if not 0 <= v <= 0xFFFF_FFFF:
            raise ValueError(f"cell value {v:#x} does not fit 32 bits")
        out += struct.pack(">I", v)
    return bytes(out)


class FdtNode:
    """A node: ordered properties (raw bytes) and ordered children."""

    def __init__(self, name: str) -> None:
        if name and not _NODE_NAME.fullmatch(name):
            raise ValueError(f"invalid node name {name!r}")
        self.name = name
        self.props: dict[str, bytes] = {}
        self.children: list[FdtNode] = []

    # -- structure ------------------------------------------------------------------
    def add_node(self, name: str) -> FdtNode:
        if any(child.name == name for child in self.children):
            raise ValueError(f"duplicate node {name!r} under {self.name or '/'!r}")
        child = FdtNode(name)
        self.children.append(child)
        return child

    def child(self, name: str) -> FdtNode:
        for node in self.children:
            if node.name == name:
                return node
        raise KeyError(name)

    # -- properties -----------------------------------------------------------------
    def set_bytes(self, name: str, value: bytes) -> FdtNode:
        if not _PROP_NAME.fullmatch(name):
            raise ValueError(f"invalid property name {name!r}")
        self.props[name] = bytes(value)
        return self

    def set_empty(self, name: str) -> FdtNode:
        """A property whose presence is the information (e.g. interrupt-controller)."""
        return self.set_bytes(name, b"")

    def set_u32(self, name: str, value: int) -> FdtNode:
        return self.set_bytes(name, _cells([value]))

    def set_u64(self, name: str, value: int) -> FdtNode:
        if not 0 <= value < 1 << 64:
            raise ValueError(f"{name}: {value:#x} does not fit 64 bits")
        return self.set_bytes(name, struct.pack(">Q", value))

    def set_cells(self, name: str, cells: Iterable[int]) -> FdtNode:
        return self.set_bytes(name, _cells(cells))

    def set_string(self, name: str, value: str) -> FdtNode:
        return self.set_strings(name, [value])

    def set_strings(self, name: str, values: Sequence[str]) -> FdtNode:
        encoded = [v.encode() for v in values]
        if any(b"\0" in v for v in encoded):
            raise ValueError(f"{name}: strings may not contain NUL")
        return self.set_bytes(name, b"".join(v + b"\0" for v in encoded))


class DeviceTree:
    """A whole tree: the root node, reserved memory, the boot CPU, phandle numbering."""

    def __init__(self, boot_cpuid: int = 0) -> None:
        self.root = FdtNode("")
        self.reservations: list[tuple[int, int]] = []
        self.boot_cpuid = boot_cpuid
        self._next_phandle = 1

    def node(self, path: str) -> FdtNode:
        node = self.root
        for part in filter(None, path.split("/")):
            node = node.child(part)
        return node

    def add_node(self, path: str) -> FdtNode:
        parent, _, name = path.rstrip("/").rpartition("/")
        return self.node(parent).add_node(name)

    def phandle(self, node: FdtNode) -> int:
        """The node's phandle, numbering it (1, 2, ...) on first use."""
        if "phandle" in node.props:
            return struct.unpack(">I", node.props["phandle"])[0]
        value = self._next_phandle
        self._next_phandle += 1
        node.set_u32("phandle", value)
        return value

    def reserve(self, address: int, size: int) -> None:
        self.reservations.append((address, size))

    def to_dtb(self, pad: int = 0) -> bytes:
        """The DTB blob; `pad` spare bytes at the end let firmware grow it in place."""
        return encode_dtb(self.root, self.reservations, self.boot_cpuid, pad)


class _Strings:
    def __init__(self) -> None:
        self.block = bytearray()

    def offset(self, name: str) -> int:
        key = name.encode() + b"\0"
        found = self.block.find(key)
        if found >= 0:
            return found
        found = len(self.block)
        self.block += key
        return found


def encode_dtb(
    root: FdtNode,
    reservations: Sequence[tuple[int, int]] = (),
    boot_cpuid: int = 0,
    pad: int = 0,
) -> bytes:
    strings = _Strings()
    dt_struct = bytearray()

    def emit(node: FdtNode) -> None:
        dt_struct.extend(struct.pack(">I", FDT_BEGIN_NODE))
        dt_struct.extend(_pad4(node.name.encode() + b"\0"))
        for name, value in node.props.items():
            dt_struct.extend(struct.pack(">III", FDT_PROP, len(value), strings.offset(name)))
            dt_struct.extend(_pad4(value))
        for child in node.children:
            emit(child)
        dt_struct.extend(struct.pack(">I", FDT_END_NODE))

    emit(root)
    dt_struct.extend(struct.pack(">I", FDT_END))

    rsvmap = b"".join(struct.pack(">QQ", a, s) for a, s in reservations) + bytes(16)
    off_rsvmap = HEADER_SIZE  # already 8-byte aligned, as the reservation block must be
    off_struct = off_rsvmap + len(rsvmap)
    off_strings = off_struct + len(dt_struct)
    total = off_strings + len(strings.block) + pad
    header = struct.pack(
        ">10I",
        FDT_MAGIC,
        total,
        off_struct,
        off_strings,
        off_rsvmap,
        FDT_VERSION,
        FDT_LAST_COMP_VERSION,
        boot_cpuid,
        len(strings.block),
        len(dt_struct),
    )
    return header + rsvmap + bytes(dt_struct) + bytes(strings.block) + bytes(pad)


# -- decoding -------------------------------------------------------------------------
Tree = dict[str, Any]  # {"props": {name: bytes}, "children": {name: Tree}}


@dataclass
class DecodedDtb:
    root: Tree
    reservations: list[tuple[int, int]] = field(default_factory=list)
    boot_cpuid: int = 0
    version: int = FDT_VERSION
    last_comp_version: int = FDT_LAST_COMP_VERSION
    totalsize: int = 0


def decode_dtb(blob: bytes) -> DecodedDtb:
    if len(blob) < HEADER_SIZE:
        raise ValueError("DTB shorter than its header")
    (magic, total, off_struct, off_strings, off_rsv, version, last_comp, boot_cpuid) = (
        struct.unpack_from(">8I", blob)
    )
    if magic != FDT_MAGIC:
        raise ValueError(f"bad DTB magic {magic:#x}")
    if total > len(blob):
        raise ValueError("DTB truncated")
    size_strings, size_struct = struct.unpack_from(">2I", blob, 32)

    reservations = []
    pos = off_rsv
    while True:
        addr, size = struct.unpack_from(">QQ", blob, pos)
        pos += 16
        if addr == 0 and size == 0:
            break
        reservations.append((addr, size))

    strings = blob[off_strings : off_strings + size_strings]

    def name_at(offset: int) -> str:
        end = strings.index(b"\0", offset)
        return strings[offset:end].decode()

    pos = off_struct
    end_struct = off_struct + size_struct
    stack: list[Tree] = []
    root: Tree | None = None
    while pos < end_struct:
        (token,) = struct.unpack_from(">I", blob, pos)
        pos += 4
        if token == FDT_BEGIN_NODE:
            end = blob.index(b"\0", pos)
            name = blob[pos:end].decode()
            pos = (end + 1 + 3) & ~3
            node: Tree = {"props": {}, "children": {}}
            if stack:
                stack[-1]["children"][name] = node
            elif root is None:
                root = node
            else:
                raise ValueError("second root node")
            stack.append(node)
        elif token == FDT_PROP:
            length, nameoff = struct.unpack_from(">II", blob, pos)
            pos += 8
            stack[-1]["props"][name_at(nameoff)] = bytes(blob[pos : pos + length])
            pos = (pos + length + 3) & ~3
        elif token == FDT_END_NODE:
            stack.pop()
        elif token == FDT_NOP:
            continue
        elif token == FDT_END:
            break
        else:
            raise ValueError(f"bad structure token {token:#x} at {pos - 4:#x}")
    if root is None or stack:
        raise ValueError("unbalanced structure block")
    return DecodedDtb(root, reservations, boot_cpuid, version, last_comp, total)


def node_at(root: Tree, path: str) -> Tree:
    node = root
    for part in filter(None, path.split("/")):
        node = node["children"][part]
    return node


def walk(root: Tree, path: str = "") -> Iterable[tuple[str, Tree]]:
    """Every node as (path, subtree), parents first; the root's path is "/"."""
    yield path or "/", root
    for name, child in root["children"].items():
        yield from walk(child, f"{path}/{name}")


def u32s(value: bytes) -> list[int]:
    if len(value) % 4:
        raise ValueError("value is not a list of 32-bit cells")
    return list(struct.unpack(f">{len(value) // 4}I", value))


def strings(value: bytes) -> list[str]:
    if not value.endswith(b"\0"):
        raise ValueError("value is not a NUL-terminated string list")
    return [s.decode() for s in value[:-1].split(b"\0")]
