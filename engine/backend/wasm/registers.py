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
them. Globals a block only writes, or touches too seldom for a local to pay
(RegisterPlan), are accessed in memory as they come.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.ir.core import DST_POSITION, INPUT_SLICE, Block, Helper, HelperFlags, Temp

if TYPE_CHECKING:
    from engine.backend.wasm.codegen import Layout

# A call with any of these may look at or change registers through the state.
SYNC_BEFORE = HelperFlags.READS_STATE | HelperFlags.WRITES_STATE | HelperFlags.MAY_RAISE
MIN_ACCESSES = 3  # reads and writes of a global in a block, for it to be cached


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
    """The globals of one block kept in locals (`cached`), and those of them it writes.

    A global pays its way in a local when the block accesses it three times or
    more, or loops on itself (then every round reuses the local): read once
    and written once, it costs a load and a store either way, and each cached
    global is one more value the engine must keep alive, across calls too.
    """

    __slots__ = ("cached", "written")

    def __init__(self, block: Block, fixed: frozenset[int], loops: bool = False) -> None:
        reads: dict[int, int] = {}
        writes: dict[int, int] = {}
        for op in block.ops:
            args = op.args
            where = INPUT_SLICE.get(op.opc)
            if where is not None:
                for v in args[where]:
                    if v.__class__ is Temp and v.is_global and v.offset not in fixed:
                        reads[v.offset] = reads.get(v.offset, 0) + 1
            position = DST_POSITION.get(op.opc)
            if position is not None:
                dst = args[position]
                if dst is not None and dst.is_global and dst.offset not in fixed:
                    writes[dst.offset] = writes.get(dst.offset, 0) + 1
        least = 1 if loops else MIN_ACCESSES
        self.cached: tuple[int, ...] = tuple(
            sorted(g for g, n in reads.items() if n + writes.get(g, 0) >= least)
        )
        self.written: frozenset[int] = frozenset(writes).intersection(self.cached)


def call_syncs(helper: Helper) -> tuple[bool, bool]:
    """For a call of helper: (store cached registers before it, load them again after it)."""
    return bool(helper.flags & SYNC_BEFORE), bool(helper.flags & HelperFlags.WRITES_STATE)
