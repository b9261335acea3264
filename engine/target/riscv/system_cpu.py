"""A RISC-V hart in system mode: privilege levels, CSRs, the MMU, and a TB cache that
survives address-space changes.

TBs are keyed by (physical address, virtual pc, flags): the virtual pc because
translated code embeds pc-relative values, the physical page so that a TB is
found again after sfence.vma or a satp write (which only flush the TLB and the
fast virtual-pc cache), and the flags (privilege, data MMU context, FS state)
because translation depends on them.

Translated code is kept coherent with memory, as in QEMU: a physical page
holding translated code never gets a writable TLB entry, so the first store to
it takes the slow path, which discards that page's TBs before writing. fence.i
then has nothing left to do; Linux patches its own code tens of thousands of
times while booting (ftrace, alternatives, static keys), each time with fence.i,
and discarding every TB on each would make that quadratic.

`run(budget)` executes TBs until a synchronous exception, a host request
(device interrupt, WFI, CSR write that may unmask an interrupt) or the
budget runs out; the machine loop takes traps and interrupts in between.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from time import perf_counter
from types import CodeType
from typing import Any

from engine.backend.interp import InterpBackend
from engine.backend.wasm.jit import EXIT_BUDGET, EXIT_MISS, LOOKUP_ASID_SHIFT, LOOKUP_GLOBAL
from engine.ir.core import HELPERS, Exit
from engine.ir.optimize import optimize
from engine.ir.serialize import dump_block
from engine.target.riscv import priv as privmod
from engine.target.riscv import state as st
from engine.target.riscv.cpu import (
    HOST_INTERRUPT,
    TB,
    CompileQueue,
    Stats,
    TierConfig,
    optimize_for_wasm,
)
from engine.target.riscv.csr_file import (
    ASID_MASK,
    FS,
    FS_SHIFT,
    MXR,
    PRV_M,
    PRV_S,
    PRV_U,
    TSR,
    TVM,
    TW,
    CsrFile,
    satp_asid,
)
from engine.target.riscv.exceptions import Cause, GuestException
from engine.target.riscv.mmu import data_mmu_index, fetch_mmu_index
from engine.target.riscv.softmmu import SoftMmu
from engine.target.riscv.system_insns import MRET, SFENCE_EVERY_ADDRESS, SFENCE_ONE_ASID
from engine.target.riscv.tb_links import links_hold, reachable, same_page_links
from engine.target.riscv.translate import (
    TB_FLAG_BITS,
    RiscvTranslator,
    crosses_page,
    next_page,
    tb_flags,
)
from engine.tcache import BlockKey, TranslationCache

# Blocks loaded from the translation cache name their helpers; these modules
# define them, and the translator would only import them on first use.
from engine.target.riscv import fp_helpers, system  # noqa: F401  isort: skip

M64 = 0xFFFF_FFFF_FFFF_FFFF
# Pages of code kept as bytes for translation cache lookups (16 MiB at most).
MAX_CODE_SNAPSHOTS = 4096


class SystemCpu:
    def __init__(
        self,
        state: memoryview,
        mmu: SoftMmu,
        time: Callable[[], int],
        config: TierConfig | None = None,
        jit: Any = None,
        tcache: TranslationCache | None = None,
    ) -> None:
        self.state = state
        self.tcache = tcache
        self.config = config or TierConfig()
        self.jit = jit
        self.queue = CompileQueue(self.config)
        self.mmu = mmu
        self.csrs = CsrFile(state, time)
        self.csrs.on_change = self._csr_changed
        self.csrs.reset()
        state[st.RES_ADDR] = st.NO_RESERVATION
        self.translator = RiscvTranslator(self._fetch16)
        self.backend = InterpBackend(self, state, mmu, st.PC)
        self.backend.on_code = self._function_made
        self.fetch_mmu = fetch_mmu_index(PRV_M)
        self.tbs: dict[tuple[int, int, int], TB] = {}  # (paddr, vpc, flags) -> TB
        self.fast: dict[int, TB] = {}  # (vpc << 6) | flags -> TB, flushed with the TLB
        self.page_tbs: dict[int, list[tuple[int, int, int]]] = {}  # physical page -> TB keys
        self.fast_by_page: dict[int, list[int]] = {}  # virtual page -> its keys in `fast`
        # Virtual pages of global code with lookup entries -> (physical page, fetch MMU
        # index) they were made through, or None if not one place (see flush_tlb).
        self.global_code: dict[int, tuple[int, int] | None] = {}
        # Virtual pages with a lookup entry for a block whose instruction ends on the
        # next page -> the physical page that next one was: a fence of it drops
        # their entries too (flush_tlb_page), a full fence checks it (flush_tlb).
        self.straddling_pages: dict[int, int] = {}
        # Copies of code pages, for the translation cache to compare blocks with: a
        # warm boot looks up 81,000 blocks on a few thousand pages, and under
        # Pyodide with wasm64 every read of guest RAM is a call into JavaScript.
        # Only pages marked as code are copied, as only their writes are noticed.
        self.code_snapshots: dict[int, bytes] = {}
        mmu.on_code_write = self.invalidate_code_page
        self.stats = Stats()
        if jit is not None:
            self.stats.host_calls = jit.host_calls
        # Blocks an earlier run compiled (engine.tcache), by key -> their table slot here.
        self.compiled_before: dict[BlockKey, int] = {}
        # table slot -> the blocks its function may run through direct calls
        # (tb_links.reachable), checked before the function is reused for a block
        # with the same key elsewhere
        self.slot_callees: dict[int, tuple[BlockKey | None, ...]] = {}
        self.modules_loaded: set[int] = set()
        self.waiting = False  # WFI executed: the machine sleeps until an interrupt
        self._satp = self.csrs.get("satp")
        self.exit_reason = ""  # why the host asked the hart to stop, for the stats
        self.refresh_flags()

    @property
    def exit_request(self) -> bool:
        """Stop at the next block boundary; a state word, so generated code sees it too."""
        return bool(self.state[st.EXIT_REQUEST])

    @exit_request.setter
    def exit_request(self, value: bool) -> None:
        self.state[st.EXIT_REQUEST] = int(value)

    # -- translation state -------------------------------------------------------------
    def refresh_flags(self) -> None:
        """Recompute what translation depends on; call after privilege or mstatus change."""
        s = self.state
        priv = s[st.PRIV]
        mstatus = s[st.CSR_SLOT["mstatus"]]
        self.fetch_mmu = fetch_mmu_index(priv)
        flags = tb_flags(priv, data_mmu_index(priv, mstatus), (mstatus & FS) >> FS_SHIFT)
        # The dispatcher's lookup entries are valid for these flags in this address space.
        s[st.TB_FLAGS] = flags | (satp_asid(s[st.CSR_SLOT["satp"]]) << LOOKUP_ASID_SHIFT)

    @property
    def flags(self) -> int:
        """The flags TBs are looked up under now, from the state: generated code
        changes them itself when it writes sstatus.SUM or FS (system_insns)."""
        return self.state[st.TB_FLAGS] & TB_FLAG_BITS

    def _fetch16(self, vaddr: int) -> int:
        return self.mmu.fetch16(vaddr, self.fetch_mmu)

    def flush_tlb(self) -> None:
        """Forget every translation; keep the lookup entries of global code that stays put.

        Linux fences everything after changing the kernel's own page tables (a
        module loaded, vmalloc space mapped), about a hundred times in a boot.
        Its code does not move, and emptying the lookup table sent tens of
        thousands of block lookups back to the host to be found again. One walk
        per page of global code with entries tells whether it still maps there."""
        self._flush_translations()
        if self.jit is not None:
            with self.mmu.walker.remembering_reads():  # no guest store until it is done
                kept = self.jit.retain_pages(self._global_code_stayed)
            self.global_code = {page: self.global_code[page] for page in kept}
            self.straddling_pages = {page: second for page, second in self.straddling_pages.items()
                                     if page in kept}  # fmt: skip

    def _global_code_stayed(self, vpage: int) -> bool:
        where = self.global_code.get(vpage)
        if where is None:
            return False
        ppage, mmu_idx = where
        try:
            stayed = self.mmu.fetch_mapping(vpage << 12, mmu_idx) == (ppage << 12, True)
            second = self.straddling_pages.get(vpage)
            if stayed and second is not None:  # a block ending on the next page needs it
                stayed = self.mmu.fetch_mapping((vpage + 1) << 12, mmu_idx) == (second << 12, True)
        except GuestException:  # walk the new tables
            return False
        return stayed

    def _fill_lookup(self, tb: TB) -> None:
        """Give the dispatcher tb's entries. The first level's is under the context it
        must match: code on a global page runs the same in every address space (its
        page is noted for flush_tlb), any other only in the current one. The second
        level's is under the physical address, for every address space to find."""
        vpc = tb.pc
        # A translation made tb just now, which flushes the TLB (mark_code_page):
        # walk again rather than file the entry under the wrong context.
        paddr, is_global = self.mmu.fetch_mapping(vpc, self.fetch_mmu)
        context = self.state[st.TB_FLAGS]
        flags = context & TB_FLAG_BITS
        if tb.second_page is not None:
            # Half its instruction is on the next page, which the second level does
            # not look at, and a fence of that page must drop it (flush_tlb_page).
            # It is global code only if both pages are, and a full fence keeps it
            # only while both stay (_global_code_stayed).
            self.straddling_pages[vpc >> 12] = tb.second_page
            try:
                mapped = self.mmu.fetch_mapping(next_page(vpc), self.fetch_mmu)
            except GuestException:
                return  # unmapped since: the host's lookup makes it anew
            if not is_global or mapped != (tb.second_page << 12, True):
                self.jit.set_lookup(vpc, tb.slot, context)
                return
        else:
            self.jit.set_physical(vpc, paddr, tb.slot, flags)
        if not is_global:
            self.jit.set_lookup(vpc, tb.slot, context)
            return
        self.jit.set_lookup(vpc, tb.slot, flags | LOOKUP_GLOBAL)
        where = (paddr >> 12, self.fetch_mmu)
        if self.global_code.setdefault(vpc >> 12, where) != where:
            self.global_code[vpc >> 12] = None  # reached two ways: never vouched for

    def _empty_lookup(self) -> None:
        """Drop every dispatcher lookup entry (and the notes on their pages)."""
        self.jit.clear_lookup()
        self.global_code.clear()
        self.straddling_pages.clear()

    def _flush_translations(self) -> None:
        """Forget virtual-to-physical translations and what the host found through them."""
        self.mmu.flush()
        self.fast.clear()
        self.fast_by_page.clear()

    def _satp_written(self) -> None:
        """A new address space: translations go, the dispatcher's lookup entries may stay.

        They are tagged with the ASID they were made under (or as global), so a
        context switch to another ASID keeps them for when it switches back, and
        the kernel's global code is found at once in every process. A new root
        under the same ASID or another translation mode forgets them all."""
        old, new = self._satp, self.csrs.get("satp")
        self._satp = new
        self._flush_translations()
        if self.jit is not None and (old >> 60 != new >> 60 or satp_asid(old) == satp_asid(new)):
            self._empty_lookup()

    def discard_all_tbs(self) -> None:
        """Forget every translation (machine reset)."""
        self.tbs.clear()
        self.fast.clear()
        self.fast_by_page.clear()
        self.page_tbs.clear()
        self.queue.clear()
        self.code_snapshots.clear()
        for page in list(self.mmu.code_pages):
            self.mmu.unmark_code_page(page)
        if self.jit is not None:
            self._empty_lookup()
            self.jit.clear_physical()

    def invalidate_code_page(self, page: int) -> None:
        """A store is about to change physical page `page`: drop the TBs made from it."""
        self.code_snapshots.pop(page, None)
        for key in self.page_tbs.pop(page, ()):
            tb = self.tbs.pop(key, None)
            if tb is None:
                continue
            paddr, vpc, flags = key
            self.fast.pop((vpc << 6) | flags, None)
            if tb.slot is not None:
                self.jit.forget_lookup(vpc, tb.slot, flags)
                self.jit.forget_physical(vpc, paddr, tb.slot, flags)
            tb.block = None
        self.mmu.unmark_code_page(page)

    def _lookup(self, vpc: int) -> TB:
        flags = self.state[st.TB_FLAGS] & TB_FLAG_BITS
        key = (vpc << 6) | flags
        tb = self.fast.get(key)
        if tb is not None:
            return tb
        try:
            paddr = self.mmu.fetch_page(vpc, self.fetch_mmu)
        except GuestException as e:
            e.pc = vpc
            raise
        full_key = (paddr, vpc, flags)
        tb = self.tbs.get(full_key)
        if tb is not None and tb.second_page is not None:
            # made anew below if its second page is mapped elsewhere now
            tb = tb if self._second_page(vpc) == tb.second_page else None
        if tb is None:
            tb = self._translate(vpc, flags, paddr)
            self.tbs[full_key] = tb
            self._made_from(paddr >> 12, full_key)
            if tb.second_page is not None and tb.second_page >= 0:
                self._made_from(tb.second_page, full_key)
        self.fast[key] = tb
        self.fast_by_page.setdefault(vpc >> 12, []).append(key)
        if tb.second_page is not None:  # a fence of either page forgets it
            self.fast_by_page.setdefault((vpc >> 12) + 1, []).append(key)
        return tb

    def _made_from(self, page: int, full_key: tuple[int, int, int]) -> None:
        """The TB under full_key was made from physical page `page`: a store to it
        drops the TB (invalidate_code_page)."""
        self.page_tbs.setdefault(page, []).append(full_key)
        self.mmu.mark_code_page(page)

    def _second_page(self, vpc: int) -> int | None:
        """The physical page after the one vpc is on, as fetches see it now (None if
        a fetch there faults: the translator raises that where it belongs)."""
        try:
            return self.mmu.fetch_page(next_page(vpc), self.fetch_mmu) >> 12
        except GuestException:
            return None

    def _translate(self, vpc: int, flags: int, paddr: int) -> TB:
        start = perf_counter()
        tb = self._from_cache(vpc, flags, paddr) if self.tcache is not None else None
        if tb is None:
            try:
                block = self.translator.translate(vpc, flags)
            except GuestException as e:
                e.pc = vpc
                raise
            if self.config.tier == "interp":
                optimize(block)  # the interpreter is its last tier: see optimize_for_wasm
            tb = TB(vpc, block, self.backend)
            if self.tcache is not None:
                guest_bytes = self._block_bytes(vpc, paddr, block.size)
                if guest_bytes is not None:
                    # With a JIT most blocks are in a kept module by the time the cache
                    # is written, and need no IR then: serialize it only if still needed.
                    # Without one every block keeps its IR, smaller serialized: now.
                    ir = dump_block(block) if self.jit is None else partial(dump_block, block)
                    tb.key = self.tcache.store(vpc, flags, guest_bytes, ir)
            self.stats.insns_translated += block.n_insns
        size = tb.key[2] if tb.key is not None else tb.block.size if tb.block is not None else 0
        if crosses_page(vpc, size):
            # Its instruction straddles two pages. It was fetched from the next page
            # just now, so that is mapped; were it not, -1 (never a page) would make
            # the block anew at each lookup.
            second = self._second_page(vpc)
            tb.second_page = -1 if second is None else second
        tb.origin = (paddr >> 12, flags)
        self.stats.translate_seconds += perf_counter() - start
        self.stats.tbs_translated += 1
        return tb

    def _function_made(self, tb: TB, code: CodeType, seconds: float) -> None:
        self.stats.translate_seconds += seconds
        if tb.key is not None and self.tcache is not None:
            self.tcache.add_code(tb.key, code)  # the next boot binds it at once
        if self.jit is None:
            tb.block = None  # nothing will compile it

    def _from_cache(self, vpc: int, flags: int, paddr: int) -> TB | None:
        hit = self.tcache.lookup(vpc, flags, lambda size: self._block_bytes(vpc, paddr, size))
        if hit is None:
            return None
        slot = self._compiled_before(hit.key)
        callees = self.slot_callees.get(slot) if slot is not None else None
        if callees and not links_hold(callees, paddr, self._code_bytes):
            slot = None  # its function would call code this page does not have
        if slot is not None:  # already in Wasm: neither its IR nor an interpreter is needed
            tb = TB(vpc, None, self.backend)
            tb.slot, tb.key = slot, hit.key
            self.stats.tbs_compiled_before += 1
            return tb
        if hit.ir is None and self.jit is not None:
            return None  # it may get hot, and its IR was not kept: translate it afresh
        tb = TB(vpc, None, self.backend, ir=hit.ir)  # its IR is read if it gets hot
        tb.key = hit.key
        code = self.tcache.code_object(hit) if self.config.tier != "wasm" else None
        if code is not None:
            try:
                tb._fn = self.backend.bind(code)
            except ValueError:
                return None  # calls a helper this engine no longer has
        elif tb.block is None:  # the IR is needed now, to compile or to interpret
            return None  # unreadable: translate it afresh
        return tb

    def _compiled_before(self, key: BlockKey) -> int | None:
        """The table slot of the block `key` if an earlier run compiled it: its module is
        instantiated (once) with every function in it, so the block runs in Wasm at once."""
        slot = self.compiled_before.get(key)
        if slot is not None or self.jit is None:
            return slot
        module = self.tcache.compiled_module(self.jit.code_identity, key)
        if module is None or id(module) in self.modules_loaded:
            return None
        self.modules_loaded.add(id(module))
        _identity, wasm, helper_names, keys, links = module
        helpers = [HELPERS.get(name) for name in helper_names]
        if None in helpers:
            return None  # a helper this engine no longer has: compile afresh when hot
        start = perf_counter()
        slots = self.jit.load(wasm, helpers, len(keys))
        self.stats.compile_seconds += perf_counter() - start
        self.stats.modules_compiled_before += 1
        for k, s, callees in zip(keys, slots, reachable(links), strict=True):
            if callees:
                self.slot_callees[s] = tuple(keys[j] for j in callees)
            if k is not None:
                self.compiled_before.setdefault(k, s)
        return self.compiled_before.get(key)

    def _block_bytes(self, vpc: int, paddr: int, size: int) -> bytes | None:
        """The guest code of a block at vpc (physical address paddr) of `size` bytes as it
        is now, from the next page too when its instruction straddles two."""
        if not crosses_page(paddr, size):
            return self._code_bytes(paddr, size)
        first = next_page(paddr) - paddr
        second = self._second_page(vpc)
        if second is None:
            return None
        head, tail = self._code_bytes(paddr, first), self._code_bytes(second << 12, size - first)
        return None if head is None or tail is None else head + tail

    def _code_bytes(self, paddr: int, size: int) -> bytes | None:
        """Guest RAM at [paddr, paddr + size) if the block lies within one page of RAM."""
        ram = self.mmu.ram
        off = paddr - self.mmu.ram_base
        if size <= 0 or crosses_page(paddr, size) or not 0 <= off <= len(ram) - size:
            return None
        page = paddr >> 12
        snapshot = self.code_snapshots.get(page)
        if snapshot is None:
            if page not in self.mmu.code_pages:
                return bytes(ram[off : off + size])
            if len(self.code_snapshots) >= MAX_CODE_SNAPSHOTS:
                self.code_snapshots.clear()
            start = off & ~0xFFF
            snapshot = self.code_snapshots[page] = bytes(ram[start : start + 0x1000])
        return snapshot[paddr & 0xFFF : (paddr & 0xFFF) + size]

    # -- execution -------------------------------------------------------------------------
    def request_exit(self, reason: str) -> None:
        """Ask the hart to stop at the next block boundary; `reason` names it in the stats."""
        self.exit_reason = reason
        self.state[st.EXIT_REQUEST] = 1

    def run(self, budget: int) -> None:
        """Run up to `budget` TBs; on return exc_cause says why (HOST_INTERRUPT if not a trap)."""
        state = self.state
        try:
            if self.jit is not None:
                if self._run_tiered(budget):
                    return
            else:
                lookup = self._lookup
                for _ in range(budget):
                    if lookup(state[st.PC]).fn():
                        self.stats.exit("exception (interpreted)")
                        return
                    if state[st.EXIT_REQUEST]:
                        self.stats.exit(self._halt_cause())
                        break
                else:
                    self.stats.exit("budget")
        except GuestException as exc:
            if exc.pc is not None:
                state[st.PC] = exc.pc
            state[st.EXC_CAUSE] = exc.cause
            state[st.EXC_TVAL] = exc.tval & M64
            return
        self.exit_request = False
        self.exit_reason = ""
        state[st.EXC_CAUSE] = HOST_INTERRUPT

    def _halt_cause(self) -> str:
        # Generated code raises the request itself when the guest enables an interrupt
        # that is already pending; every other request comes through request_exit.
        return f"halt: {self.exit_reason or 'interrupt enabled'}"

    def _run_tiered(self, budget: int) -> bool:
        """Dispatch compiled TBs in Wasm, interpreting between; True on a guest exception."""
        jit, state, stats = self.jit, self.state, self.stats
        while budget > 0:
            try:
                code = stats.run_wasm(jit, budget)
            except GuestException:
                stats.exit("trap in a helper")  # a page fault or illegal CSR, raised in Python
                raise
            if code == Exit.EXCEPTION:
                stats.exit("exception")
                return True
            if code != EXIT_MISS:  # budget spent or the host asked to stop
                stats.exit("budget" if code == EXIT_BUDGET else self._halt_cause())
                return False
            budget -= 1
            try:
                tb = self._lookup(state[st.PC])
            except GuestException:
                stats.exit("lookup miss: fetch fault")
                raise
            stats.exit("lookup miss: " + ("compiled" if tb.slot is not None else "not compiled"))
            try:
                if self._interpret_until_compiled(tb):
                    stats.exit("exception (interpreted)")
                    return True
            except GuestException:
                stats.exit("exception (interpreted)")
                raise
            if state[st.EXIT_REQUEST]:
                return False
        return False

    def _interpret_until_compiled(self, tb: TB) -> bool:
        """Run TBs on the interpreter, from `tb` (the one at pc), until the next one is
        compiled; True on an exception."""
        state = self.state
        eager = self.config.tier == "wasm"
        while True:
            if tb.slot is not None:
                self._fill_lookup(tb)
                return False
            if eager:
                self._compile([tb])
            else:
                batch = self.queue.ran(tb)
                if batch:
                    self._compile(batch)
            if tb.slot is None:  # not compiled (yet)
                if tb.fn():
                    return True
                if state[st.EXIT_REQUEST]:
                    return False
            tb = self._lookup(state[st.PC])

    def _compile(self, tbs: list[TB]) -> None:
        tbs = [tb for tb in tbs if tb.block is not None and tb.slot is None]
        if not tbs:
            return
        blocks = [tb.block for tb in tbs]
        optimize_for_wasm(blocks, self.stats)
        start = perf_counter()
        jit = self.jit
        links = same_page_links(blocks, [tb.origin for tb in tbs])
        wasm, helpers = jit.build_module(blocks, links)
        slots = jit.load(wasm, helpers, len(tbs))
        callees = [tuple(sorted(set(found.values()))) for found in links]
        if self.tcache is not None:
            keys = tuple(tb.key for tb in tbs)
            names = tuple(h.name for h in helpers)
            module = self.tcache.store_module(jit.code_identity, wasm, names, keys, tuple(callees))
            self.modules_loaded.add(id(module))
        self.stats.compile_seconds += perf_counter() - start
        for tb, slot, called in zip(tbs, slots, reachable(callees), strict=True):
            if called:
                self.slot_callees[slot] = tuple(tbs[j].key for j in called)
            tb.slot = slot
            tb.block = None
            if tb.key is not None:  # the same bytes translated again later reuse it
                self.compiled_before.setdefault(tb.key, slot)
        self.stats.tbs_compiled += len(tbs)

    def take_trap(self, cause: int, tval: int, pc: int, interrupt: bool = False) -> None:
        privmod.take_trap(self.csrs, cause, tval, pc, interrupt)
        self.waiting = False
        self.refresh_flags()

    def check_interrupts(self) -> bool:
        """Take a pending enabled interrupt, if any; True if one was taken."""
        cause = privmod.pending_interrupt(self.csrs)
        if cause is None:
            return False
        self.take_trap(cause, 0, self.state[st.PC], interrupt=True)
        return True

    def interrupt_pending(self) -> bool:
        """Whether an interrupt would wake a WFI (pending and enabled, ignoring global enables)."""
        return bool(self.csrs.mip() & self.csrs.get("mie"))

    # -- helpers called from translated code ----------------------------------------------------
    def _csr_changed(self, name: str) -> None:
        if name == "satp":
            self._satp_written()
        elif name == "mstatus" and self._mxr_changed():
            self.flush_tlb()
        self.request_exit(f"{name} written")  # interrupts may be unmasked, flags may differ

    def _mxr_changed(self) -> bool:
        mxr = bool(self.csrs.get("mstatus") & MXR)
        changed = mxr != getattr(self, "_mxr", False)
        self._mxr = mxr
        return changed

    def csr_instruction(self, insn: int, src: int) -> int:
        csr, f3 = insn >> 20, (insn >> 12) & 7
        rd, rs1 = (insn >> 7) & 31, (insn >> 15) & 31
        op = f3 & 3
        priv = self.state[st.PRIV]
        try:
            if op == 1 and rd == 0:
                old = 0  # csrrw without a destination does not read
            else:
                old = self.csrs.read(csr, priv, self.state[st.INSTRET])
            if op == 1 or rs1 != 0:
                new = src if op == 1 else (old | src) if op == 2 else (old & ~src)
                self.csrs.write(csr, new, priv)
        except GuestException as e:
            e.tval = insn
            raise
        self.refresh_flags()
        return old

    def xret(self, insn: int) -> None:
        priv = self.state[st.PRIV]
        mstatus = self.csrs.get("mstatus")
        if insn == MRET:
            if priv != PRV_M:
                raise GuestException(Cause.ILLEGAL_INSTRUCTION, insn)
            privmod.mret(self.csrs)
        else:
            if priv == PRV_U or (priv == PRV_S and mstatus & TSR):
                raise GuestException(Cause.ILLEGAL_INSTRUCTION, insn)
            privmod.sret(self.csrs)
        self.refresh_flags()
        self.request_exit("xret")

    def wait_for_interrupt(self) -> None:
        priv = self.state[st.PRIV]
        if priv == PRV_U or (priv == PRV_S and self.csrs.get("mstatus") & TW):
            raise GuestException(Cause.ILLEGAL_INSTRUCTION, 0x10500073)
        self.waiting = True
        self.request_exit("wfi")

    def sfence_vma(self, vaddr: int, asid: int, scope: int) -> None:
        priv = self.state[st.PRIV]
        if priv == PRV_U or (priv == PRV_S and self.csrs.get("mstatus") & TVM):
            raise GuestException(Cause.ILLEGAL_INSTRUCTION, 0x12000073)
        if not scope & SFENCE_EVERY_ADDRESS:
            self.flush_tlb_page(vaddr)
        elif scope & SFENCE_ONE_ASID:
            self.flush_address_space(asid & ASID_MASK)
        else:
            self.flush_tlb()

    def flush_address_space(self, asid: int) -> None:
        """sfence.vma x0, asid: forget that address space's translations, not global ones.

        Linux fences a whole address space when it unmaps a large range or
        tears a process down; the kernel's code is global and keeps its
        lookup entries, so the dispatcher keeps finding it without an exit."""
        self._flush_translations()
        if self.jit is not None:
            self.jit.forget_address_space(asid)

    def flush_tlb_page(self, vaddr: int) -> None:
        """Forget one virtual page's translation, and the TBs found through it."""
        self.mmu.flush_page(vaddr)
        for key in self.fast_by_page.pop(vaddr >> 12, ()):
            self.fast.pop(key, None)
        if self.jit is not None:
            # Entries of every address space: the page may be mapped anew in any.
            vpage = vaddr >> 12
            self.jit.forget_page(vpage)
            self.global_code.pop(vpage, None)
            if self.straddling_pages.pop(vpage - 1, None) is not None:  # a block ends here
                self.jit.forget_page(vpage - 1)
                self.global_code.pop(vpage - 1, None)

    def describe(self) -> dict[str, Any]:
        s = self.state
        return {"pc": s[st.PC], "priv": s[st.PRIV], "flags": self.flags}
