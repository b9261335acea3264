"""Guest memory for user mode: one flat buffer addressed directly by guest address.

Accessors check that the whole access lies inside [low, high) and raise
GuestException otherwise, so a wild pointer becomes the guest's access fault
(SIGSEGV for a user-mode program) rather than an error of the emulator.
The buffer can be any writable buffer: a bytearray, or a view of a Wasm
linear memory, so the interpreter and generated code share guest RAM.
"""

from __future__ import annotations

import struct

from engine.target.riscv.exceptions import Cause, GuestException

_U16 = struct.Struct("<H")
_S16 = struct.Struct("<h")
_U32 = struct.Struct("<I")
_S32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
M64 = 0xFFFF_FFFF_FFFF_FFFF


class FlatMemory:
    """Guest addresses [low, high) backed by buf[addr]; everything else faults."""

    def __init__(self, buf: bytearray | memoryview, low: int, high: int | None = None) -> None:
        self.buf = buf
        self.low = low
        self.high = len(buf) if high is None else high
        self._bind()

    def _bind(self) -> None:
        # The accessors close over locals: they run once per guest load/store.
        # `mmu` is the access's MMU index; user mode has a single flat space.
        buf, low, high = self.buf, self.low, self.high
        u16, s16 = _U16.unpack_from, _S16.unpack_from
        u32, s32, u64 = _U32.unpack_from, _S32.unpack_from, _U64.unpack_from
        p16, p32, p64 = _U16.pack_into, _U32.pack_into, _U64.pack_into

        def fault(addr: int, pc: int, write: bool) -> GuestException:
            cause = Cause.STORE_ACCESS_FAULT if write else Cause.LOAD_ACCESS_FAULT
            return GuestException(cause, addr, pc)

        def ld8u(a: int, pc: int, mmu: int = 0) -> int:
            if low <= a < high:
                return buf[a]
            raise fault(a, pc, False)

        def ld8s(a: int, pc: int, mmu: int = 0) -> int:
            if low <= a < high:
                v = buf[a]
                return v | 0xFFFF_FFFF_FFFF_FF00 if v & 0x80 else v
            raise fault(a, pc, False)

        def ld16u(a: int, pc: int, mmu: int = 0) -> int:
            if low <= a <= high - 2:
                return u16(buf, a)[0]
            raise fault(a, pc, False)

        def ld16s(a: int, pc: int, mmu: int = 0) -> int:
            if low <= a <= high - 2:
                return s16(buf, a)[0] & M64
            raise fault(a, pc, False)

        def ld32u(a: int, pc: int, mmu: int = 0) -> int:
            if low <= a <= high - 4:
                return u32(buf, a)[0]
            raise fault(a, pc, False)

        def ld32s(a: int, pc: int, mmu: int = 0) -> int:
            if low <= a <= high - 4:
                return s32(buf, a)[0] & M64
            raise fault(a, pc, False)

        def ld64(a: int, pc: int, mmu: int = 0) -> int:
            if low <= a <= high - 8:
                return u64(buf, a)[0]
            raise fault(a, pc, False)

        def st8(a: int, v: int, pc: int, mmu: int = 0) -> None:
            if low <= a < high:
                buf[a] = v & 0xFF
                return
            raise fault(a, pc, True)

        def st16(a: int, v: int, pc: int, mmu: int = 0) -> None:
            if low <= a <= high - 2:
                p16(buf, a, v & 0xFFFF)
                return
            raise fault(a, pc, True)

        def st32(a: int, v: int, pc: int, mmu: int = 0) -> None:
            if low <= a <= high - 4:
                p32(buf, a, v & 0xFFFF_FFFF)
                return
            raise fault(a, pc, True)

        def st64(a: int, v: int, pc: int, mmu: int = 0) -> None:
            if low <= a <= high - 8:
                p64(buf, a, v)
                return
            raise fault(a, pc, True)

        self.ld8u, self.ld8s, self.ld16u, self.ld16s = ld8u, ld8s, ld16u, ld16s
        self.ld32u, self.ld32s, self.ld64 = ld32u, ld32s, ld64
        self.st8, self.st16, self.st32, self.st64 = st8, st16, st32, st64

    def fetch16(self, addr: int) -> int:
        if self.low <= addr <= self.high - 2:
            return _U16.unpack_from(self.buf, addr)[0]
        raise GuestException(Cause.INSN_ACCESS_FAULT, addr)

    # -- bulk access for the loader and system calls -----------------------------
    def check(self, addr: int, size: int, write: bool = False) -> None:
        if size and not (self.low <= addr and addr + size <= self.high):
            cause = Cause.STORE_ACCESS_FAULT if write else Cause.LOAD_ACCESS_FAULT
            raise GuestException(cause, addr)

    def read(self, addr: int, size: int) -> bytes:
        self.check(addr, size)
        return bytes(self.buf[addr : addr + size])

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        self.check(addr, len(data), write=True)
        self.buf[addr : addr + len(data)] = data

    def fill(self, addr: int, size: int, byte: int = 0) -> None:
        self.check(addr, size, write=True)
        view = memoryview(self.buf)
        chunk = bytes([byte]) * min(size, 1 << 20)
        for off in range(addr, addr + size, max(len(chunk), 1)):
            n = min(len(chunk), addr + size - off)
            view[off : off + n] = chunk[:n]

    def read_cstring(self, addr: int, limit: int = 1 << 16) -> bytes:
        end = min(self.high, addr + limit)
        self.check(addr, 1)
        buf = self.buf
        if isinstance(buf, bytearray):
            i = buf.find(0, addr, end)
        else:
            i = bytes(buf[addr:end]).find(0)
            i = -1 if i < 0 else addr + i
        if i < 0:
            raise GuestException(Cause.LOAD_ACCESS_FAULT, end)
        return bytes(buf[addr:i])

    def read_u64(self, addr: int) -> int:
        return self.ld64(addr, 0)

    def write_u64(self, addr: int, value: int) -> None:
        self.st64(addr, value & M64, 0)
