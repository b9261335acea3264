"""Reading static riscv64 ELF executables (ET_EXEC and static-pie ET_DYN)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

EM_RISCV = 243
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_PHDR = 1, 3, 6
PF_X, PF_W, PF_R = 1, 2, 4


class ElfError(Exception):
    """The file cannot be run; the message says why and what to do instead."""


@dataclass(frozen=True)
class Segment:
    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int


@dataclass(frozen=True)
class ElfImage:
    entry: int
    type: int
    phoff: int
    phentsize: int
    phnum: int
    segments: tuple[Segment, ...]
    phdr_vaddr: int | None  # from PT_PHDR, when present
    data: bytes

    @property
    def is_pie(self) -> bool:
        return self.type == ET_DYN

    def phdr_address(self, bias: int) -> int:
        """Where the program headers are in guest memory once loaded at `bias`."""
        if self.phdr_vaddr is not None:
            return self.phdr_vaddr + bias
        for seg in self.segments:
            if seg.offset <= self.phoff < seg.offset + seg.filesz:
                return seg.vaddr + (self.phoff - seg.offset) + bias
        return 0


def parse_elf(data: bytes, name: str = "program") -> ElfImage:
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise ElfError(f"{name}: not an ELF executable")
    if data[4] != 2 or data[5] != 1:
        raise ElfError(
            f"{name}: not a 64-bit little-endian ELF file; wasmemu runs riscv64 programs"
        )
    (e_type, e_machine) = struct.unpack_from("<HH", data, 16)
    if e_machine != EM_RISCV:
        raise ElfError(
            f"{name}: ELF machine {e_machine} is not RISC-V (243); "
            "build it for riscv64, e.g. with riscv64-linux-gnu-gcc -static"
        )
    if e_type not in (ET_EXEC, ET_DYN):
        raise ElfError(f"{name}: ELF type {e_type} is not an executable")
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    if phentsize < 56 or phoff + phnum * phentsize > len(data):
        raise ElfError(f"{name}: truncated or corrupt program headers")
    segments = []
    phdr_vaddr = None
    for k in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz = struct.unpack_from(
            "<IIQQQQQ", data, phoff + k * phentsize
        )
        if p_type == PT_INTERP:
            raise ElfError(
                f"{name}: dynamically linked; wasmemu user runs static executables "
                "(link with -static, or use a static build such as busybox-static)"
            )
        if p_type == PT_PHDR:
            phdr_vaddr = p_vaddr
        if p_type == PT_LOAD and p_memsz:
            if p_offset + p_filesz > len(data) or p_filesz > p_memsz:
                raise ElfError(f"{name}: truncated or corrupt segment {k}")
            segments.append(Segment(p_vaddr, p_memsz, p_offset, p_filesz, p_flags))
    if not segments:
        raise ElfError(f"{name}: no loadable segments")
    return ElfImage(entry, e_type, phoff, phentsize, phnum, tuple(segments), phdr_vaddr, data)
