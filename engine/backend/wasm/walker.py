"""The TLB refill in WebAssembly: an Sv39/Sv48 page-table walk over guest RAM.

Generated code calls `refill(vaddr, access, mmu)` on a TLB miss, a direct
Wasm-to-Wasm call, and the second-level TB lookup (physical.py) on a fetch
TLB miss. It fills the linear TLB and returns 1 when the walk ends in a RAM
page that grants the access with the A (and, for a write, D) bits already
set; otherwise it returns 0 and the host's slow path takes over:
faults, device memory, A/D updates (which write the PTE) and stores to pages
holding translated code (the bitmap says which) stay in Python, where they
have one implementation.
"""

from __future__ import annotations

from engine.backend.wasm.codegen import FETCH_GLOBAL, FETCH_TAG, Addressing, Layout
from engine.backend.wasm.encoder import Code, Module, Op, ValType

PTE_V, PTE_R, PTE_W, PTE_X, PTE_U, PTE_G, PTE_A, PTE_D = 1, 2, 4, 8, 16, 32, 64, 128
PPN_MASK = (1 << 44) - 1
MXR = 1 << 19
ACCESS_READ, ACCESS_WRITE, ACCESS_EXEC = 0, 1, 2
MMU_U, MMU_S, MMU_M = 0, 1, 3

# Local variable indices: the three parameters, then scratch.
VA, ACCESS, MMU = 0, 1, 2
SATP, LEVEL, TABLE, PTE, PA, READABLE, WRITABLE, SHIFT, PAGE_INDEX = range(3, 12)
EXECUTABLE, GLOBAL = range(12, 14)
LOCALS = [ValType.I64, ValType.I32, ValType.I64, ValType.I64, ValType.I64, ValType.I32,
          ValType.I32, ValType.I64, ValType.I64, ValType.I32, ValType.I64]  # fmt: skip


def _decline(c: Code) -> None:
    c.i32_const(0).op(Op.RETURN)


def add_refill(m: Module, layout: Layout) -> int:
    """Add the refill function to module m; returns its function index.

    It is built for one run, like the dispatcher, so addresses are baked in even
    for a relocatable layout."""
    sm = layout.softmmu
    assert sm is not None
    ram_address = layout.ram_address()
    c = Code()
    a = Addressing(layout, c)

    def state(slot: int) -> None:
        a.state_operand()
        c.mem(Op.I64_LOAD, a.slot_at(slot))

    def linear(value_on_stack_is_i64: bool = True) -> None:
        if not layout.memory64 and value_on_stack_is_i64:
            c.op(Op.I32_WRAP_I64)

    def if_true_decline() -> None:
        c.block(Op.IF)
        _decline(c)
        c.op(Op.END)

    c.i32_const(1).set(READABLE).i32_const(1).set(WRITABLE).i32_const(1).set(EXECUTABLE)
    c.get(VA).set(PA)
    # M-mode (and bare mode) accesses are untranslated: PA = VA.
    c.block()  # $translated: exits to the fill with PA, READABLE, WRITABLE set
    c.get(MMU).i32_const(MMU_M).op(Op.I32_EQ).br(Op.BR_IF, 0)
    state(sm.satp_slot)
    c.tee(SATP).i64_const(60).op(Op.I64_SHR_U).op(Op.I64_EQZ).br(Op.BR_IF, 0)
    # levels - 1: 2 for Sv39 (mode 8), 3 for Sv48 (mode 9); other modes decline
    c.get(SATP).i64_const(60).op(Op.I64_SHR_U).i64_const(8).op(Op.I64_SUB).tee(SHIFT)
    c.i64_const(1).op(Op.I64_GT_U)
    if_true_decline()
    c.get(SHIFT).op(Op.I32_WRAP_I64).i32_const(2).op(Op.I32_ADD).set(LEVEL)
    # The address must be sign-extended from bit 38 (Sv39) or 47 (Sv48).
    c.get(VA).i64_const(20).get(LEVEL).op(Op.I64_EXTEND_I32_U).i64_const(9).op(Op.I64_MUL)
    c.op(Op.I64_ADD).op(Op.I64_SHR_S).i64_const(1).op(Op.I64_ADD).i64_const(1).op(Op.I64_GT_U)
    if_true_decline()
    c.get(SATP).i64_const(PPN_MASK).op(Op.I64_AND).i64_const(12).op(Op.I64_SHL).set(TABLE)
    c.block(Op.LOOP)
    # shift = 12 + 9 * level
    c.i64_const(12).get(LEVEL).op(Op.I64_EXTEND_I32_U).i64_const(9).op(Op.I64_MUL)
    c.op(Op.I64_ADD).set(SHIFT)
    # pte address = table + vpn[level] * 8, which must lie in RAM
    c.get(TABLE).get(VA).get(SHIFT).op(Op.I64_SHR_U).i64_const(0x1FF).op(Op.I64_AND)
    c.i64_const(3).op(Op.I64_SHL).op(Op.I64_ADD).i64_const(sm.ram_base).op(Op.I64_SUB)
    c.tee(PA)
    c.i64_const(sm.ram_size - 8).op(Op.I64_GT_U)
    if_true_decline()
    c.get(PA).i64_const(ram_address).op(Op.I64_ADD)
    if not layout.ram_memory64:
        c.op(Op.I32_WRAP_I64)
    c.mem(Op.I64_LOAD, memory=sm.ram_memory).tee(PTE)
    # invalid, or reserved bits set: let the host raise the fault
    c.i64_const(PTE_V).op(Op.I64_AND).op(Op.I64_EQZ)
    c.get(PTE).i64_const(54).op(Op.I64_SHR_U).op(Op.I64_EQZ).op(Op.I32_EQZ).op(Op.I32_OR)
    if_true_decline()
    # a G bit on a pointer makes every mapping below it global
    c.get(GLOBAL).get(PTE).i64_const(PTE_G).op(Op.I64_AND).op(Op.I64_OR).set(GLOBAL)
    c.get(PTE).i64_const(PTE_R | PTE_X).op(Op.I64_AND).op(Op.I64_EQZ)
    c.block(Op.IF)  # a pointer to the next level
    c.get(LEVEL).op(Op.I32_EQZ)
    c.get(PTE).i64_const(PTE_W | PTE_A | PTE_D | PTE_U).op(Op.I64_AND).op(Op.I64_EQZ)
    c.op(Op.I32_EQZ).op(Op.I32_OR)
    if_true_decline()
    c.get(PTE).i64_const(10).op(Op.I64_SHR_U).i64_const(PPN_MASK).op(Op.I64_AND)
    c.i64_const(12).op(Op.I64_SHL).set(TABLE)
    c.get(LEVEL).i32_const(1).op(Op.I32_SUB).set(LEVEL)
    c.br(Op.BR, 1)  # next level
    c.op(Op.END)
    c.op(Op.END)  # loop: only the pointer case loops, a leaf falls through
    # Leaf. W without R is reserved; A must be set (the host sets it otherwise).
    c.get(PTE).i64_const(PTE_R | PTE_W).op(Op.I64_AND).i64_const(PTE_W).op(Op.I64_EQ)
    c.get(PTE).i64_const(PTE_A).op(Op.I64_AND).op(Op.I64_EQZ).op(Op.I32_OR)
    if_true_decline()
    # A superpage's physical number must be aligned to its size.
    c.get(PTE).i64_const(10).op(Op.I64_SHR_U).i64_const(PPN_MASK).op(Op.I64_AND)
    c.i64_const(12).op(Op.I64_SHL).set(PA)
    c.get(PA).i64_const(1).get(SHIFT).op(Op.I64_SHL).i64_const(1).op(Op.I64_SUB).op(Op.I64_AND)
    c.op(Op.I64_EQZ).op(Op.I32_EQZ)
    if_true_decline()
    # U pages: only U-mode, or S-mode data accesses with SUM; S pages: not U-mode.
    c.get(PTE).i64_const(PTE_U).op(Op.I64_AND).op(Op.I64_EQZ)
    c.block(Op.IF)
    c.get(MMU).i32_const(MMU_U).op(Op.I32_EQ)
    if_true_decline()
    c.op(Op.ELSE)
    c.get(MMU).i32_const(MMU_S).op(Op.I32_EQ)
    if_true_decline()
    c.op(Op.END)
    # readable: R, or X with mstatus.MXR
    c.get(PTE).i64_const(PTE_R).op(Op.I64_AND).op(Op.I64_EQZ).op(Op.I32_EQZ)
    c.get(PTE).i64_const(PTE_X).op(Op.I64_AND).op(Op.I64_EQZ).op(Op.I32_EQZ)
    state(sm.mstatus_slot)
    c.i64_const(MXR).op(Op.I64_AND).op(Op.I64_EQZ).op(Op.I32_EQZ).op(Op.I32_AND)
    c.op(Op.I32_OR).set(READABLE)
    c.get(PTE).i64_const(PTE_X).op(Op.I64_AND).op(Op.I64_EQZ).op(Op.I32_EQZ).set(EXECUTABLE)
    # writable through the TLB: W and D already set
    c.get(PTE).i64_const(PTE_W | PTE_D).op(Op.I64_AND).i64_const(PTE_W | PTE_D).op(Op.I64_EQ)
    c.set(WRITABLE)
    # PA = the 4 KiB page: superpage base plus the virtual offset inside it
    c.get(PA).get(VA).i64_const(1).get(SHIFT).op(Op.I64_SHL).i64_const(1).op(Op.I64_SUB)
    c.op(Op.I64_AND).op(Op.I64_OR).set(PA)
    c.op(Op.END)  # $translated
    # -- fill the entry --------------------------------------------------------------
    c.get(ACCESS).i32_const(ACCESS_WRITE).op(Op.I32_EQ).get(WRITABLE).op(Op.I32_EQZ).op(Op.I32_AND)
    c.get(ACCESS).i32_const(ACCESS_READ).op(Op.I32_EQ).get(READABLE).op(Op.I32_EQZ)
    c.op(Op.I32_AND).op(Op.I32_OR)
    c.get(ACCESS).i32_const(ACCESS_EXEC).op(Op.I32_EQ).get(EXECUTABLE).op(Op.I32_EQZ)
    c.op(Op.I32_AND).op(Op.I32_OR)
    if_true_decline()
    # the page must lie in RAM (device pages never enter the TLB)
    c.get(PA).i64_const(~0xFFF).op(Op.I64_AND).i64_const(sm.ram_base).op(Op.I64_SUB).tee(PA)
    c.i64_const(sm.ram_size - 0x1000).op(Op.I64_GT_U)
    if_true_decline()
    # A page holding translated code is never writable through the TLB.
    c.get(PA).i64_const(12).op(Op.I64_SHR_U).set(PAGE_INDEX)
    c.get(PAGE_INDEX).i64_const(3).op(Op.I64_SHR_U)
    c.i64_const(a.baked(sm.code_bitmap)).op(Op.I64_ADD)
    linear()
    c.mem(Op.I32_LOAD8_U)
    c.get(PAGE_INDEX).op(Op.I32_WRAP_I64).i32_const(7).op(Op.I32_AND).op(Op.I32_SHR_U)
    c.i32_const(1).op(Op.I32_AND)
    c.block(Op.IF)
    c.get(ACCESS).i32_const(ACCESS_WRITE).op(Op.I32_EQ)
    if_true_decline()
    c.i32_const(0).set(WRITABLE)
    c.op(Op.END)
    # entry = tlb_base + (mmu * entries + vpn % entries) * 32
    c.get(MMU).op(Op.I64_EXTEND_I32_U).i64_const(sm.entries).op(Op.I64_MUL)
    c.get(VA).i64_const(12).op(Op.I64_SHR_U).i64_const(sm.entries - 1).op(Op.I64_AND)
    c.op(Op.I64_ADD).i64_const(5).op(Op.I64_SHL)
    c.i64_const(a.baked(sm.tlb_base)).op(Op.I64_ADD)
    c.set(SATP)  # reused: the entry's linear address
    for offset, flag in ((0, READABLE), (8, WRITABLE), (FETCH_TAG, EXECUTABLE)):
        c.get(SATP)
        linear()
        c.get(VA).i64_const(~0xFFF).op(Op.I64_AND)
        if offset == FETCH_TAG:  # it also says whether the mapping is global
            c.i64_const(FETCH_GLOBAL).i64_const(0).get(GLOBAL).op(Op.I32_WRAP_I64)
            c.op(Op.SELECT).op(Op.I64_OR)
        c.i64_const(-1).get(flag).op(Op.SELECT)
        c.mem(Op.I64_STORE, offset)
    c.get(SATP)
    linear()
    c.get(PA).i64_const(ram_address).op(Op.I64_ADD)
    c.get(VA).i64_const(~0xFFF).op(Op.I64_AND).op(Op.I64_SUB)
    c.mem(Op.I64_STORE, 16)
    c.i32_const(1).op(Op.END)
    ty = m.type((ValType.I64, ValType.I32, ValType.I32), (ValType.I32,))
    return m.function(ty, LOCALS, c)
