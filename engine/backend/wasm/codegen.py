"""IR translation blocks to WebAssembly functions.

Each TB becomes one function `() -> i32` that returns an `Exit` code with the
next pc stored in the CPU state, exactly like an interpreter-tier TB, except
that an exit to a pc first tail-calls the module's chain function, which may
run the next TBs before the last of them returns (see chain_function). IR
locals become Wasm locals (the engine allocates registers); globals live in
the state in linear memory, at constant offsets, and those a block reads are
held in Wasm locals while it runs (registers.py says when they are stored
back). Forward-only
branches map onto nested blocks opened at the top of the function: the k-th
label to be placed closes the k-th block.

Guest memory accesses check the address against the guest window and, on a
miss, report the access fault for the current instruction and return, which
is what the interpreter's accessors raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.backend.wasm.encoder import Code, Op, ValType
from engine.backend.wasm.lookup import ENTRY_SLOT, emit_find
from engine.backend.wasm.registers import RegisterPlan, call_syncs, fixed_offsets
from engine.ir.core import (
    BINARY_OPS,
    Block,
    Cond,
    Exit,
    ExtKind,
    Helper,
    MemOp,
    Opc,
    Temp,
    Type,
    Value,
)

LOAD_FAULT, STORE_FAULT = 5, 7  # access-fault causes, as the interpreter's accessors raise
FETCH_TAG = 24  # where a TLB entry's fetch tag is (SoftmmuLayout)
FETCH_GLOBAL = 1  # in a TLB entry's fetch tag: the mapping is global


@dataclass(frozen=True)
class SoftmmuLayout:
    """System mode: guest virtual addresses go through a TLB kept in linear memory.

    Entry layout (32 bytes): read tag, write tag, addend, fetch tag. A tag is
    the virtual page address, or all ones when that access is not cached; the
    addend turns a virtual address into a linear-memory address. The fetch
    tag's bit 0 is set when the mapping is global. Fetches use the MMU index
    equal to the privilege (mmu.fetch_mmu_index).
    """

    tlb_base: int  # from Layout.base, like every address here except in RAM's own memory
    entries: int  # per MMU index, a power of two
    flags_slot: int  # state slot holding the current TB flags
    exit_slot: int  # state slot the host sets to stop the dispatcher
    # The second-level TB lookup table (physical.py), the log of the first-level
    # entries it fills, and the state slot holding that log's length.
    phys_lookup_base: int
    lookup_log_base: int
    log_slot: int
    # For the page-table walker in Wasm: guest RAM and where it lies in linear
    # memory, the bitmap of physical pages holding translated code, and the
    # state slots of satp and mstatus.
    ram_base: int = 0
    ram_size: int = 0
    ram_linear: int = 0
    code_bitmap: int = 0
    satp_slot: int = 0
    mstatus_slot: int = 0
    entry_bytes: int = 32
    # Guest RAM in a memory of its own (index 1, its address width given), as
    # under Pyodide, whose 32-bit heap holds the state while RAM is 64-bit; 0
    # when RAM shares memory 0 with everything else.
    ram_memory: int = 0
    ram_memory64: bool = False


@dataclass(frozen=True)
class Layout:
    """Where things are in the linear memory shared by all generated code.

    Positions are offsets from `base`, where the engine's region starts in that
    memory: 0 natively, where each machine has a memory of its own, and a heap
    address under Pyodide. A relocatable layout's TB functions read `base` from
    an imported global instead of having it baked in, so a module kept by the
    translation cache stays valid when the region lands elsewhere next run.
    """

    memory64: bool
    state_base: int  # offset of state slot 0
    guest_base: int  # offset of guest address 0 (user mode)
    guest_low: int  # lowest guest address that may be accessed
    guest_high: int  # end of the accessible guest addresses
    pc_slot: int
    cause_slot: int
    tval_slot: int
    budget_slot: int  # TBs the dispatcher may still run (loop iterations count)
    epoch_slot: int  # changes when lookup entries are dropped (see WasmJit.forget_*)
    lookup_base: int  # offset of the TB lookup table (engine/backend/wasm/lookup.py)
    softmmu: SoftmmuLayout | None = None
    base: int = 0
    relocatable: bool = False

    def slot_offset(self, slot: int) -> int:
        """Where state slot `slot` is, from `base`."""
        return self.state_base + slot * 8

    def ram_address(self) -> int:
        """Where guest RAM's first byte is in the memory holding it."""
        sm = self.softmmu
        assert sm is not None
        return sm.ram_linear + (0 if sm.ram_memory else self.base)

    @property
    def addr_type(self) -> ValType:
        return ValType.I64 if self.memory64 else ValType.I32

    @property
    def ram_memory64(self) -> bool:
        """Whether addresses into guest RAM (TLB addend results) are i64."""
        sm = self.softmmu
        return sm.ram_memory64 if sm is not None and sm.ram_memory else self.memory64


_WASM_TYPE = {Type.I32: ValType.I32, Type.I64: ValType.I64}

_BIN = {
    Type.I64: {
        Opc.ADD: Op.I64_ADD, Opc.SUB: Op.I64_SUB, Opc.MUL: Op.I64_MUL, Opc.DIV: Op.I64_DIV_S,
        Opc.DIVU: Op.I64_DIV_U, Opc.REM: Op.I64_REM_S, Opc.REMU: Op.I64_REM_U,
        Opc.AND: Op.I64_AND, Opc.OR: Op.I64_OR, Opc.XOR: Op.I64_XOR, Opc.SHL: Op.I64_SHL,
        Opc.SHR: Op.I64_SHR_U, Opc.SAR: Op.I64_SHR_S,
    },
    Type.I32: {
        Opc.ADD: Op.I32_ADD, Opc.SUB: Op.I32_SUB, Opc.MUL: Op.I32_MUL, Opc.DIV: Op.I32_DIV_S,
        Opc.DIVU: Op.I32_DIV_U, Opc.REM: Op.I32_REM_S, Opc.REMU: Op.I32_REM_U,
        Opc.AND: Op.I32_AND, Opc.OR: Op.I32_OR, Opc.XOR: Op.I32_XOR, Opc.SHL: Op.I32_SHL,
        Opc.SHR: Op.I32_SHR_U, Opc.SAR: Op.I32_SHR_S,
    },
}  # fmt: skip

_CMP = {
    Type.I64: {
        Cond.EQ: Op.I64_EQ, Cond.NE: Op.I64_NE, Cond.LT: Op.I64_LT_S, Cond.GE: Op.I64_GE_S,
        Cond.LE: Op.I64_LE_S, Cond.GT: Op.I64_GT_S, Cond.LTU: Op.I64_LT_U,
        Cond.GEU: Op.I64_GE_U, Cond.LEU: Op.I64_LE_U, Cond.GTU: Op.I64_GT_U,
    },
    Type.I32: {
        Cond.EQ: Op.I32_EQ, Cond.NE: Op.I32_NE, Cond.LT: Op.I32_LT_S, Cond.GE: Op.I32_GE_S,
        Cond.LE: Op.I32_LE_S, Cond.GT: Op.I32_GT_S, Cond.LTU: Op.I32_LT_U,
        Cond.GEU: Op.I32_GE_U, Cond.LEU: Op.I32_LE_U, Cond.GTU: Op.I32_GT_U,
    },
}  # fmt: skip

_LOAD = {
    MemOp.SIZE_8: Op.I64_LOAD8_U, MemOp.SIZE_8 | MemOp.SIGN: Op.I64_LOAD8_S,
    MemOp.SIZE_16: Op.I64_LOAD16_U, MemOp.SIZE_16 | MemOp.SIGN: Op.I64_LOAD16_S,
    MemOp.SIZE_32: Op.I64_LOAD32_U, MemOp.SIZE_32 | MemOp.SIGN: Op.I64_LOAD32_S,
    MemOp.SIZE_64: Op.I64_LOAD, MemOp.SIZE_64 | MemOp.SIGN: Op.I64_LOAD,
}  # fmt: skip
_STORE = {
    MemOp.SIZE_8: Op.I64_STORE8, MemOp.SIZE_16: Op.I64_STORE16,
    MemOp.SIZE_32: Op.I64_STORE32, MemOp.SIZE_64: Op.I64_STORE,
}  # fmt: skip
# Every memop an LD or ST can carry, to the memop its load or store is chosen
# by: the frontend checks alignment in the IR before an access that needs it
# (atomics), and a store has no sign.
_WITHOUT_ALIGN = {m: MemOp(m & ~MemOp.ALIGN) for m in map(MemOp, range(16))}
_SIZE_ONLY = {m: MemOp(m & 3) for m in map(MemOp, range(16))}


LINK_GUARD = (-1, 0, 0)  # SupportFunctions.misses' key for the link guard


class SupportFunctions:
    """Indices of functions the code calls besides helpers: the 64-bit high multiplies
    Wasm lacks, and (system mode) the softmmu slow paths imported from the host; and
    of the imported i32 global holding Layout.base, for a relocatable layout; and of
    the module's chain function; and of the TLB miss functions (`miss`), which follow
    the TB functions from index `misses_from`."""

    def __init__(
        self, muluh: int, mulsh: int, mulsuh: int, slow_load: int = -1, slow_store: int = -1,
        refill: int = -1, base_global: int = -1, chain: int = -1, misses_from: int = -1,
    ) -> None:  # fmt: skip
        self.muluh, self.mulsh, self.mulsuh = muluh, mulsh, mulsuh
        self.slow_load, self.slow_store, self.refill = slow_load, slow_store, refill
        self.base_global = base_global
        self.chain = chain  # chain_function's: every exit to a pc tail-calls it
        self.misses_from = misses_from
        # (access, memop, mmu) of each miss function asked for, in index order.
        self.misses: dict[tuple[int, int, int], int] = {}

    def link_guard(self) -> int:
        """The index of the module's link_guard_function, made after the TB functions
        (numbered with the miss functions) once a TB calls another directly."""
        index = self.misses.get(LINK_GUARD)
        if index is None:
            index = self.misses[LINK_GUARD] = self.misses_from + len(self.misses)
        return index

    def miss(self, access: int, memop: MemOp, mmu: int) -> int:
        """The index of the module's miss function for this kind of access, made once
        per module (softmmu_miss_function) however many accesses call it."""
        kind = (access, int(memop), mmu)
        index = self.misses.get(kind)
        if index is None:
            index = self.misses[kind] = self.misses_from + len(self.misses)
        return index


def _muluh_body() -> Code:
    """High 64 bits of an unsigned 64x64 product, from four 32x32 partial products."""
    c = Code()
    a, b, lo_lo, lo_hi, hi_lo, mid = 0, 1, 2, 3, 4, 5

    def half(reg: int, high: bool) -> None:
        c.get(reg)
        if high:
            c.i64_const(32).op(Op.I64_SHR_U)
        else:
            c.i64_const(0xFFFF_FFFF).op(Op.I64_AND)

    half(a, False), half(b, False), c.op(Op.I64_MUL).set(lo_lo)
    half(a, False), half(b, True), c.op(Op.I64_MUL).set(lo_hi)
    half(a, True), half(b, False), c.op(Op.I64_MUL).set(hi_lo)
    # mid = (lo_lo >> 32) + low32(lo_hi) + low32(hi_lo): at most 3 * 2^32, no overflow
    c.get(lo_lo).i64_const(32).op(Op.I64_SHR_U)
    c.get(lo_hi).i64_const(0xFFFF_FFFF).op(Op.I64_AND).op(Op.I64_ADD)
    c.get(hi_lo).i64_const(0xFFFF_FFFF).op(Op.I64_AND).op(Op.I64_ADD).set(mid)
    half(a, True), half(b, True), c.op(Op.I64_MUL)
    c.get(lo_hi).i64_const(32).op(Op.I64_SHR_U).op(Op.I64_ADD)
    c.get(hi_lo).i64_const(32).op(Op.I64_SHR_U).op(Op.I64_ADD)
    c.get(mid).i64_const(32).op(Op.I64_SHR_U).op(Op.I64_ADD)
    return c.op(Op.END)


def _signed_high_body(muluh: int, b_signed: bool) -> Code:
    """mulsh = muluh - (a<0 ? b : 0) - (b<0 ? a : 0); mulsuh drops the second term."""
    c = Code()
    c.get(0).get(1).call(muluh)
    c.get(1).get(0).i64_const(63).op(Op.I64_SHR_S).op(Op.I64_AND).op(Op.I64_SUB)
    if b_signed:
        c.get(0).get(1).i64_const(63).op(Op.I64_SHR_S).op(Op.I64_AND).op(Op.I64_SUB)
    return c.op(Op.END)


SUPPORT_LOCALS = {"muluh": [ValType.I64] * 4, "mulsh": [], "mulsuh": []}


def support_bodies(muluh_index: int) -> dict[str, Code]:
    return {
        "muluh": _muluh_body(),
        "mulsh": _signed_high_body(muluh_index, True),
        "mulsuh": _signed_high_body(muluh_index, False),
    }


class Addressing:
    """Where a generated function finds the state and tables: from the base it reads
    once at entry from the imported global `base_global` into local `base`, or at
    constants with Layout.base baked in when it has no such local. Code kept across
    runs needs the local in a relocatable layout; code built for one run (the
    dispatcher, the page-table walker) goes without and gets constants."""

    def __init__(self, layout: Layout, code: Code, base: int = -1, base_global: int = -1) -> None:
        self.layout, self.code, self.base, self.base_global = layout, code, base, base_global

    def load_base(self) -> None:
        """Read Layout.base into its local, once at entry."""
        c = self.code
        c.global_get(self.base_global)
        if self.layout.memory64:
            c.op(Op.I64_EXTEND_I32_U)
        c.set(self.base)

    def state_operand(self) -> None:
        """Push the address operand of a state access; its static offset is state_at()."""
        if self.base >= 0:
            self.code.get(self.base)
        elif self.layout.memory64:
            self.code.i64_const(0)
        else:
            self.code.i32_const(0)

    def state_at(self, offset: int) -> int:
        """The static offset of a state access `offset` bytes from slot 0."""
        return self.baked(self.layout.state_base + offset)

    def slot_at(self, slot: int) -> int:
        return self.state_at(slot * 8)

    def add_base(self) -> None:
        """Turn the offset from Layout.base on the stack into an address (adding the
        base read at entry; without it the base is in the constants already)."""
        if self.base >= 0:
            self.code.get(self.base).op(Op.I64_ADD if self.layout.memory64 else Op.I32_ADD)

    def baked(self, offset: int) -> int:
        """A constant offset from Layout.base, with the base included unless read at entry."""
        return offset if self.base >= 0 else offset + self.layout.base

    def to_address(self, offset: int) -> None:
        """Turn the i64 on the stack, bytes into the thing at `offset` from Layout.base,
        into an address of the memory's type."""
        c = self.code
        c.i64_const(self.baked(offset)).op(Op.I64_ADD)
        if not self.layout.memory64:
            c.op(Op.I32_WRAP_I64)
        self.add_base()

    # -- the dispatcher's budget, which chains and loops in generated code spend too ----
    def budget_after_one(self, left: int) -> None:
        """Put the budget less one TB in i64 local `left`; push i32 `left > 0`."""
        c = self.code
        self.state_operand()
        c.mem(Op.I64_LOAD, self.slot_at(self.layout.budget_slot))
        c.i64_const(1).op(Op.I64_SUB).tee(left).i64_const(0).op(Op.I64_GT_S)

    def store_budget(self, left: int) -> None:
        self.state_operand()
        self.code.get(left).mem(Op.I64_STORE, self.slot_at(self.layout.budget_slot))

    def and_no_exit_request(self) -> None:
        """In system mode, AND the i32 on the stack with "the host asked for no exit"."""
        sm = self.layout.softmmu
        if sm is not None:
            self.state_operand()
            self.code.mem(Op.I64_LOAD, self.slot_at(sm.exit_slot)).op(Op.I64_EQZ)
            self.code.op(Op.I32_AND)


def chain_function(
    layout: Layout, base_global: int, tb_type: int, find_physical: int = -1
) -> tuple[list[ValType], Code]:
    """`chain(pc) -> i32`, what a TB exit to `pc` tail-calls: store pc as the next pc,
    then call its TB straight away, a tail call again, when the dispatcher would have
    called it next; else return Exit.NEXT to the dispatcher.

    That is while the dispatcher's budget lasts (the chained TB counts against it)
    and, in system mode, the host has not asked for an exit. The TB is found in the
    lookup tables exactly as the dispatcher finds it (the first level, then in
    system mode the function `find_physical` imports from physical.py), so dropped
    entries (changed code, a new address space) stop chains as they stop the
    dispatcher. One copy per module keeps each exit to a few bytes of code to compile.
    """
    pc, budget_left, entry, current, context, slot = 0, 1, 2, 3, 4, 5
    locals_ = [ValType.I64, layout.addr_type, ValType.I32, ValType.I32, ValType.I32]
    base = -1
    if layout.relocatable:
        base = len(locals_) + 1
        locals_.append(layout.addr_type)
    sm, c = layout.softmmu, Code()
    a = Addressing(layout, c, base, base_global)
    if base >= 0:
        a.load_base()
    a.state_operand()
    c.get(pc).mem(Op.I64_STORE, a.slot_at(layout.pc_slot))
    a.budget_after_one(budget_left)
    a.and_no_exit_request()
    c.block(Op.IF)
    found: tuple[int, ...] = ()
    if sm is not None:
        a.state_operand()
        c.mem(Op.I32_LOAD, a.slot_at(sm.flags_slot)).set(current)
        found = (current, context)
    emit_find(c, lambda: c.get(pc), lambda: a.to_address(layout.lookup_base), entry, *found)
    c.block(Op.IF)
    a.store_budget(budget_left)
    c.get(entry).mem(Op.I32_LOAD, ENTRY_SLOT).call_indirect(tb_type, tail=True)
    c.op(Op.END)
    if find_physical >= 0:
        c.get(pc).get(current).call(find_physical).tee(slot)
        c.i32_const(0).op(Op.I32_GE_S).block(Op.IF)
        a.store_budget(budget_left)
        c.get(slot).call_indirect(tb_type, tail=True)
        c.op(Op.END)
    c.op(Op.END)
    c.i32_const(Exit.NEXT).op(Op.END)
    return locals_, c


def link_guard_function(layout: Layout, base_global: int) -> tuple[list[ValType], Code]:
    """`guard(entry_epoch) -> i32`: whether a TB entered at `entry_epoch` may call the
    next TB directly (FunctionCompiler.call_linked), spending one TB of the budget if
    so: while the budget lasts, no lookup entry was dropped since (the epoch is the
    same) and, in system mode, the host has not asked for an exit. One copy per
    module keeps each direct exit to a few bytes."""
    entry_epoch, left = 0, 1
    locals_ = [ValType.I64]
    base = -1
    if layout.relocatable:
        base = len(locals_) + 1
        locals_.append(layout.addr_type)
    c = Code()
    a = Addressing(layout, c, base, base_global)
    if base >= 0:
        a.load_base()
    a.budget_after_one(left)
    a.state_operand()
    c.mem(Op.I64_LOAD, a.slot_at(layout.epoch_slot)).get(entry_epoch)
    c.op(Op.I64_EQ).op(Op.I32_AND)
    a.and_no_exit_request()
    c.block(Op.IF)
    a.store_budget(left)
    c.i32_const(1).op(Op.RETURN)
    c.op(Op.END)
    c.i32_const(0).op(Op.END)
    return locals_, c


def push_ram_address(c: Code, layout: Layout, addr: int, entry: int) -> None:
    """Push where guest address `addr` (an i64 local) is in RAM's memory, by the TLB
    entry at the address in local `entry`, which matched it."""
    c.get(addr).get(entry).mem(Op.I64_LOAD, 16).op(Op.I64_ADD)
    if not layout.ram_memory64:
        c.op(Op.I32_WRAP_I64)


def softmmu_miss_function(
    layout: Layout, support: SupportFunctions, access: int, memop: MemOp, mmu: int
) -> tuple[list[ValType], Code]:
    """What a guest load (access 0) or store (1) does when its TLB entry does not match:
    the Wasm page walk may fill the entry, then the access goes to RAM as on a hit;
    otherwise (a page crossing, a fault, a device) the host's slow path does it.

    Load: (addr, entry, pc) -> value; store: (addr, entry, value, pc), where entry is
    the address of the TLB entry the access indexed (the walk fills that very entry).
    One per kind per module: inline, this path was two thirds of every access site's
    code, all of it for Cranelift and V8 to compile and little of it ever run.
    """
    addr, entry, value = 0, 1, 2
    pc = 3 if access else 2
    c, ram = Code(), layout.softmmu.ram_memory
    c.get(addr).i64_const(0xFFF).op(Op.I64_AND)
    c.i64_const(0x1000 - memop.size).op(Op.I64_LE_U)  # only the host splits a page crossing
    c.block(Op.IF, ValType.I32)
    c.get(addr).i32_const(access).i32_const(mmu).call(support.refill)
    c.op(Op.ELSE).i32_const(0).op(Op.END)
    c.block(Op.IF)
    push_ram_address(c, layout, addr, entry)
    if access:
        c.get(value).mem(_STORE[memop], 0, memory=ram)
    else:
        c.mem(_LOAD[memop], 0, memory=ram)
    c.op(Op.RETURN).op(Op.END)
    c.get(addr)
    if access:
        c.get(value)
    c.i64_const(int(memop)).i64_const(mmu).get(pc)
    c.call(support.slow_store if access else support.slow_load)
    return [], c.op(Op.END)


class FunctionCompiler(Addressing):
    """Emits the body of one TB function."""

    def __init__(
        self,
        block: Block,
        layout: Layout,
        helpers: dict[Helper, int],
        support: SupportFunctions,
        linked: dict[int, int] | None = None,
    ) -> None:
        self.block = block
        self.helpers = helpers
        self.support = support
        self.locals: list[ValType] = [_WASM_TYPE[t.type] for t in block.temps]
        self.scratch_addr = self._new_local(ValType.I64)
        self.scratch_entry = self._new_local(layout.addr_type)
        self.scratch_value = self._new_local(ValType.I64)
        base = self._new_local(layout.addr_type) if layout.relocatable else -1
        super().__init__(layout, Code(), base, support.base_global)
        self.insn_pc = block.pc
        # A TB that jumps back to its own start (a loop of one block) loops in Wasm
        # instead of returning to the dispatcher to be looked up and called again.
        targets = [op.args[0] for op in block.ops if op.opc == Opc.GOTO_TB]
        self.loops = block.pc in targets
        # Exits to a TB of the same module that the caller vouched for (linked:
        # pc -> function index) call it directly while nothing was dropped.
        self.linked = {pc: f for pc, f in (linked or {}).items() if pc in targets}
        self.entry_epoch = self._new_local(ValType.I64) if self.loops or self.linked else -1
        self.open_labels = 0  # label blocks open around the op being emitted
        plan = RegisterPlan(block, fixed_offsets(layout), self.loops)
        self.register = {offset: self._new_local(ValType.I64) for offset in plan.cached}
        # The cached globals written by ops emitted so far: control reaching an op has
        # run only ops before it (branches go forward), so these are all a store-back
        # there needs. Round a loop of one block, any of them may have been written.
        self.dirty: set[int] = set(plan.written) if self.loops else set()

    def _new_local(self, t: ValType) -> int:
        self.locals.append(t)
        return len(self.locals) - 1

    # -- values -------------------------------------------------------------------------
    def push(self, v: Value, type: Type = Type.I64) -> None:
        c = self.code
        if v.__class__ is Temp:
            if not v.is_global:
                c.get(v.index)
            elif v.offset in self.register:
                c.get(self.register[v.offset])
            else:
                self.state_operand()
                c.mem(Op.I64_LOAD, self.state_at(v.offset))
        elif type == Type.I32:
            c.i32_const(v)
        else:
            c.i64_const(v)

    def begin_store(self, dst: Temp) -> None:
        """Uncached globals are stores: their address goes below the value on the stack."""
        if dst.is_global and dst.offset not in self.register:
            self.state_operand()

    def end_store(self, dst: Temp) -> None:
        if not dst.is_global:
            self.code.set(dst.index)
        elif dst.offset in self.register:
            self.code.set(self.register[dst.offset])
            self.dirty.add(dst.offset)
        else:
            self.code.mem(Op.I64_STORE, self.state_at(dst.offset))

    def store_registers(self) -> None:
        """Write the cached globals written so far back to the state (see registers.py)."""
        for offset in sorted(self.dirty):
            self.state_operand()
            self.code.get(self.register[offset]).mem(Op.I64_STORE, self.state_at(offset))

    def load_registers(self) -> None:
        """(Re)load every cached global from the state."""
        for offset, local in self.register.items():
            self.state_operand()
            self.code.mem(Op.I64_LOAD, self.state_at(offset)).set(local)

    def store_state(self, slot: int, value: Value) -> None:
        self.state_operand()
        self.push(value)
        self.code.mem(Op.I64_STORE, self.slot_at(slot))

    def compare(self, cond: Cond, a: Value, b: Value) -> None:
        """Push the i32 truth value of (a cond b)."""
        type = next((v.type for v in (a, b) if isinstance(v, Temp)), Type.I64)
        self.push(a, type)
        self.push(b, type)
        self.code.op(_CMP[type][cond])

    # -- guest memory -----------------------------------------------------------------------
    def guest_address(self, addr: Value, size: int, cause: int) -> None:
        """Check [addr, addr+size) is inside the guest window; push its linear address."""
        lay, c, tmp = self.layout, self.code, self.scratch_addr
        self.push(addr)
        c.tee(tmp)
        c.i64_const(lay.guest_low).op(Op.I64_SUB)
        c.i64_const(lay.guest_high - lay.guest_low - size).op(Op.I64_GT_U)
        c.block(Op.IF)
        self.store_registers()
        self.store_state(lay.pc_slot, self.insn_pc)
        self.store_state(lay.cause_slot, cause)
        self.state_operand()
        c.get(tmp).mem(Op.I64_STORE, self.slot_at(lay.tval_slot))
        c.i32_const(Exit.EXCEPTION).op(Op.RETURN)
        c.op(Op.END)
        c.get(tmp)
        if not lay.memory64:
            c.op(Op.I32_WRAP_I64)
        self.add_base()

    # -- ops ----------------------------------------------------------------------------------
    def compile(self) -> tuple[list[ValType], Code]:
        block, c, lay = self.block, self.code, self.layout
        order = [op.args[0].index for op in block.ops if op.opc == Opc.LABEL]
        position = {label: k for k, label in enumerate(order)}
        if self.base >= 0:
            self.load_base()
        self.load_registers()
        if self.entry_epoch >= 0:
            self.state_operand()
            c.mem(Op.I64_LOAD, self.slot_at(lay.epoch_slot)).set(self.entry_epoch)
        if self.loops:
            c.block(Op.LOOP)
        for _ in order:
            c.block()
        placed = 0
        for op in block.ops:
            opc, args = op.opc, op.args
            if opc == Opc.LABEL:
                c.op(Op.END)
                placed += 1
            elif opc == Opc.BR:
                c.br(Op.BR, position[args[0].index] - placed)
            elif opc == Opc.BRCOND:
                cond, a, b, label = args
                self.compare(cond, a, b)
                c.br(Op.BR_IF, position[label.index] - placed)
            elif opc == Opc.INSN_START:  # a quarter of all ops: kept out of emit's chain
                self.insn_pc = args[0]
            else:
                self.open_labels = len(order) - placed
                self.emit(op)
        if self.loops:
            c.op(Op.END)
        c.op(Op.UNREACHABLE).op(Op.END)
        return self.locals, c

    def loop_back(self) -> None:
        """At a jump to the TB's own start: go round again inside Wasm while the
        dispatcher would have chosen this TB anyway, else fall through to a normal exit.

        Going round counts one TB against the dispatcher's budget. It stops when the
        budget is spent, when the host dropped lookup entries since the TB was entered
        (its own entry may be one: its code was overwritten, or its page unmapped) and,
        in system mode, when the host asked for an exit (an interrupt, a changed mode).
        """
        c = self.code
        self.budget_after_one(self.scratch_value)
        self.store_budget(self.scratch_value)
        self.state_operand()
        c.mem(Op.I64_LOAD, self.slot_at(self.layout.epoch_slot)).get(self.entry_epoch)
        c.op(Op.I64_EQ).op(Op.I32_AND)
        self.and_no_exit_request()
        c.br(Op.BR_IF, self.open_labels)

    def call_linked(self, func: int) -> None:
        """At an exit to a TB of this module on the same page: tail-call its function
        directly, skipping the chain function's lookup, while the dispatcher would have
        chosen it anyway (the conditions of loop_back); else fall through to the exit.

        The lookup is what a chain spends most of its time on (two cache misses,
        docs/performance.md). Skipping it is sound because the target was translated
        from the same physical page under the same flags as this TB, which was itself
        valid when entered: the caller vouches for that (SystemCpu's link checks), and
        anything that could change it since drops lookup entries, changing the epoch.
        """
        c = self.code
        c.get(self.entry_epoch).call(self.support.link_guard())
        c.block(Op.IF).call(func, tail=True).op(Op.END)

    def emit(self, op) -> None:
        opc, args, c = op.opc, op.args, self.code
        if opc in BINARY_OPS:
            d, a, b = args
            t = d.type
            self.begin_store(d)
            if opc in (Opc.MULSH, Opc.MULUH, Opc.MULSUH):
                self._mul_high(opc, a, b, t)
            else:
                self.push(a, t)
                self.push(b, t)
                c.op(_BIN[t][opc])
            self.end_store(d)
        elif opc == Opc.MOV:
            d, a = args
            self.begin_store(d)
            self.push(a, d.type)
            self.end_store(d)
        elif opc in (Opc.NEG, Opc.NOT):
            d, a = args
            t = d.type
            self.begin_store(d)
            if opc == Opc.NEG:
                self.push(0, t)
                self.push(a, t)
                c.op(Op.I64_SUB if t == Type.I64 else Op.I32_SUB)
            else:
                self.push(a, t)
                self.push(-1, t)
                c.op(Op.I64_XOR if t == Type.I64 else Op.I32_XOR)
            self.end_store(d)
        elif opc == Opc.EXT:
            d, a, kind = args
            self.begin_store(d)
            self.push(a)
            if kind == ExtKind.S8:
                c.op(Op.I64_EXTEND8_S)
            elif kind == ExtKind.S16:
                c.op(Op.I64_EXTEND16_S)
            elif kind == ExtKind.S32:
                c.op(Op.I64_EXTEND32_S)
            else:
                mask = {ExtKind.U8: 0xFF, ExtKind.U16: 0xFFFF, ExtKind.U32: 0xFFFF_FFFF}[kind]
                c.i64_const(mask).op(Op.I64_AND)
            self.end_store(d)
        elif opc in (Opc.EXTU_I32_I64, Opc.EXTS_I32_I64, Opc.TRUNC_I64_I32):
            d, a = args
            self.begin_store(d)
            if opc == Opc.TRUNC_I64_I32:
                self.push(a)
                c.op(Op.I32_WRAP_I64)
            else:
                self.push(a, Type.I32)
                c.op(Op.I64_EXTEND_I32_U if opc == Opc.EXTU_I32_I64 else Op.I64_EXTEND_I32_S)
            self.end_store(d)
        elif opc == Opc.SETCOND:
            d, cond, a, b = args
            self.begin_store(d)
            self.compare(cond, a, b)
            if d.type == Type.I64:
                c.op(Op.I64_EXTEND_I32_U)
            self.end_store(d)
        elif opc == Opc.MOVCOND:
            d, cond, a, b, vt, vf = args
            self.begin_store(d)
            self.push(vt, d.type)
            self.push(vf, d.type)
            self.compare(cond, a, b)
            c.op(Op.SELECT)
            self.end_store(d)
        elif opc == Opc.LD and self.layout.softmmu is not None:
            d, addr, memop, mmu = args
            self.begin_store(d)
            self.softmmu_load(addr, _WITHOUT_ALIGN[memop], mmu)
            self.end_store(d)
        elif opc == Opc.ST and self.layout.softmmu is not None:
            v, addr, memop, mmu = args
            self.softmmu_store(v, addr, _SIZE_ONLY[memop], mmu)
        elif opc == Opc.LD:
            d, addr, memop, _mmu = args
            memop = _WITHOUT_ALIGN[memop]
            # A global's store address sits below the value; the bounds check
            # may return early, which discards it.
            self.begin_store(d)
            self.guest_address(addr, memop.size, LOAD_FAULT)
            c.mem(_LOAD[memop], self.baked(self.layout.guest_base))
            self.end_store(d)
        elif opc == Opc.ST:
            v, addr, memop, _mmu = args
            memop = _SIZE_ONLY[memop]
            self.guest_address(addr, memop.size, STORE_FAULT)
            self.push(v)
            c.mem(_STORE[memop], self.baked(self.layout.guest_base))
        elif opc == Opc.CALL:
            helper, d = args[0], args[1]
            store_before, load_after = call_syncs(helper)
            if store_before:
                self.store_registers()
            if d is not None:
                self.begin_store(d)
            for a in args[2:]:
                self.push(a)
            c.call(self.helpers[helper])
            if load_after:
                self.load_registers()
            if d is not None:
                self.end_store(d)
        elif opc == Opc.GOTO_TB or opc == Opc.GOTO_PTR:
            if opc == Opc.GOTO_TB and args[0] == self.block.pc:  # a loop of one block
                self.loop_back()
            self.store_registers()
            if opc == Opc.GOTO_TB and args[0] in self.linked:
                self.call_linked(self.linked[args[0]])
            self.push(args[0])
            c.call(self.support.chain, tail=True)
        elif opc == Opc.EXIT:
            self.store_registers()
            c.i32_const(int(args[0])).op(Op.RETURN)
        else:
            raise ValueError(f"Wasm codegen cannot compile {op!r}")

    # -- softmmu (system mode) ---------------------------------------------------------
    def _tlb_lookup(self, addr: Value, size: int, mmu: int, tag_offset: int) -> None:
        """Leave the i32 "TLB hit" condition on the stack; the address is in scratch_addr.

        The entry is chosen by the page of the first byte but compared with the
        page of the last, so an access crossing a page misses and takes the
        slow path; misaligned accesses within a page stay on the fast path
        (Wasm loads and stores need no alignment).
        """
        c, sm = self.code, self.layout.softmmu
        a, e = self.scratch_addr, self.scratch_entry
        self.push(addr)
        c.tee(a)
        c.i64_const(12).op(Op.I64_SHR_U).i64_const(sm.entries - 1).op(Op.I64_AND)
        c.i64_const(5).op(Op.I64_SHL)
        self.to_address(sm.tlb_base + mmu * sm.entries * sm.entry_bytes)
        c.tee(e)
        c.mem(Op.I64_LOAD, tag_offset)
        c.get(a)
        if size > 1:
            c.i64_const(size - 1).op(Op.I64_ADD)
        c.i64_const(~0xFFF).op(Op.I64_AND)
        c.op(Op.I64_EQ)

    def _tlb_host_address(self) -> None:
        push_ram_address(self.code, self.layout, self.scratch_addr, self.scratch_entry)

    def softmmu_load(self, addr: Value, memop: MemOp, mmu: int) -> None:
        c = self.code
        self._tlb_lookup(addr, memop.size, mmu, 0)
        c.block(Op.IF, ValType.I64)
        self._tlb_host_address()
        c.mem(_LOAD[memop], 0, memory=self.layout.softmmu.ram_memory)
        c.op(Op.ELSE)
        self._miss(0, memop, mmu)
        c.op(Op.END)

    def _miss(self, access: int, memop: MemOp, mmu: int) -> None:
        """Call the module's miss function (softmmu_miss_function) for this access.

        The host's slow path it may end in can raise (a fault handler reads the
        state) or reach a device, so the registers written so far go to the state
        first. It never writes a guest register, so the locals stay valid after it:
        reloading them at every access site made modules a fifth larger."""
        c = self.code
        self.store_registers()
        c.get(self.scratch_addr).get(self.scratch_entry)
        if access:
            c.get(self.scratch_value)
        c.i64_const(self.insn_pc).call(self.support.miss(access, memop, mmu))

    def softmmu_store(self, value: Value, addr: Value, memop: MemOp, mmu: int) -> None:
        c = self.code
        self.push(value)
        c.set(self.scratch_value)
        self._tlb_lookup(addr, memop.size, mmu, 8)
        c.block(Op.IF)
        self._tlb_host_address()
        c.get(self.scratch_value)
        c.mem(_STORE[memop], 0, memory=self.layout.softmmu.ram_memory)
        c.op(Op.ELSE)
        self._miss(1, memop, mmu)
        c.op(Op.END)

    def _mul_high(self, opc: Opc, a: Value, b: Value, t: Type) -> None:
        c = self.code
        if t == Type.I64:
            self.push(a)
            self.push(b)
            fn = {Opc.MULUH: self.support.muluh, Opc.MULSH: self.support.mulsh}.get(opc)
            c.call(self.support.mulsuh if fn is None else fn)
            return
        # 32-bit high products fit a 64-bit multiply.
        ext_a = Op.I64_EXTEND_I32_U if opc == Opc.MULUH else Op.I64_EXTEND_I32_S
        ext_b = Op.I64_EXTEND_I32_S if opc == Opc.MULSH else Op.I64_EXTEND_I32_U
        self.push(a, Type.I32)
        c.op(ext_a)
        self.push(b, Type.I32)
        c.op(ext_b)
        c.op(Op.I64_MUL).i64_const(32).op(Op.I64_SHR_U).op(Op.I32_WRAP_I64)
