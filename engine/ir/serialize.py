"""Translation blocks as bytes, for the persistent translation cache.

The format is `marshal` of plain tuples, which CPython reads back far faster
than the translator and optimizer can rebuild a block. Helpers travel by
name and must be registered (`Helper` registers itself on creation); local
temps by index into the block's temp list; globals by name and state
offset, since they are identified by offset everywhere (the optimizer's
keys, the backends' state accesses). Enum arguments keep their enum type
(any engine enum, named by module and class), because backends format and
dispatch on them.

`FORMAT` changes whenever the encoding does; a cache keyed by it never
hands a block to a reader that cannot decode it.
"""

from __future__ import annotations

import importlib
import marshal
from enum import IntEnum, IntFlag

from engine.ir.core import HELPERS, Block, Helper, Label, Op, Opc, Temp, Type

FORMAT = 1
_LOCAL, _GLOBAL, _LABEL, _HELPER, _ENUM = range(5)
_ENUM_CLASSES: dict[tuple[str, str], type] = {}  # (module, name) -> enum class
_OPCODES = {int(o): o for o in Opc}
_TYPES = {int(t): t for t in Type}


class SerializeError(ValueError):
    """Bytes that are not a serialized block of this format."""


def dump_block(block: Block) -> bytes:
    temps = tuple((int(t.type), t.name) for t in block.temps)
    ops = tuple((int(op.opc), _encode_args(op.args)) for op in block.ops)
    return marshal.dumps((FORMAT, block.pc, block.labels, block.n_insns, block.size, temps, ops))


def _encode_args(args: tuple) -> tuple:
    # Every fresh translation is dumped for the persistent cache, so this runs
    # for every argument of every op of a first boot: constants and temps, by
    # far the most common, take the short way.
    out = []
    for arg in args:
        kind = type(arg)
        if kind is int:
            out.append(arg)
        elif kind is Temp:
            if arg.offset is None:
                out.append((_LOCAL, arg.index))
            else:
                out.append((_GLOBAL, arg.name, arg.offset, int(arg.type)))
        elif kind is Label:
            out.append((_LABEL, arg.index))
        else:  # enum members and helpers: few, and each encoded the same every time
            key = (kind, arg)
            encoded = _ENCODED.get(key)
            if encoded is None:
                encoded = _encode_rare(arg)
                if type(encoded) is tuple:
                    _ENCODED[key] = encoded
            out.append(encoded)
    return tuple(out)


_ENCODED: dict[tuple[type, object], tuple] = {}


def load_block(data: bytes) -> Block:
    try:
        fmt, pc, labels, n_insns, size, temps, ops = marshal.loads(data)
    except (ValueError, EOFError, TypeError) as exc:
        raise SerializeError(f"not a serialized block: {exc}") from None
    if fmt != FORMAT:
        raise SerializeError(f"block format {fmt}, expected {FORMAT}")
    block = Block(pc, labels=labels, n_insns=n_insns, size=size)
    block.temps = locals_ = [Temp(i, _TYPES[ty], name) for i, (ty, name) in enumerate(temps)]
    labels_ = [Label(i) for i in range(labels)]
    # A warm boot reads tens of thousands of blocks (those that never got an
    # interpreter function): every argument is decoded inline, and globals and
    # enum members come from one dict by their encoded tuple.
    shared = _SHARED
    opcodes = _OPCODES
    out = []
    try:
        for opc, args in ops:
            decoded = []
            for a in args:
                if type(a) is tuple:
                    tag = a[0]
                    if tag == _LOCAL:
                        a = locals_[a[1]]
                    elif tag == _LABEL:
                        a = labels_[a[1]]
                    else:
                        a = shared[a] if a in shared else _decode_shared(a)
                decoded.append(a)
            out.append(Op(opcodes[opc], *decoded))
    except (IndexError, KeyError, AttributeError, ImportError, ValueError, TypeError) as exc:
        raise SerializeError(f"block at {pc:#x} refers to something unknown: {exc}") from None
    block.ops = out
    return block


# Encoded globals and enum members -> the object each stands for. One Temp per
# state slot serves every loaded block, as translated ones share theirs.
_SHARED: dict[tuple, object] = {}


def _decode_shared(item: tuple) -> object:
    tag = item[0]
    if tag == _GLOBAL:
        name, offset, ty = item[1:]
        obj: object = Temp(-1, _TYPES[ty], name, offset)
    elif tag == _ENUM:
        obj = _enum_class(item[1], item[2])(item[3])
    elif tag == _HELPER:
        return HELPERS[item[1]]  # looked up each time: a name may be registered anew
    else:
        raise KeyError(f"tag {tag}")
    _SHARED[item] = obj
    return obj


def _encode_rare(arg: object) -> object:
    """Arguments other than constants, temps and labels (see _encode_args)."""
    if isinstance(arg, (IntEnum, IntFlag)):
        cls = type(arg)
        return (_ENUM, cls.__module__, cls.__qualname__, int(arg))
    if isinstance(arg, Helper):
        if HELPERS.get(arg.name) is not arg:
            raise SerializeError(f"helper {arg.name} is not registered under its name")
        return (_HELPER, arg.name)
    if arg is None or type(arg) in (bool, str):
        return arg
    raise SerializeError(f"cannot serialize IR argument {arg!r}")


def _enum_class(module: str, name: str) -> type:
    key = (module, name)
    cls = _ENUM_CLASSES.get(key)
    if cls is None:
        if not module.startswith("engine."):
            raise KeyError(f"enum {module}.{name} is not the engine's")
        cls = getattr(importlib.import_module(module), name)
        if not issubclass(cls, (IntEnum, IntFlag)):
            raise KeyError(f"{module}.{name} is not an enum")
        _ENUM_CLASSES[key] = cls
    return cls
