"""A WebAssembly binary encoder: just what the code generator emits, nothing more.

`Module` collects types, imports, functions, exports and element segments and
writes the binary format; `Code` builds one function body. Memories may be
32-bit or 64-bit (memory64): the caller states which, and passes addresses of
the matching type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

MAGIC = b"\0asm\x01\0\0\0"


class ValType(IntEnum):
    I32 = 0x7F
    I64 = 0x7E
    F32 = 0x7D
    F64 = 0x7C
    FUNCREF = 0x70


# A cold boot encodes millions of indices, offsets and constants, most of them small.
_ONE_BYTE = [bytes((n,)) for n in range(128)]


def uleb(n: int) -> bytes:
    if 0 <= n < 128:
        return _ONE_BYTE[n]
    if n < 0:
        raise ValueError("unsigned LEB128 of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb(n: int) -> bytes:
    if -64 <= n < 64:
        return _ONE_BYTE[n & 0x7F]
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def name(s: str) -> bytes:
    data = s.encode()
    return uleb(len(data)) + data


def vec(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


class Op(IntEnum):
    """Opcodes, by their text-format names with '.' and '/' as '_'."""

    UNREACHABLE = 0x00
    NOP = 0x01
    BLOCK = 0x02
    LOOP = 0x03
    IF = 0x04
    ELSE = 0x05
    END = 0x0B
    BR = 0x0C
    BR_IF = 0x0D
    BR_TABLE = 0x0E
    RETURN = 0x0F
    CALL = 0x10
    CALL_INDIRECT = 0x11
    RETURN_CALL = 0x12
    RETURN_CALL_INDIRECT = 0x13
    DROP = 0x1A
    SELECT = 0x1B
    LOCAL_GET = 0x20
    LOCAL_SET = 0x21
    LOCAL_TEE = 0x22
    GLOBAL_GET = 0x23
    GLOBAL_SET = 0x24
    I32_LOAD = 0x28
    I64_LOAD = 0x29
    I32_LOAD8_S = 0x2C
    I32_LOAD8_U = 0x2D
    I32_LOAD16_S = 0x2E
    I32_LOAD16_U = 0x2F
    I64_LOAD8_S = 0x30
    I64_LOAD8_U = 0x31
    I64_LOAD16_S = 0x32
    I64_LOAD16_U = 0x33
    I64_LOAD32_S = 0x34
    I64_LOAD32_U = 0x35
    I32_STORE = 0x36
    I64_STORE = 0x37
    I32_STORE8 = 0x3A
    I32_STORE16 = 0x3B
    I64_STORE8 = 0x3C
    I64_STORE16 = 0x3D
    I64_STORE32 = 0x3E
    I32_CONST = 0x41
    I64_CONST = 0x42
    I32_EQZ = 0x45
    I32_EQ = 0x46
    I32_NE = 0x47
    I32_LT_S = 0x48
    I32_LT_U = 0x49
    I32_GT_S = 0x4A
    I32_GT_U = 0x4B
    I32_LE_S = 0x4C
    I32_LE_U = 0x4D
    I32_GE_S = 0x4E
    I32_GE_U = 0x4F
    I64_EQZ = 0x50
    I64_EQ = 0x51
    I64_NE = 0x52
    I64_LT_S = 0x53
    I64_LT_U = 0x54
    I64_GT_S = 0x55
    I64_GT_U = 0x56
    I64_LE_S = 0x57
    I64_LE_U = 0x58
    I64_GE_S = 0x59
    I64_GE_U = 0x5A
    I32_ADD = 0x6A
    I32_SUB = 0x6B
    I32_MUL = 0x6C
    I32_DIV_S = 0x6D
    I32_DIV_U = 0x6E
    I32_REM_S = 0x6F
    I32_REM_U = 0x70
    I32_AND = 0x71
    I32_OR = 0x72
    I32_XOR = 0x73
    I32_SHL = 0x74
    I32_SHR_S = 0x75
    I32_SHR_U = 0x76
    I64_CLZ = 0x79
    I64_CTZ = 0x7A
    I64_POPCNT = 0x7B
    I64_ADD = 0x7C
    I64_SUB = 0x7D
    I64_MUL = 0x7E
    I64_DIV_S = 0x7F
    I64_DIV_U = 0x80
    I64_REM_S = 0x81
    I64_REM_U = 0x82
    I64_AND = 0x83
    I64_OR = 0x84
    I64_XOR = 0x85
    I64_SHL = 0x86
    I64_SHR_S = 0x87
    I64_SHR_U = 0x88
    I64_ROTL = 0x89
    I64_ROTR = 0x8A
    I32_WRAP_I64 = 0xA7
    I64_EXTEND_I32_S = 0xAC
    I64_EXTEND_I32_U = 0xAD
    I32_EXTEND8_S = 0xC0
    I32_EXTEND16_S = 0xC1
    I64_EXTEND8_S = 0xC2
    I64_EXTEND16_S = 0xC3
    I64_EXTEND32_S = 0xC4


# Natural alignment (log2) of each memory access opcode, for the memarg.
ALIGN = {
    Op.I32_LOAD: 2, Op.I64_LOAD: 3, Op.I32_LOAD8_S: 0, Op.I32_LOAD8_U: 0, Op.I32_LOAD16_S: 1,
    Op.I32_LOAD16_U: 1, Op.I64_LOAD8_S: 0, Op.I64_LOAD8_U: 0, Op.I64_LOAD16_S: 1,
    Op.I64_LOAD16_U: 1, Op.I64_LOAD32_S: 2, Op.I64_LOAD32_U: 2, Op.I32_STORE: 2,
    Op.I64_STORE: 3, Op.I32_STORE8: 0, Op.I32_STORE16: 1, Op.I64_STORE8: 0, Op.I64_STORE16: 1,
    Op.I64_STORE32: 2,
}  # fmt: skip
BLOCK_VOID = 0x40


_MEMARGS: dict[tuple[int, int, int | None, int], bytes] = {}
_I64_CONSTS: dict[int, bytes] = {}  # value -> its i64.const instruction
_MAX_CACHED_CONSTS = 1 << 16
_LOCAL_GET_SHORT = [bytes((Op.LOCAL_GET, i)) for i in range(128)]
_LOCAL_SET_SHORT = [bytes((Op.LOCAL_SET, i)) for i in range(128)]


class Code:
    """The instruction bytes of one function body (without its locals)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def op(self, opcode: Op) -> Code:
        self.buf.append(opcode)
        return self

    def i32_const(self, v: int) -> Code:
        v &= 0xFFFF_FFFF
        self.buf.append(Op.I32_CONST)
        self.buf += sleb(v - (1 << 32) if v >> 31 else v)
        return self

    def i64_const(self, v: int) -> Code:
        # About 36 a block (TLB masks, pcs, state offsets), most of them values
        # seen before: each is encoded once and its bytes reused.
        encoded = _I64_CONSTS.get(v)
        if encoded is None:
            w = v & 0xFFFF_FFFF_FFFF_FFFF
            encoded = bytes((Op.I64_CONST,)) + sleb(w - (1 << 64) if w >> 63 else w)
            if len(_I64_CONSTS) >= _MAX_CACHED_CONSTS:
                _I64_CONSTS.clear()
            _I64_CONSTS[v] = encoded
        self.buf += encoded
        return self

    def local(self, opcode: Op, index: int) -> Code:
        self.buf.append(opcode)
        if index < 128:
            self.buf.append(index)
        else:
            self.buf += uleb(index)
        return self

    # local.get and local.set of the first 128 locals are two fixed bytes: a
    # module of 64 blocks writes tens of thousands of them.
    def get(self, index: int) -> Code:
        if index < 128:
            self.buf += _LOCAL_GET_SHORT[index]
            return self
        return self.local(Op.LOCAL_GET, index)

    def set(self, index: int) -> Code:
        if index < 128:
            self.buf += _LOCAL_SET_SHORT[index]
            return self
        return self.local(Op.LOCAL_SET, index)

    def global_get(self, index: int) -> Code:
        return self.local(Op.GLOBAL_GET, index)

    def tee(self, index: int) -> Code:
        return self.local(Op.LOCAL_TEE, index)

    def block(self, opcode: Op = Op.BLOCK, result: ValType | None = None) -> Code:
        self.buf.append(opcode)
        self.buf.append(BLOCK_VOID if result is None else result)
        return self

    def br(self, opcode: Op, depth: int) -> Code:
        self.buf.append(opcode)
        self.buf += uleb(depth)
        return self

    def call(self, func: int, tail: bool = False) -> Code:
        self.buf.append(Op.RETURN_CALL if tail else Op.CALL)
        self.buf += uleb(func)
        return self

    def call_indirect(self, type_index: int, table: int = 0, tail: bool = False) -> Code:
        self.buf.append(Op.RETURN_CALL_INDIRECT if tail else Op.CALL_INDIRECT)
        self.buf += uleb(type_index) + uleb(table)
        return self

    def mem(self, opcode: Op, offset: int = 0, align: int | None = None, memory: int = 0) -> Code:
        """A load or store; memory64 offsets may exceed 32 bits.

        Memory 0 keeps the classic memarg; another memory (multi-memory) sets bit
        6 of the alignment field and names its index before the offset."""
        key = (opcode, offset, align, memory)
        encoded = _MEMARGS.get(key)
        if encoded is None:
            flags = ALIGN[opcode] if align is None else align
            if memory:
                encoded = bytes((opcode,)) + uleb(flags | 0x40) + uleb(memory) + uleb(offset)
            else:
                encoded = bytes((opcode,)) + uleb(flags) + uleb(offset)
            if len(_MEMARGS) < 4096:  # state slots and small offsets: a few hundred in all
                _MEMARGS[key] = encoded
        self.buf += encoded
        return self

    def bytes(self) -> bytes:
        return bytes(self.buf)


@dataclass
class _Function:
    type_index: int
    locals: list[ValType]
    body: bytes


@dataclass
class Module:
    types: list[tuple[tuple[ValType, ...], tuple[ValType, ...]]] = field(default_factory=list)
    imports: list[bytes] = field(default_factory=list)
    functions: list[_Function] = field(default_factory=list)
    exports: list[bytes] = field(default_factory=list)
    elements: list[bytes] = field(default_factory=list)
    imported_funcs: int = 0
    imported_globals: int = 0

    def type(self, params: tuple[ValType, ...], results: tuple[ValType, ...]) -> int:
        sig = (tuple(params), tuple(results))
        if sig not in self.types:
            self.types.append(sig)
        return self.types.index(sig)

    # -- imports ----------------------------------------------------------------
    def import_func(self, module: str, field_name: str, type_index: int) -> int:
        if self.functions:
            raise ValueError("imports must come before defined functions")
        self.imports.append(name(module) + name(field_name) + b"\x00" + uleb(type_index))
        self.imported_funcs += 1
        return self.imported_funcs - 1

    def import_memory(
        self, module: str, field_name: str, min_pages: int, max_pages: int | None = None,
        memory64: bool = False,
    ) -> None:  # fmt: skip
        flags = (0x04 if memory64 else 0) | (0x01 if max_pages is not None else 0)
        limits = bytes([flags]) + uleb(min_pages)
        if max_pages is not None:
            limits += uleb(max_pages)
        self.imports.append(name(module) + name(field_name) + b"\x02" + limits)

    def import_table(self, module: str, field_name: str, min_size: int) -> None:
        limits = b"\x00" + uleb(min_size)
        self.imports.append(
            name(module) + name(field_name) + b"\x01" + bytes([ValType.FUNCREF]) + limits
        )

    def import_global(self, module: str, field_name: str, valtype: ValType) -> int:
        """An immutable global; returns its index (imported globals come first)."""
        self.imports.append(name(module) + name(field_name) + b"\x03" + bytes([valtype, 0]))
        self.imported_globals += 1
        return self.imported_globals - 1

    # -- definitions ---------------------------------------------------------------
    def function(self, type_index: int, locals: list[ValType], body: Code | bytes) -> int:
        data = body.bytes() if isinstance(body, Code) else body
        self.functions.append(_Function(type_index, list(locals), data))
        return self.imported_funcs + len(self.functions) - 1

    def export_func(self, export_name: str, func: int) -> None:
        self.exports.append(name(export_name) + b"\x00" + uleb(func))

    def elements_at(self, offset: int, funcs: list[int]) -> None:
        """An active segment filling table 0 from `offset` with `funcs` at instantiation."""
        expr = Code().i32_const(offset).op(Op.END).bytes()
        self.elements.append(b"\x00" + expr + vec([uleb(f) for f in funcs]))

    def elements_at_global(self, global_index: int, funcs: list[int]) -> None:
        """Like elements_at, from the offset an imported i32 global holds: the bytes do
        not depend on where the functions land, so the same module can be reused."""
        expr = bytes([Op.GLOBAL_GET]) + uleb(global_index) + bytes([Op.END])
        self.elements.append(b"\x00" + expr + vec([uleb(f) for f in funcs]))

    # -- output ------------------------------------------------------------------------
    @staticmethod
    def _section(section_id: int, payload: bytes) -> bytes:
        return bytes([section_id]) + uleb(len(payload)) + payload

    @staticmethod
    def _locals(locals: list[ValType]) -> bytes:
        runs: list[list] = []
        for t in locals:
            if runs and runs[-1][1] == t:
                runs[-1][0] += 1
            else:
                runs.append([1, t])
        return vec([uleb(n) + bytes([t]) for n, t in runs])

    def encode(self) -> bytes:
        out = bytearray(MAGIC)
        if self.types:
            out += self._section(
                1,
                vec([
                    b"\x60" + vec([bytes([p]) for p in ps]) + vec([bytes([r]) for r in rs])
                    for ps, rs in self.types
                ]),
            )  # fmt: skip
        if self.imports:
            out += self._section(2, vec(self.imports))
        if self.functions:
            out += self._section(3, vec([uleb(f.type_index) for f in self.functions]))
        if self.exports:
            out += self._section(7, vec(self.exports))
        if self.elements:
            out += self._section(9, vec(self.elements))
        if self.functions:
            bodies = []
            for f in self.functions:
                body = self._locals(f.locals) + f.body
                bodies.append(uleb(len(body)) + body)
            out += self._section(10, vec(bodies))
        return bytes(out)
