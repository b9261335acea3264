"""Synchronous exception causes (the mcause/scause encodings of the privileged spec)."""

from __future__ import annotations

from enum import IntEnum


class Cause(IntEnum):
    INSN_MISALIGNED = 0
    INSN_ACCESS_FAULT = 1
    ILLEGAL_INSTRUCTION = 2
    BREAKPOINT = 3
    LOAD_MISALIGNED = 4
    LOAD_ACCESS_FAULT = 5
    STORE_MISALIGNED = 6
    STORE_ACCESS_FAULT = 7
    ECALL_U = 8
    ECALL_S = 9
    ECALL_M = 11
    INSN_PAGE_FAULT = 12
    LOAD_PAGE_FAULT = 13
    STORE_PAGE_FAULT = 15


class GuestException(Exception):
    """A synchronous trap raised outside translated code (memory access, helper).

    `pc` is the address of the trapping instruction when the raiser knows it;
    otherwise the state's pc, which translators keep exact before any helper
    that may raise, is authoritative.
    """

    def __init__(self, cause: int, tval: int = 0, pc: int | None = None) -> None:
        super().__init__(f"{Cause(cause).name} tval={tval:#x}")
        self.cause = cause
        self.tval = tval
        self.pc = pc
