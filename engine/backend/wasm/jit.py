"""The Wasm tier: batches of TBs compiled into modules, and the dispatcher that runs them.

All generated modules import one linear memory (guest RAM, CPU state, the TB
lookup table), or two when guest RAM has a memory of its own, and one
funcref table. A batch of TBs becomes one module whose element segment
places its functions at fresh table slots when it is instantiated, so no
per-function table writes cross the host boundary.

The dispatcher, generated once, loops in Wasm: read pc, find its TB in the
lookup table (a direct-mapped cache in linear memory that the host fills),
call it through the table, and return to the host only for a lookup miss, an
exception, or when the budget of TB executions runs out.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from engine.backend.wasm.codegen import (
    LINK_GUARD,
    SUPPORT_LOCALS,
    Addressing,
    FunctionCompiler,
    Layout,
    SupportFunctions,
    chain_function,
    link_guard_function,
    softmmu_miss_function,
    support_bodies,
)
from engine.backend.wasm.encoder import Code, Module, Op, ValType
from engine.backend.wasm.lookup import (
    ENTRY_SLOT,
    INVALID_PC,
    LOOKUP_ASID_SHIFT,
    LOOKUP_BYTES,
    LOOKUP_ENTRIES,
    LOOKUP_ENTRY_BYTES,
    LOOKUP_GLOBAL,
    emit_find,
    lookup_slot,
)
from engine.backend.wasm.physical import (
    LOG_ENTRIES,
    PHYS_BYTES,
    PHYS_ENTRIES,
    PHYS_ENTRY_BYTES,
    PHYS_SET_BYTES,
    add_find_physical,
    physical_set,
)
from engine.backend.wasm.walker import add_refill
from engine.host.base import WasmHost
from engine.ir.core import Block, Helper, MemOp, Opc

EXIT_HALT = 2  # the host asked the dispatcher to stop (Exit.HALT)
EXIT_MISS = 3  # the dispatcher found no compiled TB for pc
EXIT_BUDGET = 4  # the dispatcher ran its budget of TBs
_ENTRY = struct.Struct("<QII")  # pc, table slot, context word
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_PHYS_ENTRY = struct.Struct("<QII")  # pc, RAM offset, table slot
_M64 = (1 << 64) - 1


class WasmJit:
    def __init__(
        self,
        host: WasmHost,
        memory: Any,
        layout: Layout,
        env: Any,
        softmmu: Any = None,
        ram_memory: Any = None,
    ) -> None:
        """`softmmu` (system mode) provides slow_load(vaddr, memop, mmu, pc) and
        slow_store(vaddr, value, memop, mmu, pc) for TLB misses. `ram_memory` is
        guest RAM's own memory when the layout puts RAM in memory 1."""
        self.host = host
        self.softmmu_hooks = softmmu
        self.memory = memory
        self.ram_memory = ram_memory
        sm = layout.softmmu
        if (ram_memory is not None) != bool(sm is not None and sm.ram_memory):
            raise ValueError("a RAM memory is given exactly when the layout puts RAM in memory 1")
        self.layout = layout
        self.lookup_base = layout.lookup_base
        self.phys_base = sm.phys_lookup_base if sm is not None else 0
        # The log of first-level entries generated code filled, and its length's slot.
        self._log_base = sm.lookup_log_base if sm is not None else 0
        self._log_at = layout.slot_offset(sm.log_slot) if sm is not None else -1
        self.env = env
        self.view = host.memory_view(memory)
        if layout.base != host.memory_address(memory):
            raise ValueError("the layout's base is not where the host put the memory's view")
        self._epoch_at = layout.slot_offset(layout.epoch_slot)
        self.memory_limits = host.memory_import(memory)  # as every module declares the import
        self.ram_limits = host.memory_import(ram_memory) if ram_memory is not None else None
        self.table = host.create_table(1024)
        self.table_used = 0
        self.host_functions: dict[Helper, Any] = {}
        self.host_calls: Counter[str] = Counter()  # calls from generated code, by helper
        self.modules = 0
        self.functions = 0
        # Entry addresses filled since the last clear, by the virtual page of their pc
        # and by the ASID they were filled under (global entries under none).
        self._filled_by_page: dict[int, set[int]] = {}
        self._filled_by_asid: dict[int, set[int]] = {}
        self._local_pages: set[int] = set()  # pages with entries of one address space
        self._invalidate_all()
        if sm is not None:
            _U64.pack_into(self.view, self._log_at, 0)
            self.clear_physical()
        self._run = self._make_dispatcher()

    # -- memory-resident lookup table ------------------------------------------------
    def _entries_dropped(self) -> None:
        """Tell TBs looping on themselves to return to the dispatcher and be looked up."""
        view, at = self.view, self._epoch_at
        _U64.pack_into(view, at, (_U64.unpack_from(view, at)[0] + 1) & _M64)

    def clear_lookup(self) -> None:
        """Invalidate every entry; only the ones filled since the last clear need writing."""
        self.take_wasm_fills()
        self._entries_dropped()
        filled = set().union(*self._filled_by_page.values())
        if len(filled) > LOOKUP_ENTRIES // 8:
            self._invalidate_all()
        else:
            for addr in filled:
                _ENTRY.pack_into(self.view, addr, INVALID_PC, 0, 0)
        self._filled_by_page = {}
        self._filled_by_asid = {}
        self._local_pages = set()

    def _invalidate_all(self) -> None:
        entry = _ENTRY.pack(INVALID_PC, 0, 0).ljust(LOOKUP_ENTRY_BYTES, b"\0")
        self.view[self.lookup_base : self.lookup_base + LOOKUP_BYTES] = entry * LOOKUP_ENTRIES

    def _drop_filled(self, filled: set[int], ours: Callable[[int, int], bool]) -> None:
        """Invalidate the entries at `filled` whose (pc, context) is still `ours`: a slot
        may hold another pc's entry by now."""
        if not filled:
            return
        self._entries_dropped()
        view = self.view
        for addr in filled:
            entry_pc, _slot, context = _ENTRY.unpack_from(view, addr)
            if ours(entry_pc, context):
                _ENTRY.pack_into(view, addr, INVALID_PC, 0, 0)

    def forget_page(self, page: int) -> None:
        """Drop every entry for a pc in virtual page `page`, whatever its context."""
        self.take_wasm_fills()
        self._drop_filled(self._filled_by_page.pop(page, set()),
                          lambda pc, _context: pc >> 12 == page)  # fmt: skip

    def forget_address_space(self, asid: int) -> None:
        """Drop the entries filled under ASID `asid`; global entries stay."""
        self.take_wasm_fills()
        self._drop_filled(
            self._filled_by_asid.pop(asid, set()),
            lambda _pc, context: (
                not context & LOOKUP_GLOBAL and context >> LOOKUP_ASID_SHIFT == asid
            ),
        )

    def retain_pages(self, keep: Callable[[int], bool]) -> set[int]:
        """Drop the entries of every virtual page but those keep(page) vouches for, which
        must hold only global entries; returns the pages kept."""
        self.take_wasm_fills()
        kept = {page for page in self._filled_by_page
                if page not in self._local_pages and keep(page)}  # fmt: skip
        for page in [page for page in self._filled_by_page if page not in kept]:
            self.forget_page(page)
        self._filled_by_asid = {}  # every page with such entries was dropped
        self._local_pages = set()
        return kept

    def forget_lookup(self, pc: int, table_index: int, flags: int = 0) -> None:
        """Drop the lookup entry of (pc, flags) if it still leads to table slot `table_index`."""
        addr = self.lookup_base + lookup_slot(pc, flags) * LOOKUP_ENTRY_BYTES
        entry_pc, entry_slot, _flags = _ENTRY.unpack_from(self.view, addr)
        if entry_pc == pc and entry_slot == table_index:
            _ENTRY.pack_into(self.view, addr, INVALID_PC, 0, 0)
            self._entries_dropped()

    def set_lookup(self, pc: int, table_index: int, context: int = 0) -> None:
        flags = context & (LOOKUP_GLOBAL - 1)
        addr = self.lookup_base + lookup_slot(pc, flags) * LOOKUP_ENTRY_BYTES
        _ENTRY.pack_into(self.view, addr, pc, table_index, context)
        self._note_filled(addr, pc, context)

    def _note_filled(self, addr: int, pc: int, context: int) -> None:
        """Remember the entry at `addr` by its page and, unless global, its ASID."""
        page = self._filled_by_page.get(pc >> 12)
        if page is None:
            self._filled_by_page[pc >> 12] = page = set()
        page.add(addr)
        if not context & LOOKUP_GLOBAL:
            self._local_pages.add(pc >> 12)
            space = self._filled_by_asid.get(context >> LOOKUP_ASID_SHIFT)
            if space is None:
                self._filled_by_asid[context >> LOOKUP_ASID_SHIFT] = space = set()
            space.add(addr)

    def take_wasm_fills(self) -> None:
        """Note the first-level entries generated code filled and logged (physical.py)
        since the last call, as though set_lookup had filled them, and empty the log."""
        if self._log_at < 0:
            return
        view = self.view
        logged = _U64.unpack_from(view, self._log_at)[0]
        if not logged:
            return
        log = view[self._log_base : self._log_base + 4 * logged]
        for (offset,) in _U32.iter_unpack(log):
            addr = self.lookup_base + offset
            pc, _slot, context = _ENTRY.unpack_from(view, addr)
            if pc != INVALID_PC:  # else dropped since: nothing to remember
                self._note_filled(addr, pc, context)
        _U64.pack_into(view, self._log_at, 0)

    # -- the second level, by physical address (physical.py) --------------------------------
    def _physical_set(self, paddr: int, flags: int) -> tuple[int, int] | None:
        """Where the set for code at physical address paddr under `flags` is, and paddr's
        offset in RAM; None for code outside RAM, which the TLB never maps."""
        sm = self.layout.softmmu
        offset = paddr - sm.ram_base
        if not 0 <= offset < sm.ram_size:
            return None
        return self.phys_base + physical_set(offset, flags) * PHYS_SET_BYTES, offset

    def set_physical(self, pc: int, paddr: int, table_index: int, flags: int) -> None:
        """Let generated code find the TB at table slot `table_index`, made from the code
        at physical address paddr for virtual pc under `flags`, in any address space."""
        where = self._physical_set(paddr, flags)
        if where is None:
            return
        addr, offset = where
        view = self.view
        if _PHYS_ENTRY.unpack_from(view, addr)[:2] != (pc, offset):
            view[addr + PHYS_ENTRY_BYTES : addr + PHYS_SET_BYTES] = view[
                addr : addr + PHYS_ENTRY_BYTES
            ]
        _PHYS_ENTRY.pack_into(view, addr, pc, offset, table_index)

    def forget_physical(self, pc: int, paddr: int, table_index: int, flags: int) -> None:
        """Drop the second-level entry of (pc, paddr, flags) if it still leads to `table_index`."""
        where = self._physical_set(paddr, flags)
        if where is None:
            return
        addr, offset = where
        for entry in range(addr, addr + PHYS_SET_BYTES, PHYS_ENTRY_BYTES):
            if _PHYS_ENTRY.unpack_from(self.view, entry) == (pc, offset, table_index):
                _PHYS_ENTRY.pack_into(self.view, entry, INVALID_PC, 0, 0)
                self._entries_dropped()

    def clear_physical(self) -> None:
        """Drop every second-level entry (every TB is being discarded)."""
        self._entries_dropped()
        entry = _PHYS_ENTRY.pack(INVALID_PC, 0, 0)
        self.view[self.phys_base : self.phys_base + PHYS_BYTES] = entry * PHYS_ENTRIES

    # -- modules -------------------------------------------------------------------------
    def _import_shared(self, m: Module) -> None:
        least, most = self.memory_limits
        m.import_memory("env", "mem", least, most, memory64=self.layout.memory64)
        if self.ram_limits is not None:
            least, most = self.ram_limits
            m.import_memory("env", "ram", least, most, memory64=self.layout.ram_memory64)
        m.import_table("env", "tbs", 0)

    def _shared_imports(self) -> list[Any]:
        """What _import_shared declares, in its order."""
        ram = [] if self.ram_memory is None else [self.ram_memory]
        return [self.memory, *ram, self.table]

    def _make_dispatcher(self) -> Any:
        lay = self.layout
        m = Module()
        self._import_shared(m)
        tb_type = m.type((), (ValType.I32,))
        run_type = m.type((ValType.I64,), (ValType.I32,))
        budget, pc, entry, code, context, current = 0, 1, 2, 3, 4, 5
        sm = lay.softmmu
        refill = add_refill(m, lay) if sm is not None else -1
        c = Code()
        a = Addressing(lay, c)  # built for this run: addresses are constants
        # The budget lives in the state: TBs that loop or chain spend it too.
        a.store_budget(budget)
        c.block(Op.LOOP)
        if sm is not None:
            # The host asked us to stop (an interrupt, a changed mode): leave now.
            a.state_operand()
            c.mem(Op.I64_LOAD, a.slot_at(sm.exit_slot)).op(Op.I64_EQZ).op(Op.I32_EQZ)
            c.block(Op.IF).i32_const(EXIT_HALT).op(Op.RETURN).op(Op.END)
        # pc = state.pc; in system mode current = the state's context word
        a.state_operand()
        c.mem(Op.I64_LOAD, a.slot_at(lay.pc_slot)).set(pc)
        if sm is not None:
            a.state_operand()
            c.mem(Op.I32_LOAD, a.slot_at(sm.flags_slot)).set(current)
        found = (current, context) if sm is not None else ()
        emit_find(c, lambda: c.get(pc), lambda: a.to_address(lay.lookup_base), entry, *found)
        c.block(Op.IF, ValType.I32).get(entry).mem(Op.I32_LOAD, ENTRY_SLOT)
        c.op(Op.ELSE)
        if sm is not None:  # the second level, by physical address
            find_physical = add_find_physical(m, lay, refill)
            c.get(pc).get(current).call(find_physical).tee(code)
            c.i32_const(0).op(Op.I32_LT_S)
            c.block(Op.IF).i32_const(EXIT_MISS).op(Op.RETURN).op(Op.END)
            c.get(code)
        else:
            c.i32_const(EXIT_MISS).op(Op.RETURN)
        c.op(Op.END)
        # code = table[slot]()
        c.call_indirect(tb_type).tee(code)
        c.block(Op.IF).get(code).op(Op.RETURN).op(Op.END)
        a.budget_after_one(budget)
        a.store_budget(budget)
        c.br(Op.BR_IF, 0)
        c.op(Op.END)
        c.i32_const(EXIT_BUDGET).op(Op.END)
        addr_t = lay.addr_type
        run = m.function(run_type, [ValType.I64, addr_t, ValType.I32, ValType.I32, ValType.I32], c)
        m.export_func("run", run)
        if sm is not None:
            m.export_func("refill", refill)
            m.export_func("find_physical", find_physical)
        instance = self.host.instantiate(m.encode(), self._shared_imports())
        self._runtime = []  # what TB modules import from "rt" after first_slot and base
        if sm is not None:
            self._runtime = [self.host.exported(instance, name)
                             for name in ("refill", "find_physical")]  # fmt: skip
        return self.host.export(instance, "run")

    def _host_function(self, helper: Helper) -> Any:
        fn = self.host_functions.get(helper)
        if fn is None:
            env, call = self.env, helper.fn
            params = ["i64"] * len(helper.arg_types)
            results = ["i64"] if helper.ret_type is not None else []
            fn = self.host.function(params, results, self._counted(helper.name, call, env))
            self.host_functions[helper] = fn
        return fn

    def _counted(self, name: str, fn: Any, *bound: Any) -> Any:
        """fn(*bound, *args), counting each call from generated code under `name`."""
        calls = self.host_calls

        def call(*args: int) -> Any:
            calls[name] += 1
            return fn(*bound, *args)

        return call

    def build_module(
        self, blocks: Sequence[Block], links: Sequence[dict[int, int]] | None = None
    ) -> tuple[bytes, list[Helper]]:
        """The module for a batch, and the helpers it imports after the shared imports.

        links[i], if given, maps pcs block i exits to onto the index of the block of
        the batch it may call directly there: the caller vouches that it would be the
        TB the lookup finds (see FunctionCompiler.call_linked).

        Its functions fill the table from the slot an imported global names, so
        the bytes depend only on the blocks (and this machine's layout): an
        identical batch in a later run is the same module, reusable from a cache.
        """
        m = Module()
        self._import_shared(m)
        first_slot = m.import_global("rt", "first_slot", ValType.I32)
        base = m.import_global("rt", "base", ValType.I32) if self.layout.relocatable else -1
        helpers: list[Helper] = []
        for block in blocks:
            for op in block.ops:
                if op.opc == Opc.CALL and op.args[0] not in helpers:
                    helpers.append(op.args[0])
        helper_index = {}
        for h in helpers:
            ty = m.type((ValType.I64,) * len(h.arg_types), (ValType.I64,) if h.ret_type else ())
            helper_index[h] = m.import_func("h", h.name, ty)
        slow_load = slow_store = refill = find_physical = -1
        if self.layout.softmmu is not None:
            slow_load = m.import_func("h", "slow_load", m.type((ValType.I64,) * 4, (ValType.I64,)))
            slow_store = m.import_func("h", "slow_store", m.type((ValType.I64,) * 5, ()))
            refill_type = m.type((ValType.I64, ValType.I32, ValType.I32), (ValType.I32,))
            refill = m.import_func("rt", "refill", refill_type)
            find_type = m.type((ValType.I64, ValType.I32), (ValType.I32,))
            find_physical = m.import_func("rt", "find_physical", find_type)
        binary = m.type((ValType.I64, ValType.I64), (ValType.I64,))
        tb_type = m.type((), (ValType.I32,))
        first = m.imported_funcs
        first_tb = first + 4  # after the three high multiplies and the chain function
        support = SupportFunctions(
            first, first + 1, first + 2, slow_load, slow_store, refill, base, first + 3,
            misses_from=first_tb + len(blocks),
        )  # fmt: skip
        bodies = support_bodies(support.muluh)
        for name in ("muluh", "mulsh", "mulsuh"):
            m.function(binary, SUPPORT_LOCALS[name], bodies[name])
        chain_locals, chain_body = chain_function(self.layout, base, tb_type, find_physical)
        m.function(m.type((ValType.I64,), (ValType.I32,)), chain_locals, chain_body)
        funcs = []
        for i, block in enumerate(blocks):
            linked = {pc: first_tb + j for pc, j in links[i].items()} if links else None
            compiler = FunctionCompiler(block, self.layout, helper_index, support, linked)
            locals_, code = compiler.compile()
            funcs.append(m.function(tb_type, locals_, code))
        m.elements_at_global(first_slot, funcs)
        self._add_miss_functions(m, support)
        return m.encode(), helpers

    def _add_miss_functions(self, m: Module, support: SupportFunctions) -> None:
        """The TLB miss functions (and the link guard) the batch's functions asked for,
        after them."""
        addr = self.layout.addr_type
        load_type = m.type((ValType.I64, addr, ValType.I64), (ValType.I64,))
        store_type = m.type((ValType.I64, addr, ValType.I64, ValType.I64), ())
        for kind, index in support.misses.items():
            if kind == LINK_GUARD:
                locals_, body = link_guard_function(self.layout, support.base_global)
                type_ = m.type((ValType.I64,), (ValType.I32,))
            else:
                access, memop, mmu = kind
                memop = MemOp(memop)
                locals_, body = softmmu_miss_function(self.layout, support, access, memop, mmu)
                type_ = store_type if access else load_type
            made = m.function(type_, locals_, body)
            assert made == index, "functions after the TBs are numbered in the order they are made"

    def compile(self, blocks: Sequence[Block]) -> list[int]:
        """Compile and instantiate a batch; returns the table slot of each block."""
        wasm, helpers = self.build_module(blocks)
        return self.load(wasm, helpers, len(blocks))

    def load(self, wasm: bytes, helpers: Sequence[Helper], functions: int) -> list[int]:
        """Instantiate a module from build_module, with `functions` TB functions, at the
        next free table slots; returns them in order."""
        first = self.table_used
        need = first + functions - self.host.table_size(self.table)
        if need > 0:
            self.host.grow_table(self.table, max(need, self.host.table_size(self.table)))
        imports = [*self._shared_imports(), self.host.global_i32(first)]
        if self.layout.relocatable:
            imports.append(self._base_global)
        imports += [self._host_function(h) for h in helpers]
        if self.layout.softmmu is not None:
            imports += [*self._slow_paths(), *self._runtime]
        self.host.instantiate(wasm, imports)
        self.table_used += functions
        self.modules += 1
        self.functions += functions
        return list(range(first, first + functions))

    @functools.cached_property
    def _base_global(self) -> Any:
        base = self.layout.base
        if not 0 <= base < 1 << 32:
            raise ValueError(f"a relocatable layout's base must be a 32-bit address, not {base:#x}")
        return self.host.global_i32(base - (1 << 32) if base >> 31 else base)

    @functools.cached_property
    def code_identity(self) -> str:
        """What TB modules depend on besides their blocks: addresses and modes baked in.

        Modules kept from an earlier run are only valid under the same identity. A
        relocatable layout reads its base at run time, so the base is not part of it."""
        layout = self.layout
        if layout.relocatable:
            layout = dataclasses.replace(layout, base=0)
        parts = (repr(layout), self.memory_limits, self.ram_limits)
        return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()

    def _slow_paths(self) -> list[Any]:
        if not hasattr(self, "_slow_funcs"):
            load = self._counted("slow_load", self.softmmu_hooks.slow_load)
            store = self._counted("slow_store", self.softmmu_hooks.slow_store)
            self._slow_funcs = [
                self.host.function(["i64"] * 4, ["i64"], load),
                self.host.function(["i64"] * 5, [], store),
            ]
        return self._slow_funcs

    def run(self, budget: int) -> int:
        code = self._run(budget)
        if self._log_at >= 0 and _U64.unpack_from(self.view, self._log_at)[0] >= LOG_ENTRIES // 2:
            self.take_wasm_fills()  # before the log fills up and generated code stops filling
        return code
