"""The second level of TB lookup, by physical address, for when the first one misses.

The first level (lookup.py) is tagged by virtual pc and address space. A new
process running the same program, a full fence that drops a page, or two pcs
sharing a direct-mapped slot all miss there, and each miss used to return to
the host, which found the block in its own table keyed by physical address.
This table is that one's copy in linear memory, as QEMU's tb_htable stands
behind its tb_jmp_cache: `find_physical(pc, context) -> slot or -1`
translates pc through the fetch TLB (refilling it with the Wasm page walk)
and looks up (pc, physical address, flags). A TB made from the same guest
bytes at the same virtual pc under the same flags is the same code in every
address space, so entries never need dropping when mappings change: the
translation is checked on every lookup. They are dropped only when their
code is (the page is written, or every TB is discarded).

A physical address is kept as its offset in guest RAM: the TLB addend plus
pc, less where RAM lies in linear memory.

The table is two-way set-associative: hot blocks whose addresses fall in one
set would otherwise keep evicting each other, each time costing a return to
the host. An entry is 16 bytes: pc (i64), RAM offset (i32) and the TB's
funcref table slot (i32); the host puts the block it files last in way 0.

A hit also fills the first level's entry, so the next lookup of that pc stops
there: for the current address space, or for every one when the fetch TLB
says the mapping is global (as WasmJit.set_lookup's callers do). It appends
the entry's offset to a log in linear memory (its length in a state slot)
that the host reads before it drops entries by page or address space
(WasmJit.take_wasm_fills). A full log only stops the filling until the host
next reads it.
"""

from __future__ import annotations

from engine.backend.wasm.codegen import FETCH_GLOBAL, FETCH_TAG, Addressing, Layout
from engine.backend.wasm.encoder import Code, Module, Op, ValType
from engine.backend.wasm.lookup import (
    ENTRY_CONTEXT,
    ENTRY_SLOT,
    LOOKUP_GLOBAL,
    emit_entry_offset,
)
from engine.backend.wasm.walker import ACCESS_EXEC

PHYS_ENTRIES = 1 << 18  # a boot meets about 60,000 blocks: fewer entries collide often
PHYS_ENTRY_BYTES = 16
PHYS_WAYS = 2
PHYS_SETS = PHYS_ENTRIES // PHYS_WAYS
PHYS_SET_BYTES = PHYS_ENTRY_BYTES * PHYS_WAYS
PHYS_BYTES = PHYS_ENTRIES * PHYS_ENTRY_BYTES
# All 7 bits of the flags take part in the set index, so an entry with the RAM
# offset looked for, found in the set the flags chose, was made under those flags.
PHYS_FLAGS_SHIFT = 10
PHYS_OFFSET, PHYS_SLOT = 8, 12  # byte offsets in an entry
FLAGS_MASK = LOOKUP_GLOBAL - 1  # a context word's TB flags
PRIV_MASK = 3  # the flags' privilege, which is the fetch MMU index
NOT_FOUND = -1
LOG_ENTRIES = 1 << 14  # first-level fills the log holds (i32 byte offsets)
LOG_BYTES = LOG_ENTRIES * 4

# Local variable indices: the parameters, then scratch.
PC, CONTEXT, TLB_ENTRY, RAM_OFFSET, ENTRY, SLOT, LOGGED, OFFSET = range(8)


def physical_set(ram_offset: int, flags: int) -> int:
    """The set of the code at `ram_offset` in guest RAM under `flags`."""
    return ((ram_offset >> 1) ^ (flags << PHYS_FLAGS_SHIFT)) & (PHYS_SETS - 1)


def add_find_physical(m: Module, layout: Layout, refill: int) -> int:
    """Add `find_physical(pc: i64, context: i32) -> i32` to module m; returns its index.

    `refill` is the page walk's function index (walker.add_refill). Built for
    one run, like the dispatcher, so addresses are baked in."""
    sm = layout.softmmu
    assert sm is not None
    c = Code()
    a = Addressing(layout, c)
    # The fetch TLB entry: tlb_base + (priv * entries + vpn % entries) * 32
    c.get(CONTEXT).i32_const(PRIV_MASK).op(Op.I32_AND).op(Op.I64_EXTEND_I32_U)
    c.i64_const(sm.entries).op(Op.I64_MUL)
    c.get(PC).i64_const(12).op(Op.I64_SHR_U).i64_const(sm.entries - 1).op(Op.I64_AND)
    c.op(Op.I64_ADD).i64_const(5).op(Op.I64_SHL)
    a.to_address(sm.tlb_base)
    c.tee(TLB_ENTRY).mem(Op.I64_LOAD, FETCH_TAG).i64_const(~FETCH_GLOBAL).op(Op.I64_AND)
    c.get(PC).i64_const(~0xFFF).op(Op.I64_AND).op(Op.I64_NE)
    c.block(Op.IF)  # not cached for fetches: walk, or leave faults and devices to the host
    c.get(PC).i32_const(ACCESS_EXEC)
    c.get(CONTEXT).i32_const(PRIV_MASK).op(Op.I32_AND).call(refill)
    c.op(Op.I32_EQZ).block(Op.IF).i32_const(NOT_FOUND).op(Op.RETURN).op(Op.END)
    c.op(Op.END)
    c.get(TLB_ENTRY).mem(Op.I64_LOAD, 16).get(PC).op(Op.I64_ADD)
    c.i64_const(layout.ram_address()).op(Op.I64_SUB).set(RAM_OFFSET)
    # set = phys_lookup_base + physical_set(ram_offset, flags) * 32
    c.get(RAM_OFFSET).i64_const(1).op(Op.I64_SHR_U)
    c.get(CONTEXT).i32_const(FLAGS_MASK).op(Op.I32_AND).op(Op.I64_EXTEND_I32_U)
    c.i64_const(PHYS_FLAGS_SHIFT).op(Op.I64_SHL).op(Op.I64_XOR)
    c.i64_const(PHYS_SETS - 1).op(Op.I64_AND).i64_const(5).op(Op.I64_SHL)
    a.to_address(sm.phys_lookup_base)
    c.set(ENTRY)
    c.block()  # $found: SLOT holds the block's table slot
    for way in range(PHYS_WAYS):
        at = way * PHYS_ENTRY_BYTES
        c.get(ENTRY).mem(Op.I64_LOAD, at).get(PC).op(Op.I64_EQ)
        c.get(ENTRY).mem(Op.I64_LOAD32_U, at + PHYS_OFFSET).get(RAM_OFFSET).op(Op.I64_EQ)
        c.op(Op.I32_AND).block(Op.IF)
        c.get(ENTRY).mem(Op.I32_LOAD, at + PHYS_SLOT).set(SLOT).br(Op.BR, 1)
        c.op(Op.END)
    c.i32_const(NOT_FOUND).op(Op.RETURN)
    c.op(Op.END)
    _fill_first_level(c, a, layout)
    c.get(SLOT).op(Op.END)
    ty = m.type((ValType.I64, ValType.I32), (ValType.I32,))
    addr_t = layout.addr_type
    locals_ = [addr_t, ValType.I64, addr_t, ValType.I32, ValType.I64, ValType.I64]
    return m.function(ty, locals_, c)


def _fill_first_level(c: Code, a: Addressing, layout: Layout) -> None:
    """If the log has room: the first level's entry for (PC, CONTEXT) = SLOT, logged."""
    sm = layout.softmmu
    assert sm is not None
    a.state_operand()
    c.mem(Op.I64_LOAD, a.slot_at(sm.log_slot)).tee(LOGGED)
    c.i64_const(LOG_ENTRIES).op(Op.I64_LT_U).block(Op.IF)
    emit_entry_offset(c, lambda: c.get(PC), CONTEXT)
    c.tee(OFFSET)
    a.to_address(layout.lookup_base)
    c.set(ENTRY)
    c.get(ENTRY).get(PC).mem(Op.I64_STORE)
    c.get(ENTRY).get(SLOT).mem(Op.I32_STORE, ENTRY_SLOT)
    # under the current context, or as global code when the mapping is global
    c.get(ENTRY)
    c.get(CONTEXT).i32_const(FLAGS_MASK).op(Op.I32_AND).i32_const(LOOKUP_GLOBAL).op(Op.I32_OR)
    c.get(CONTEXT)
    c.get(TLB_ENTRY).mem(Op.I64_LOAD, FETCH_TAG).i64_const(FETCH_GLOBAL).op(Op.I64_AND)
    c.op(Op.I32_WRAP_I64).op(Op.SELECT)
    c.mem(Op.I32_STORE, ENTRY_CONTEXT)
    c.get(LOGGED).i64_const(2).op(Op.I64_SHL)
    a.to_address(sm.lookup_log_base)
    c.get(OFFSET).op(Op.I32_WRAP_I64).mem(Op.I32_STORE)
    a.state_operand()
    c.get(LOGGED).i64_const(1).op(Op.I64_ADD).mem(Op.I64_STORE, a.slot_at(sm.log_slot))
    c.op(Op.END)
