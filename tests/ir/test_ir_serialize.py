"""Serialized translation blocks come back identical, ready for either backend.

Blocks are translated from real code (busybox's text) and from a run of
privileged instructions, under user, supervisor and machine flags, with and
without optimization; each must survive dump/load with the same IR listing
and the same interpreter source.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from engine.backend.interp import InterpBackend
from engine.ir.optimize import optimize
from engine.ir.serialize import SerializeError, dump_block, load_block
from engine.target.riscv import state as st
from engine.target.riscv.translate import RiscvTranslator, tb_flags

# csrrw a0, sscratch, a0; csrr t0, satp; sfence.vma; wfi; fsd f1, 8(sp); sret
PRIVILEGED = struct.pack("<6I", 0x14051573, 0x180022F3, 0x12000073, 0x10500073,
                         0x00113427, 0x10200073)  # fmt: skip
FLAGS = [tb_flags(0, 0, 1), tb_flags(1, 1, 3), tb_flags(3, 3, 0)]


def translate_all(code: bytes, starts: list[int], flags: int) -> list:
    def fetch16(addr: int) -> int:
        if not 0 <= addr <= len(code) - 2:
            raise IndexError(addr)
        return code[addr] | code[addr + 1] << 8

    translator = RiscvTranslator(fetch16)
    blocks = []
    for pc in starts:
        try:
            blocks.append(translator.translate(pc, flags))
        except Exception:  # a fetch fault at a random start: no block
            continue
    return blocks


def text_of(elf: Path) -> bytes:
    data = elf.read_bytes()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    best = b""
    for i in range(shnum):
        sh = shoff + i * shentsize
        kind, flags = struct.unpack_from("<IQ", data, sh + 4)
        offset, size = struct.unpack_from("<QQ", data, sh + 0x18)
        if kind == 1 and flags & 4 and size > len(best):  # the largest executable PROGBITS
            best = data[offset : offset + size]
    return best


def roundtrip(block) -> None:
    backend = InterpBackend(None, memoryview(bytearray(st.STATE_BYTES)).cast("Q"), None, st.PC)
    again = load_block(dump_block(block))
    assert again.dump() == block.dump()
    assert (again.pc, again.n_insns, again.size, again.labels) == (
        block.pc, block.n_insns, block.size, block.labels,
    )  # fmt: skip
    assert backend.source(again) == backend.source(block)


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("optimized", [True, False])
def test_busybox_blocks_roundtrip(busybox_riscv64: Path, flags: int, optimized: bool) -> None:
    code = text_of(busybox_riscv64)
    starts = sorted(random.Random(flags).sample(range(0, len(code) - 64, 2), 300))
    blocks = translate_all(code, starts, flags)
    assert len(blocks) > 250
    for block in blocks:
        if optimized:
            optimize(block)
        roundtrip(block)


@pytest.mark.parametrize("flags", FLAGS)
def test_privileged_and_fp_blocks_roundtrip(flags: int) -> None:
    blocks = translate_all(PRIVILEGED, list(range(0, len(PRIVILEGED), 4)), flags)
    assert any("helper:" in b.dump() for b in blocks)
    for block in blocks:
        optimize(block)
        roundtrip(block)


def test_loaded_globals_are_shared_objects() -> None:
    [block] = translate_all(PRIVILEGED, [0], FLAGS[1])
    a, b = load_block(dump_block(block)), load_block(dump_block(block))
    globals_a = {id(v) for op in a.ops for v in op.args if getattr(v, "offset", None) is not None}
    globals_b = {id(v) for op in b.ops for v in op.args if getattr(v, "offset", None) is not None}
    assert globals_a and globals_a == globals_b


@pytest.mark.parametrize("data", [b"", b"garbage", dump_block.__doc__ and b"\x00" * 10])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(SerializeError):
        load_block(data)
