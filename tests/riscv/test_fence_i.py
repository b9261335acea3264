"""fence.i as translated: it always ends its TB, and only user mode calls the host.

System mode discards a page's TBs when a store hits it, so by the time a
fence.i runs nothing stale is left: a helper call there would be a round
trip to Python that does nothing (Linux issues tens of thousands per boot).
User mode does not watch code pages; its fence.i drops the translations.
"""

from __future__ import annotations

import struct

from engine.ir.core import Opc
from engine.target.riscv.system import flush_icache
from engine.target.riscv.translate import RiscvTranslator, tb_flags

# fence.i; addi a0, a0, 1
CODE = struct.pack("<2I", 0x0000100F, 0x00150513)


def translate(flags: int | None):
    translator = RiscvTranslator(lambda addr: CODE[addr] | CODE[addr + 1] << 8)
    return translator.translate(0, flags)


def helpers_called(block) -> list[str]:
    return [op.args[0].name for op in block.ops if op.opc == Opc.CALL]


def test_user_mode_fence_i_flushes_the_translations() -> None:
    block = translate(None)
    assert helpers_called(block) == [flush_icache.name]
    assert block.n_insns == 1


def test_system_mode_fence_i_ends_the_block_without_a_host_call() -> None:
    for priv in (0, 1, 3):
        block = translate(tb_flags(priv, priv, 1))
        assert helpers_called(block) == []
        assert block.n_insns == 1  # the next instruction starts a fresh lookup
        assert [op.args[0] for op in block.ops if op.opc == Opc.GOTO_TB] == [4]
