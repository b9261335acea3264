"""Placing a static ELF in a guest address space and building its initial stack.

The stack follows the Linux ABI for a new process: argc, argv pointers, NULL,
envp pointers, NULL, the auxiliary vector, then the strings and the 16 random
bytes of AT_RANDOM above them. sp is 16-byte aligned.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from engine.linux_user.address_space import PIE_BASE, AddressSpace, page_up
from engine.linux_user.elf import ElfError, ElfImage

AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE = 0, 3, 4, 5, 6, 7
AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID = 8, 9, 11, 12, 13, 14
AT_HWCAP, AT_CLKTCK, AT_SECURE, AT_RANDOM, AT_EXECFN = 16, 17, 23, 25, 31
# One bit per single-letter ISA extension, as Linux reports for RV64IMAFDC.
HWCAP_RV64GC = sum(1 << (ord(c) - ord("A")) for c in "IMAFDC")


@dataclass(frozen=True)
class LoadedProgram:
    entry: int
    sp: int
    brk: int


def load_segments(space: AddressSpace, elf: ElfImage) -> int:
    """Copy the PT_LOAD segments in; returns the load bias."""
    bias = PIE_BASE if elf.is_pie else 0
    end = 0
    for seg in elf.segments:
        start = seg.vaddr + bias
        if not space.contains(start, seg.memsz):
            raise ElfError(
                f"segment at {start:#x}+{seg.memsz:#x} does not fit the {space.size >> 20} MiB "
                "guest address space"
            )
        space.memory.write(start, elf.data[seg.offset : seg.offset + seg.filesz])
        end = max(end, start + seg.memsz)
    space.set_brk_start(page_up(end))
    return bias


def build_stack(
    space: AddressSpace,
    elf: ElfImage,
    bias: int,
    argv: list[bytes],
    envp: list[bytes],
    execfn: bytes,
    random_bytes: bytes | None = None,
) -> int:
    """Write argv, envp and auxv below the stack top; returns the initial sp."""
    mem = space.memory
    sp = space.stack_top

    def push_bytes(data: bytes) -> int:
        nonlocal sp
        sp -= len(data)
        mem.write(sp, data)
        return sp

    execfn_addr = push_bytes(execfn + b"\0")
    env_addrs = [push_bytes(e + b"\0") for e in reversed(envp)][::-1]
    arg_addrs = [push_bytes(a + b"\0") for a in reversed(argv)][::-1]
    sp &= ~15
    random_addr = push_bytes(random_bytes or os.urandom(16))
    sp &= ~15

    auxv = [
        (AT_PHDR, elf.phdr_address(bias)),
        (AT_PHENT, elf.phentsize),
        (AT_PHNUM, elf.phnum),
        (AT_PAGESZ, 4096),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, elf.entry + bias),
        (AT_UID, os.getuid() if hasattr(os, "getuid") else 0),
        (AT_EUID, os.geteuid() if hasattr(os, "geteuid") else 0),
        (AT_GID, os.getgid() if hasattr(os, "getgid") else 0),
        (AT_EGID, os.getegid() if hasattr(os, "getegid") else 0),
        (AT_HWCAP, HWCAP_RV64GC),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_EXECFN, execfn_addr),
        (AT_NULL, 0),
    ]
    words = [len(argv), *arg_addrs, 0, *env_addrs, 0]
    for key, value in auxv:
        words += [key, value]
    if len(words) % 2:
        words.append(0)  # keep sp 16-byte aligned
    sp -= 8 * len(words)
    mem.write(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp


def load_program(
    space: AddressSpace,
    elf: ElfImage,
    argv: list[bytes],
    envp: list[bytes],
    execfn: bytes,
    random_bytes: bytes | None = None,
) -> LoadedProgram:
    bias = load_segments(space, elf)
    sp = build_stack(space, elf, bias, argv, envp, execfn, random_bytes)
    return LoadedProgram(entry=elf.entry + bias, sp=sp, brk=space.brk)
