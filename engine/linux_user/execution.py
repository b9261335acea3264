"""How a user-mode process executes: the linear memory layout and the chosen tier.

One layout serves every tier, so the interpreter and generated Wasm see the
same bytes:

    0x0000_1000   CPU state (below the guest's lowest address, out of its reach)
    0x0001_0000   guest addresses LOW .. size (guest address = linear offset)
    size          the Wasm tier's TB lookup table

With a Wasm tier the buffer is the Wasm linear memory itself (memory64 for
wasm64, a 32-bit memory for wasm32); otherwise an anonymous host mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.linux_user.address_space import LOW, AddressSpace, _allocate_buffer
from engine.target.riscv import state as st
from engine.target.riscv.cpu import RiscvCpu, TierConfig

STATE_BASE = 0x1000
WASM_MODES = ("wasm64", "wasm32")


@dataclass(frozen=True)
class ExecutionOptions:
    tier: TierConfig = field(default_factory=TierConfig)
    wasm: str = "wasm64"


def _lookup_bytes() -> int:
    from engine.backend.wasm.jit import LOOKUP_BYTES

    return LOOKUP_BYTES


def create_process_image(
    size: int, options: ExecutionOptions, optimize: bool = True
) -> tuple[AddressSpace, RiscvCpu]:
    """A fresh address space of `size` bytes and a hart bound to it."""
    if options.tier.tier == "interp":
        buffer = _allocate_buffer(size + 0x10000)
        space = AddressSpace(size, buffer)
        state = memoryview(buffer)[STATE_BASE : STATE_BASE + st.STATE_BYTES].cast("Q")
        return space, RiscvCpu(space.memory, state, optimize, options.tier)

    from engine.backend.wasm.codegen import Layout
    from engine.backend.wasm.jit import WasmJit
    from engine.host.choice import create_host

    memory64 = options.wasm == "wasm64"
    total = size + _lookup_bytes()
    if not memory64 and total > 1 << 32:
        raise ValueError("wasm32 addresses at most 4 GiB: choose a smaller -R or --wasm wasm64")
    host = create_host(memory64)
    memory = host.create_memory((total + 0xFFFF) >> 16, memory64)
    view = host.memory_view(memory)
    base = host.memory_address(memory)  # guest address 0 as generated code sees it
    space = AddressSpace(size, view)
    state = view[STATE_BASE : STATE_BASE + st.STATE_BYTES].cast("Q")
    # Nothing compiled in user mode outlives the process: the base is baked in.
    layout = Layout(
        memory64=memory64, state_base=STATE_BASE, guest_base=0, guest_low=LOW,
        guest_high=size,
        pc_slot=st.PC, cause_slot=st.EXC_CAUSE, tval_slot=st.EXC_TVAL,
        budget_slot=st.DISPATCH_BUDGET, epoch_slot=st.LOOKUP_EPOCH, lookup_base=size,
        base=base,
    )  # fmt: skip
    holder: dict[str, Any] = {}
    jit = WasmJit(host, memory, layout, env=_Deferred(holder))
    cpu = RiscvCpu(space.memory, state, optimize, options.tier, jit)
    holder["cpu"] = cpu
    return space, cpu


class _Deferred:
    """The helpers' env before the CPU exists: forwards attribute access to it."""

    def __init__(self, holder: dict[str, Any]) -> None:
        self._holder = holder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._holder["cpu"], name)
