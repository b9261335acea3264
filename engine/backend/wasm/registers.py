"""Which guest registers a TB function keeps in Wasm locals while it runs.

Reading an IR global from the state in linear memory costs a load, and on a
64-bit memory a bounds check with it, at every use; a Wasm local costs
nothing once the engine has allocated it a register. So a TB function loads
each global it reads into a local once at entry, works on the local, and
stores the ones it wrote back wherever control leaves it or something else
may look at the state:

- at every exit to the next TB or the dispatcher, which read the state;
- before a guest access fault returns, and before a call that may read the
  state or raise (a raise unwinds the function, locals and all);
- after a call that may write the state, the locals are loaded again.

Globals the generated code itself reads or writes outside the IR (the pc,
the trap registers, the dispatcher's budget and epoch, the softmmu's flags,
exit request, satp and mstatus) always live in memory: `fixed_offsets` names
them. Globals a block only writes are stored directly: holding them in a
local would add a load at entry and save nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.ir.core import Block, HelperFlags, Op, Opc, Temp

if TYPE_CHECKING:
    from engine.backend.wasm.codegen import Layout

# A call with any of these may look at or change registers through the state.
SYNC_BEFORE = HelperFlags.READS_STATE | HelperFlags.WRITES_STATE | HelperFlags.MAY_RAISE


def fixed_offsets(layout: Layout) -> frozenset[int]:
    """State offsets generated code accesses directly, which must never be cached."""
    slots = {
        layout.pc_slot, layout.cause_slot, layout.tval_slot, layout.budget_slot,
        layout.epoch_slot,
    }  # fmt: skip
    sm = layout.softmmu
    if sm is not None:
        slots |= {sm.flags_slot, sm.exit_slot, sm.satp_slot, sm.mstatus_slot}
    return frozenset(slot * 8 for slot in slots)


class RegisterPlan:
    """The globals of one block kept in locals (`cached`), and those of them it writes."""

    __slots__ = ("cached", "written")

    def __init__(self, block: Block, fixed: frozenset[int]) -> None:
        read: set[int] = set()
        wrote: set[int] = set()
        for op in block.ops:
            for v in op.inputs():
                if isinstance(v, Temp) and v.is_global and v.offset not in fixed:
                    read.add(v.offset)
            dst = op.dst
            if dst is not None and dst.is_global and dst.offset not in fixed:
                wrote.add(dst.offset)
        self.cached: tuple[int, ...] = tuple(sorted(read))
        self.written: frozenset[int] = frozenset(read & wrote)


def call_syncs(op: Op) -> tuple[bool, bool]:
    """For a CALL: (store cached registers before it, load them again after it)."""
    assert op.opc == Opc.CALL
    flags = op.args[0].flags
    return bool(flags & SYNC_BEFORE), bool(flags & HelperFlags.WRITES_STATE)
