"""The TB lookup table: a direct-mapped cache in linear memory from (pc, context) to a TB.

The host fills it (WasmJit.set_lookup) when a TB is compiled; generated code
reads it twice over: the dispatcher to call the next TB, and a TB's exit to
chain straight into the next one without returning (see FunctionCompiler).
Both find an entry with emit_find, so they agree on what a hit is. In system
mode, a hit in the second level (physical.py) fills the entry for the current
address space too, and logs it, so the host can still drop every entry of a
page or an address space (WasmJit.take_wasm_fills).

An entry is 16 bytes: the pc (i64), the TB's funcref table slot (i32), and a
context word (i32): the TB flags (below bit 7) and either the ASID it was made
under (from bit 8) or LOOKUP_GLOBAL for code on a global page.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.backend.wasm.encoder import Code, Op

LOOKUP_ENTRIES = 1 << 18
LOOKUP_ENTRY_BYTES = 16
LOOKUP_BYTES = LOOKUP_ENTRIES * LOOKUP_ENTRY_BYTES
INVALID_PC = 1  # no RISC-V instruction lives at an odd address
LOOKUP_GLOBAL = 0x80
LOOKUP_ASID_SHIFT = 8
# The TB flags take part in the slot index, so that the blocks one pc has under
# different flags (privilege, FS state...) do not keep evicting each other.
LOOKUP_FLAGS_SHIFT = 11
ENTRY_SLOT, ENTRY_CONTEXT = 8, 12  # byte offsets in an entry


def lookup_slot(pc: int, flags: int = 0) -> int:
    """The direct-mapped slot of (pc, flags); `flags` are a context word's low 7 bits."""
    return ((pc >> 1) ^ (flags << LOOKUP_FLAGS_SHIFT)) & (LOOKUP_ENTRIES - 1)


def emit_entry_offset(c: Code, push_pc: Callable[[], None], current: int = -1) -> None:
    """Push the i64 byte offset in the table of the entry for pc (pushed by push_pc) and,
    in system mode, the flags of the context word in i32 local `current`:
    lookup_slot(pc, flags) * LOOKUP_ENTRY_BYTES."""
    push_pc()
    c.i64_const(1).op(Op.I64_SHR_U)
    if current >= 0:
        c.get(current).i32_const(LOOKUP_GLOBAL - 1).op(Op.I32_AND).op(Op.I64_EXTEND_I32_U)
        c.i64_const(LOOKUP_FLAGS_SHIFT).op(Op.I64_SHL).op(Op.I64_XOR)
    c.i64_const(LOOKUP_ENTRIES - 1).op(Op.I64_AND).i64_const(4).op(Op.I64_SHL)


def emit_find(
    c: Code,
    push_pc: Callable[[], None],
    entry_address: Callable[[], None],
    entry: int,
    current: int = -1,
    context: int = -1,
) -> None:
    """Leave i32 1 on the stack when the table holds the entry for pc and the current
    context, else 0; the entry's address is left in local `entry`.

    push_pc() pushes the i64 pc; entry_address() turns the i64 byte offset of the
    entry in the table, on the stack, into its address (of the memory's type). In
    system mode, i32 local `current` holds the current context word and `context`
    is an i32 scratch local; user mode has no contexts (both -1).
    """
    emit_entry_offset(c, push_pc, current)
    entry_address()
    c.set(entry)
    # a hit: entry.pc == pc and, in system mode, the entry's context is the current
    # one (flags and ASID) or global with the current flags
    c.get(entry).mem(Op.I64_LOAD)
    push_pc()
    c.op(Op.I64_EQ)
    if current >= 0:
        c.get(entry).mem(Op.I32_LOAD, ENTRY_CONTEXT).tee(context)
        c.get(current).op(Op.I32_EQ)
        c.get(context).get(current).i32_const(LOOKUP_GLOBAL - 1).op(Op.I32_AND)
        c.i32_const(LOOKUP_GLOBAL).op(Op.I32_OR).op(Op.I32_EQ)
        c.op(Op.I32_OR).op(Op.I32_AND)
