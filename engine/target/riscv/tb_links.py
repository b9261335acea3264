"""Which TBs of a batch may call each other directly in Wasm, and when a reused
function's direct calls still hold.

A TB exit to a constant pc normally tail-calls the module's chain function,
which finds the next TB in the lookup tables; that lookup is most of a chain's
cost. An exit may instead call the next TB's function directly when that TB is
in the same batch, on the same virtual page, and was translated from the same
physical page under the same flags: whatever mapping made the first TB the
right one for its pc makes the second the right one for its own (the page and
the flags are the same), and whatever could change that drops lookup entries,
which the generated code notices (FunctionCompiler.call_linked).

A compiled function is also reused for another TB with the same bytes at the
same pc (the translation cache's key), possibly on another physical page or in a
later run. There every TB it reaches through direct calls, its callees' callees
too, must have its bytes, or a direct call would run the wrong code:
`links_hold` checks that before reuse.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from engine.ir.core import Block, Opc
from engine.target.riscv.state import GLOBALS
from engine.target.riscv.translate import crosses_page
from engine.tcache import BlockKey, code_digest

TB_FLAGS_OFFSET = GLOBALS.tb_flags.offset


def exit_targets(block: Block) -> list[int]:
    """The constant pcs the block's last instruction (the one that ends it) jumps to,
    unless that instruction may change what the next TB is looked up under.

    An instruction that changes the TB flags (a write to sstatus.SUM or FS) or
    calls a helper (which may write satp, the privilege, or anything else the
    lookup depends on) ends its TB so that the next one is looked up under the
    new state; a direct call would run the TB translated under the old one.
    """
    targets = []
    for op in reversed(block.ops):
        if op.opc is Opc.INSN_START:
            break
        if op.opc is Opc.CALL or (op.dst is not None and op.dst.offset == TB_FLAGS_OFFSET):
            return []
        if op.opc is Opc.GOTO_TB and op.args[0] != block.pc:  # a loop stays in its function
            targets.append(op.args[0])
    return targets


def same_page_links(
    blocks: Sequence[Block], origins: Sequence[Hashable | None]
) -> list[dict[int, int]]:
    """For each block, {pc it exits to: index of the batch's block it may call there}.

    origins[i] names where block i was translated from (its physical page and
    flags), or is None for a block that must not be linked either way.
    """
    # A block whose instruction straddles two pages is no callee: its second page
    # may be mapped anew while the caller's stays (SystemCpu._lookup).
    where = {(origin, b.pc): j for j, (b, origin) in enumerate(zip(blocks, origins, strict=True))
             if origin is not None and not crosses_page(b.pc, b.size)}  # fmt: skip
    links: list[dict[int, int]] = []
    for block, origin in zip(blocks, origins, strict=True):
        found = {}
        if origin is not None:
            for pc in exit_targets(block):
                j = where.get((origin, pc))
                if j is not None and pc >> 12 == block.pc >> 12:
                    found[pc] = j
        links.append(found)
    return links


def reachable(direct: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """For each function of a module, given the functions each calls directly
    (`direct[i]`, indices into the module), every function a call to it may run
    through direct calls alone: a callee's own direct calls go on without a lookup."""
    closures = []
    for start in range(len(direct)):
        seen: set[int] = set()
        todo = list(direct[start])
        while todo:
            j = todo.pop()
            if j not in seen:
                seen.add(j)
                todo.extend(direct[j])
        closures.append(tuple(sorted(seen)))
    return closures


def links_hold(
    callees: Sequence[BlockKey | None], paddr: int, code_at: Callable[[int, int], bytes | None]
) -> bool:
    """Whether a function that may run the blocks `callees` through direct calls (all
    of them: `reachable`) may run a TB whose code is at physical address `paddr`:
    each callee's bytes are on that page, at its pc's offset (code_at(paddr, size)
    reads guest code, None if it cannot)."""
    page = paddr & ~0xFFF
    for key in callees:
        if key is None:
            return False  # made without a key: nothing to check against
        vpc, _flags, size, digest = key
        current = code_at(page | (vpc & 0xFFF), size)
        if current is None or code_digest(current) != digest:
            return False
    return True
