"""A RISC-V hart: its state, its translation cache, and the loop that runs TBs.

`run()` executes translated blocks until one reports a synchronous exception
(ecall included); the caller (user-mode runner or system board) handles it
and calls `run()` again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.backend.interp import InterpBackend
from engine.ir.core import Block
from engine.ir.optimize import optimize
from engine.target.riscv import state as st
from engine.target.riscv.exceptions import Cause, GuestException
from engine.target.riscv.translate import FetchFault, RiscvTranslator


class Stats:
    __slots__ = ("exits", "insns_translated", "tbs_translated")

    def __init__(self) -> None:
        self.tbs_translated = 0
        self.insns_translated = 0
        self.exits = 0


class RiscvCpu:
    def __init__(self, memory: Any, optimize_ir: bool = True) -> None:
        self.memory = memory
        self.state_buffer = bytearray(st.STATE_BYTES)
        self.state = memoryview(self.state_buffer).cast("Q")
        self.state[st.RES_ADDR] = st.NO_RESERVATION
        self.translator = RiscvTranslator(memory.fetch16)
        self.backend = InterpBackend(self, self.state, memory, st.PC)
        self.optimize_ir = optimize_ir
        self.tbs: dict[int, Callable[[], int]] = {}
        self.stats = Stats()

    # -- registers, for loaders and system calls ------------------------------------
    @property
    def pc(self) -> int:
        return self.state[st.PC]

    @pc.setter
    def pc(self, value: int) -> None:
        self.state[st.PC] = value & 0xFFFF_FFFF_FFFF_FFFF

    def x(self, r: int) -> int:
        return self.state[r]

    def set_x(self, r: int, value: int) -> None:
        if r:
            self.state[r] = value & 0xFFFF_FFFF_FFFF_FFFF

    # -- translation cache -------------------------------------------------------------
    def request_tb_flush(self) -> None:
        # Safe while a TB runs: its function stays alive until it returns.
        self.tbs.clear()

    def translate_block(self, pc: int) -> Block:
        block = self.translator.translate(pc)
        if self.optimize_ir:
            optimize(block)
        return block

    def _translate(self, pc: int) -> Callable[[], int]:
        block = self.translate_block(pc)
        fn = self.backend.compile(block)
        self.tbs[pc] = fn
        self.stats.tbs_translated += 1
        self.stats.insns_translated += block.n_insns
        return fn

    # -- execution -----------------------------------------------------------------------
    def _record_trap(self, exc: GuestException) -> None:
        state = self.state
        if exc.pc is not None:
            state[st.PC] = exc.pc
        state[st.EXC_CAUSE] = exc.cause
        state[st.EXC_TVAL] = exc.tval & 0xFFFF_FFFF_FFFF_FFFF

    def run(self) -> None:
        """Run until a synchronous exception; its cause and tval are in the state."""
        state = self.state
        get = self.tbs.get
        translate = self._translate
        try:
            while True:
                pc = state[st.PC]
                fn = get(pc)
                if fn is None:
                    try:
                        fn = translate(pc)
                    except FetchFault as e:
                        raise GuestException(Cause.INSN_ACCESS_FAULT, e.addr, pc) from None
                if fn():
                    self.stats.exits += 1
                    return
        except GuestException as exc:
            self.stats.exits += 1
            self._record_trap(exc)
