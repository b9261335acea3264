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
later run. There the TBs it calls directly must have their bytes too, or the
direct call would run the wrong code: `links_hold` checks that before reuse.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from engine.ir.core import Block, Opc
from engine.tcache import BlockKey, code_digest


def exit_targets(block: Block) -> list[int]:
    """The constant pcs the block's last instruction (the one that ends it) jumps to."""
    targets = []
    for op in reversed(block.ops):
        if op.opc is Opc.INSN_START:
            break
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
    where = {(origin, b.pc): j for j, (b, origin) in enumerate(zip(blocks, origins, strict=True))
             if origin is not None}  # fmt: skip
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


def links_hold(
    callees: Sequence[BlockKey | None], paddr: int, code_at: Callable[[int, int], bytes | None]
) -> bool:
    """Whether a function that calls the blocks `callees` directly may run a TB whose
    code is at physical address `paddr`: each callee's bytes are on that page, at its
    pc's offset (code_at(paddr, size) reads guest code, None if it cannot)."""
    page = paddr & ~0xFFF
    for key in callees:
        if key is None:
            return False  # made without a key: nothing to check against
        vpc, _flags, size, digest = key
        current = code_at(page | (vpc & 0xFFF), size)
        if current is None or code_digest(current) != digest:
            return False
    return True
