"""The intermediate representation: temporaries, labels, ops and translation blocks.

The IR follows QEMU's TCG in spirit. A translation block (TB) is a straight list
of ops over typed temporaries. Temporaries are either *globals*, which live in
the CPU state at a fixed byte offset (guest registers, pc, fcsr ...), or
*locals*, which live only while the TB runs. Constants are plain Python ints
wherever an op takes an input.

Two restrictions keep every backend simple and are checked by `Block.verify`:
branches only go forward (so a TB is a DAG of basic blocks that maps onto
structured Wasm blocks), and every TB ends in an exit op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag


class Type(IntEnum):
    I32 = 0
    I64 = 1
    F32 = 2
    F64 = 3

    # Plain attributes of each member, set below: translation and the
    # optimizer read them for most ops, and a property cost a call each time.
    bits: int
    mask: int


for _type in Type:
    _type.bits = 32 if _type in (Type.I32, Type.F32) else 64
    _type.mask = (1 << _type.bits) - 1


class Cond(IntEnum):
    """Comparison conditions; the U-suffixed ones compare unsigned."""

    EQ = 0
    NE = 1
    LT = 2
    GE = 3
    LE = 4
    GT = 5
    LTU = 6
    GEU = 7
    LEU = 8
    GTU = 9

    @property
    def is_unsigned(self) -> bool:
        return self >= Cond.LTU

    def invert(self) -> Cond:
        return _INVERSE[self]

    def swap(self) -> Cond:
        """The condition that holds for (b, a) when self holds for (a, b)."""
        return _SWAPPED[self]


_INVERSE = {
    Cond.EQ: Cond.NE, Cond.NE: Cond.EQ, Cond.LT: Cond.GE, Cond.GE: Cond.LT,
    Cond.LE: Cond.GT, Cond.GT: Cond.LE, Cond.LTU: Cond.GEU, Cond.GEU: Cond.LTU,
    Cond.LEU: Cond.GTU, Cond.GTU: Cond.LEU,
}  # fmt: skip
_SWAPPED = {
    Cond.EQ: Cond.EQ, Cond.NE: Cond.NE, Cond.LT: Cond.GT, Cond.GE: Cond.LE,
    Cond.LE: Cond.GE, Cond.GT: Cond.LT, Cond.LTU: Cond.GTU, Cond.GEU: Cond.LEU,
    Cond.LEU: Cond.GEU, Cond.GTU: Cond.LTU,
}  # fmt: skip


class MemOp(IntFlag):
    """Size, signedness and alignment of a guest memory access."""

    SIZE_8 = 0
    SIZE_16 = 1
    SIZE_32 = 2
    SIZE_64 = 3
    SIGN = 4
    # The access must be naturally aligned (atomics); a misaligned address
    # raises the guest's misaligned-address exception instead of being split.
    ALIGN = 8

    @property
    def size(self) -> int:
        return 1 << (self & 3)

    @property
    def signed(self) -> bool:
        return bool(self & MemOp.SIGN)

    @property
    def aligned(self) -> bool:
        return bool(self & MemOp.ALIGN)


class ExtKind(IntEnum):
    """In-register extensions of the low bits of a value (EXT op)."""

    S8 = 0
    U8 = 1
    S16 = 2
    U16 = 3
    S32 = 4
    U32 = 5


class Exit(IntEnum):
    """Why a TB returned to its caller. The guest pc is always in the state."""

    NEXT = 0  # continue at state.pc
    EXCEPTION = 1  # state.exc_cause / exc_tval describe a synchronous trap
    HALT = 2  # the host asked to stop (budget, deadline, interrupt check)


class Temp:
    """A typed value. Globals carry the byte offset of their CPU-state slot.

    Temps are immutable once made; the optimizer reads `is_global` and `key`
    millions of times per boot, so they are plain attributes, not properties.
    """

    __slots__ = ("index", "is_global", "key", "name", "offset", "type")

    def __init__(self, index: int, type: Type, name: str, offset: int | None = None) -> None:
        self.index = index
        self.type = type
        self.name = name
        self.offset = offset
        self.is_global = offset is not None
        # What identifies the storage: a global's state offset (all globals share
        # index -1), or a local's index mapped below zero.
        self.key = offset if offset is not None else -1 - index

    def __repr__(self) -> str:
        return self.name


Value = Temp | int


class Label:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"L{self.index}"


class HelperFlags(IntFlag):
    NONE = 0
    # No side effects and the result depends only on the arguments: the call
    # may be folded or removed like an arithmetic op.
    PURE = 1
    # Reads CPU state through env: backends caching globals must write them back first.
    READS_STATE = 2
    # Writes CPU state through env: backends caching globals must reload them after.
    WRITES_STATE = 4
    # May raise a guest exception; the translator stores the pc before the call.
    MAY_RAISE = 8


@dataclass(frozen=True)
class Helper:
    """A host function callable from translated code: fn(env, *args) -> int | None."""

    name: str
    fn: Callable[..., int | None]
    arg_types: tuple[Type, ...]
    ret_type: Type | None
    flags: HelperFlags = HelperFlags.READS_STATE | HelperFlags.WRITES_STATE

    def __post_init__(self) -> None:
        # Serialized blocks name their helpers, so a name must mean one function.
        if self.name in HELPERS and HELPERS[self.name].fn is not self.fn:
            raise ValueError(f"two different helpers are called {self.name!r}")
        HELPERS[self.name] = self

    def __repr__(self) -> str:
        return f"helper:{self.name}"


HELPERS: dict[str, Helper] = {}  # every helper by name (engine.ir.serialize looks them up)


class Opc(IntEnum):
    # data movement and arithmetic: (dst, a[, b])
    MOV = 0
    ADD = 1
    SUB = 2
    MUL = 3
    MULSH = 4  # high half of signed * signed
    MULUH = 5  # high half of unsigned * unsigned
    MULSUH = 6  # high half of signed * unsigned
    DIV = 7  # precondition: b != 0 and not (MIN / -1); the frontend guards
    DIVU = 8  # precondition: b != 0
    REM = 9
    REMU = 10
    AND = 11
    OR = 12
    XOR = 13
    SHL = 14  # shift counts are taken modulo the width, as in Wasm and RISC-V
    SHR = 15
    SAR = 16
    NEG = 17
    NOT = 18
    EXT = 19  # (dst, a, ExtKind)
    EXTU_I32_I64 = 20
    EXTS_I32_I64 = 21
    TRUNC_I64_I32 = 22
    SETCOND = 23  # (dst, cond, a, b) -> 0 or 1
    MOVCOND = 24  # (dst, cond, a, b, if_true, if_false)
    # guest memory: LD (dst, addr, memop, mmu_idx); ST (value, addr, memop, mmu_idx)
    LD = 30
    ST = 31
    # control flow inside the TB: forward branches only
    LABEL = 40  # (label,)
    BR = 41  # (label,)
    BRCOND = 42  # (cond, a, b, label)
    # helpers: (helper, dst_or_None, *args)
    CALL = 50
    # guest instruction boundary: (pc, insn_word)
    INSN_START = 60
    # TB exits
    GOTO_TB = 70  # (pc,) continue at a constant pc; chainable
    GOTO_PTR = 71  # (pc_temp,) continue at a computed pc
    EXIT = 72  # (Exit code,) return to the host; pc and trap state already stored


BINARY_OPS = frozenset(
    {
        Opc.ADD, Opc.SUB, Opc.MUL, Opc.MULSH, Opc.MULUH, Opc.MULSUH, Opc.DIV, Opc.DIVU,
        Opc.REM, Opc.REMU, Opc.AND, Opc.OR, Opc.XOR, Opc.SHL, Opc.SHR, Opc.SAR,
    }
)  # fmt: skip
UNARY_OPS = frozenset(
    {Opc.MOV, Opc.NEG, Opc.NOT, Opc.EXTU_I32_I64, Opc.EXTS_I32_I64, Opc.TRUNC_I64_I32}
)
EXIT_OPS = frozenset({Opc.GOTO_TB, Opc.GOTO_PTR, Opc.EXIT})


# Where each opcode keeps the temp it writes and the values it reads, as positions
# in Op.args: the optimizer asks for them several times per op, so they are
# looked up rather than worked out each time (its passes read these tables
# directly). The inputs are always contiguous.
DST_POSITION: dict[int, int] = {
    **{opc: 0 for opc in BINARY_OPS | UNARY_OPS},
    Opc.EXT: 0, Opc.SETCOND: 0, Opc.MOVCOND: 0, Opc.LD: 0, Opc.CALL: 1,
}  # fmt: skip
INPUT_SLICE: dict[int, slice] = {
    **{opc: slice(1, 3) for opc in BINARY_OPS},
    **{opc: slice(1, 2) for opc in UNARY_OPS},
    Opc.EXT: slice(1, 2), Opc.SETCOND: slice(2, 4), Opc.MOVCOND: slice(2, 6),
    Opc.LD: slice(1, 2), Opc.ST: slice(0, 2), Opc.BRCOND: slice(1, 3),
    Opc.CALL: slice(2, None), Opc.GOTO_PTR: slice(0, 1),
}  # fmt: skip


class Op:
    __slots__ = ("args", "opc")

    def __init__(self, opc: Opc, *args: object) -> None:
        self.opc = opc
        self.args = args

    @property
    def dst(self) -> Temp | None:
        """The temp this op writes, if any."""
        position = DST_POSITION.get(self.opc)
        return None if position is None else self.args[position]  # type: ignore[return-value]

    def inputs(self) -> list[Value]:
        """The values this op reads (temps and constants)."""
        where = INPUT_SLICE.get(self.opc)
        return [] if where is None else list(self.args[where])  # type: ignore[arg-type]

    def replace_inputs(self, new: Sequence[Value]) -> None:
        """Rebuild args with `new` in the positions that inputs() reports."""
        where = INPUT_SLICE.get(self.opc)
        if where is None:
            return
        args = list(self.args)
        args[where] = new
        self.args = tuple(args)

    def __repr__(self) -> str:
        parts = []
        for x in self.args:
            if isinstance(x, int) and not isinstance(x, IntEnum):
                parts.append(hex(x) if abs(x) > 9 else str(x))
            elif isinstance(x, IntEnum | IntFlag):
                parts.append(x.name or str(int(x)))
            else:
                parts.append(repr(x))
        return f"{self.opc.name.lower()} {', '.join(parts)}"


@dataclass
class Block:
    """A translation block: the IR of a run of guest instructions starting at pc."""

    pc: int
    ops: list[Op] = field(default_factory=list)
    temps: list[Temp] = field(default_factory=list)
    labels: int = 0
    n_insns: int = 0
    # Guest byte length covered (for invalidation of self-modifying code).
    size: int = 0

    def dump(self) -> str:
        lines = [f"TB pc={self.pc:#x} insns={self.n_insns}"]
        for op in self.ops:
            indent = "" if op.opc in (Opc.LABEL, Opc.INSN_START) else "    "
            lines.append(indent + repr(op))
        return "\n".join(lines)

    def verify(self) -> None:
        """Check the structural invariants every backend relies on."""
        placed: set[int] = set()
        for op in self.ops:
            if op.opc == Opc.LABEL:
                placed.add(op.args[0].index)
            elif op.opc in (Opc.BR, Opc.BRCOND):
                target = op.args[-1]
                if target.index in placed:
                    raise ValueError(f"backward branch to {target} in TB {self.pc:#x}")
        if not self.ops or self.ops[-1].opc not in EXIT_OPS:
            raise ValueError(f"TB {self.pc:#x} does not end in an exit op")
