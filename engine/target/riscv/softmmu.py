"""Guest memory in system mode: virtual addresses through the MMU to RAM or devices.

The interface is the one the interpreter's accessors use in user mode
(ld8u..st64 taking the address, the pc of the instruction and the MMU
index), so the same translated code runs on either. A small TLB per MMU index
maps virtual page numbers to RAM offsets and the protection granted; a miss
walks the page table. Device pages never enter the TLB: every access to them
reaches the device. An access crossing a page boundary is done byte by byte,
each byte translated, as misaligned accesses are allowed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

from engine.backend.wasm.codegen import FETCH_GLOBAL
from engine.ram_access import RamLike, packer, unpacker
from engine.target.riscv.exceptions import Cause, GuestException
from engine.target.riscv.mmu import (
    ACCESS_EXEC,
    ACCESS_FAULT,
    ACCESS_READ,
    ACCESS_WRITE,
    PTE_G,
    PTE_R,
    PTE_W,
    PTE_X,
    Walker,
)

M64 = 0xFFFF_FFFF_FFFF_FFFF
_FORMATS = {1: ("<B", "<b"), 2: ("<H", "<h"), 4: ("<I", "<i"), 8: ("<Q", "<q")}
_NEED = {ACCESS_READ: PTE_R, ACCESS_WRITE: PTE_W, ACCESS_EXEC: PTE_X}


class Bus(Protocol):
    def read(self, addr: int, size: int) -> int: ...
    def write(self, addr: int, size: int, value: int) -> None: ...


class LinearTlb:
    """The TLB generated Wasm consults, in linear memory (codegen.SoftmmuLayout's format),
    and the bitmap of RAM pages holding translated code that the Wasm walker reads."""

    def __init__(
        self, view: memoryview, base: int, entries: int, ram_linear: int,
        code_bitmap: int = 0, ram_base: int = 0,
    ) -> None:  # fmt: skip
        self.view, self.base, self.entries, self.ram_linear = view, base, entries, ram_linear
        self.code_bitmap, self.ram_base = code_bitmap, ram_base
        self.flush()

    def set_code_page(self, page: int, is_code: bool) -> None:
        if not self.code_bitmap:
            return
        index = page - (self.ram_base >> 12)
        if index < 0:
            return
        byte = self.code_bitmap + (index >> 3)
        bit = 1 << (index & 7)
        self.view[byte] = self.view[byte] | bit if is_code else self.view[byte] & ~bit

    def flush(self) -> None:
        size = 4 * self.entries * 32
        self.view[self.base : self.base + size] = b"\xff" * size

    def flush_page(self, vaddr: int) -> None:
        index = (vaddr >> 12) & (self.entries - 1)
        for mmu_idx in range(4):
            entry = self.base + (mmu_idx * self.entries + index) * 32
            _ENTRY.pack_into(self.view, entry, M64, M64, 0, M64)

    def fill(self, mmu_idx: int, vaddr: int, ram_offset: int, prot: int) -> None:
        page = vaddr & ~0xFFF & M64
        entry = self.base + (mmu_idx * self.entries + ((vaddr >> 12) & (self.entries - 1))) * 32
        addend = (self.ram_linear + ram_offset - page) & M64
        fetch = page | FETCH_GLOBAL if prot & PTE_G else page
        _ENTRY.pack_into(self.view, entry, page if prot & PTE_R else M64,
                         page if prot & PTE_W else M64, addend,
                         fetch if prot & PTE_X else M64)  # fmt: skip


_ENTRY = struct.Struct("<QQQQ")  # read tag, write tag, addend, fetch tag


class SoftMmu:
    def __init__(
        self,
        state: memoryview,
        ram: RamLike,
        ram_base: int,
        bus: Bus,
        linear_tlb: LinearTlb | None = None,
    ) -> None:
        self.ram = ram
        self.ram_base = ram_base
        self.ram_end = ram_base + len(ram)
        self.bus = bus
        self.walker = Walker(state, self._pte_load, self._pte_store)
        self.tlb: list[dict[int, tuple[int, int]]] = [{} for _ in range(4)]
        self.linear_tlb = linear_tlb
        # Physical pages holding translated code: never writable through the TLB,
        # so that a store reaches `on_code_write(page)` before it lands.
        self.code_pages: set[int] = set()
        self.on_code_write: Callable[[int], None] = lambda page: None
        self._u16, self._u64 = unpacker(ram, "<H"), unpacker(ram, "<Q")
        self._p64 = packer(ram, "<Q")
        self._bind()

    # -- physical memory ------------------------------------------------------------
    def _pte_load(self, paddr: int) -> int:
        if self.ram_base <= paddr <= self.ram_end - 8:
            return self._u64(self.ram, paddr - self.ram_base)[0]
        raise GuestException(Cause.LOAD_ACCESS_FAULT, paddr)

    def _pte_store(self, paddr: int, value: int) -> None:
        if paddr >> 12 in self.code_pages:
            self.on_code_write(paddr >> 12)
        self._p64(self.ram, paddr - self.ram_base, value)

    def mark_code_page(self, page: int) -> None:
        """Translated code now comes from physical page `page`: revoke write access to it."""
        if page not in self.code_pages:
            self.code_pages.add(page)
            if self.linear_tlb is not None:
                self.linear_tlb.set_code_page(page, True)
            self.flush()

    def unmark_code_page(self, page: int) -> None:
        self.code_pages.discard(page)
        if self.linear_tlb is not None:
            self.linear_tlb.set_code_page(page, False)

    def before_ram_write(self, first_page: int, last_page: int) -> None:
        """Someone other than the hart (a device's DMA) is about to write these pages."""
        for page in range(first_page, last_page + 1):
            if page in self.code_pages:
                self.on_code_write(page)

    def phys_read(self, paddr: int, size: int, access: int = ACCESS_READ) -> int:
        if self.ram_base <= paddr <= self.ram_end - size:
            return int.from_bytes(self.ram[paddr - self.ram_base : paddr - self.ram_base + size],
                                  "little")  # fmt: skip
        if access == ACCESS_EXEC:
            raise GuestException(Cause.INSN_ACCESS_FAULT, paddr)
        try:
            return self.bus.read(paddr, size)
        except Exception:
            raise GuestException(ACCESS_FAULT[access], paddr) from None

    def phys_write(self, paddr: int, size: int, value: int) -> None:
        if paddr >> 12 in self.code_pages:
            self.on_code_write(paddr >> 12)
        if self.ram_base <= paddr <= self.ram_end - size:
            off = paddr - self.ram_base
            self.ram[off : off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return
        try:
            self.bus.write(paddr, size, value & ((1 << (8 * size)) - 1))
        except Exception:
            raise GuestException(Cause.STORE_ACCESS_FAULT, paddr) from None

    # -- translation ---------------------------------------------------------------------
    def flush(self) -> None:
        for t in self.tlb:
            t.clear()
        if self.linear_tlb is not None:
            self.linear_tlb.flush()

    def flush_page(self, vaddr: int) -> None:
        vpage = vaddr >> 12
        for t in self.tlb:
            t.pop(vpage, None)
        if self.linear_tlb is not None:
            self.linear_tlb.flush_page(vaddr)

    def translate(self, vaddr: int, access: int, mmu_idx: int) -> int:
        """Physical address for an access, filling the TLB for RAM pages."""
        paddr, prot = self.walker.translate(vaddr, access, mmu_idx)
        page = paddr & ~0xFFF
        if self.ram_base <= page and page + 0x1000 <= self.ram_end:
            if page >> 12 in self.code_pages:
                prot &= ~PTE_W
            self.tlb[mmu_idx][vaddr >> 12] = (page - self.ram_base, prot)
            if self.linear_tlb is not None:
                self.linear_tlb.fill(mmu_idx, vaddr, page - self.ram_base, prot)
        return paddr

    # -- the slow paths generated Wasm calls on a TLB miss ------------------------------------
    def slow_load(self, vaddr: int, memop: int, mmu_idx: int, pc: int) -> int:
        return self._slow_load(vaddr, 1 << (memop & 3), mmu_idx, pc, bool(memop & 4))

    def slow_store(self, vaddr: int, value: int, memop: int, mmu_idx: int, pc: int) -> None:
        self._slow_store(vaddr, 1 << (memop & 3), value, mmu_idx, pc)

    def fetch16(self, vaddr: int, mmu_idx: int) -> int:
        e = self.tlb[mmu_idx].get(vaddr >> 12)
        if e is not None and e[1] & PTE_X:
            return self._u16(self.ram, e[0] + (vaddr & 0xFFF))[0]
        return self.phys_read(self.translate(vaddr, ACCESS_EXEC, mmu_idx), 2, ACCESS_EXEC)

    def fetch_mapping(self, vaddr: int, mmu_idx: int) -> tuple[int, bool]:
        """The physical address of an instruction fetch, and whether its mapping is global
        (raises the fetch fault)."""
        e = self.tlb[mmu_idx].get(vaddr >> 12)
        if e is None or not e[1] & PTE_X:
            paddr = self.translate(vaddr, ACCESS_EXEC, mmu_idx)
            e = self.tlb[mmu_idx].get(vaddr >> 12)
            if e is None:  # not RAM: never cached, never global to the lookup
                return paddr, False
        return self.ram_base + e[0] + (vaddr & 0xFFF), bool(e[1] & PTE_G)

    def fetch_page(self, vaddr: int, mmu_idx: int) -> int:
        """The physical address of an instruction fetch (raises the fetch fault)."""
        e = self.tlb[mmu_idx].get(vaddr >> 12)
        if e is not None and e[1] & PTE_X:
            return self.ram_base + e[0] + (vaddr & 0xFFF)
        return self.translate(vaddr, ACCESS_EXEC, mmu_idx)

    def _slow_load(self, vaddr: int, size: int, mmu_idx: int, pc: int, signed: bool) -> int:
        try:
            if (vaddr & 0xFFF) + size > 0x1000:
                value = 0
                for k in range(size):
                    value |= self._slow_load((vaddr + k) & M64, 1, mmu_idx, pc, False) << (8 * k)
            else:
                value = self.phys_read(self.translate(vaddr, ACCESS_READ, mmu_idx), size)
        except GuestException as e:
            e.pc = pc
            raise
        if signed and value >> (8 * size - 1):
            value -= 1 << (8 * size)
        return value & M64

    def _slow_store(self, vaddr: int, size: int, value: int, mmu_idx: int, pc: int) -> None:
        try:
            if (vaddr & 0xFFF) + size > 0x1000:
                # Check every byte's page before writing any: a store is all or nothing.
                paddrs = [self.translate((vaddr + k) & M64, ACCESS_WRITE, mmu_idx)
                          for k in range(size)]  # fmt: skip
                for k, paddr in enumerate(paddrs):
                    self.phys_write(paddr, 1, value >> (8 * k))
            else:
                self.phys_write(self.translate(vaddr, ACCESS_WRITE, mmu_idx), size, value)
        except GuestException as e:
            e.pc = pc
            raise

    def _bind(self) -> None:
        # One closure per access type, as in user mode: these run per guest load/store.
        ram, tlb = self.ram, self.tlb
        slow_load, slow_store = self._slow_load, self._slow_store

        def make_loader(size: int, signed: bool) -> Callable[[int, int, int], int]:
            unpack = unpacker(ram, _FORMATS[size][1 if signed else 0])
            last = 0x1000 - size

            def load(a: int, pc: int, mmu: int = 0) -> int:
                e = tlb[mmu].get(a >> 12)
                if e is not None and e[1] & PTE_R and (a & 0xFFF) <= last:
                    return unpack(ram, e[0] + (a & 0xFFF))[0] & M64
                return slow_load(a, size, mmu, pc, signed)

            return load

        def make_storer(size: int) -> Callable[[int, int, int, int], None]:
            pack = packer(ram, _FORMATS[size][0])
            mask = (1 << (8 * size)) - 1
            last = 0x1000 - size

            def store(a: int, v: int, pc: int, mmu: int = 0) -> None:
                e = tlb[mmu].get(a >> 12)
                if e is not None and e[1] & PTE_W and (a & 0xFFF) <= last:
                    pack(ram, e[0] + (a & 0xFFF), v & mask)
                    return
                slow_store(a, size, v, mmu, pc)

            return store

        self.ld8u, self.ld8s = make_loader(1, False), make_loader(1, True)
        self.ld16u, self.ld16s = make_loader(2, False), make_loader(2, True)
        self.ld32u, self.ld32s = make_loader(4, False), make_loader(4, True)
        self.ld64 = make_loader(8, False)
        self.st8, self.st16 = make_storer(1), make_storer(2)
        self.st32, self.st64 = make_storer(4), make_storer(8)
