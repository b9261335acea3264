"""Generated Wasm computes every IR op as engine.ir.semantics specifies, in both address modes."""

from __future__ import annotations

import random

import pytest

from engine.ir import semantics
from engine.ir.builder import Builder, make_global
from engine.ir.core import BINARY_OPS, Cond, ExtKind, MemOp, Opc, Type
from engine.linux_user.execution import ExecutionOptions, create_process_image
from engine.target.riscv.cpu import TierConfig

EDGE = [0, 1, 2, 0x7F, 0x80, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32,
        (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 2, 63, 64, 31, 32]  # fmt: skip
PC = 0x10000
A, B, D = (make_global(n, 8 * (i + 1)) for i, n in enumerate("abd"))


class WasmHarness:
    """Compiles one-op TBs reading globals a, b and writing d, and runs them via the dispatcher."""

    def __init__(self, mode: str) -> None:
        options = ExecutionOptions(TierConfig(tier="wasm"), mode)
        self.space, self.cpu = create_process_image(64 << 20, options)
        self.jit = self.cpu.jit

    def run_many(self, build, pairs: list[tuple[int, int]]) -> list[int]:
        b = Builder(PC)
        build(b, A, B, D)
        b.goto_tb(PC + 4)
        (slot,) = self.jit.compile([b.block])
        self.jit.clear_lookup()
        self.jit.set_lookup(PC, slot)
        s = self.cpu.state
        out = []
        for a, bv in pairs:
            s[1], s[2], s[32] = a, bv, PC
            self.jit.run(1)
            out.append(s[3])
        return out


@pytest.fixture(scope="module", params=["wasm64", "wasm32"])
def harness(request: pytest.FixtureRequest) -> WasmHarness:
    return WasmHarness(request.param)


def values(rng: random.Random, n: int) -> list[int]:
    return [rng.choice(EDGE) if rng.random() < 0.5 else rng.getrandbits(64) for _ in range(n)]


def _valid(opc: Opc, a: int, b: int, type: Type) -> bool:
    try:
        semantics.binary(opc, a, b, type)
    except ArithmeticError:
        return False
    return True


@pytest.mark.parametrize("opc", sorted(BINARY_OPS), ids=lambda o: o.name)
@pytest.mark.parametrize("type", [Type.I64, Type.I32], ids=["i64", "i32"])
def test_binary_ops(harness: WasmHarness, opc: Opc, type: Type) -> None:
    rng = random.Random(opc * 7 + type)
    pairs = [(a, b) for a, b in zip(values(rng, 150), values(rng, 150), strict=True)]
    pairs = [(a, b) for a, b in pairs if _valid(opc, a, b, type)]

    def build(bl: Builder, a, b, d) -> None:
        if type == Type.I32:
            ta, tb = bl.trunc_i64_i32(a), bl.trunc_i64_i32(b)
            bl.mov(d, bl.extu_i32_i64(bl.binary(opc, ta, tb, Type.I32)))
        else:
            bl.mov(d, bl.binary(opc, a, b, Type.I64))

    got = harness.run_many(build, pairs)
    want = [semantics.binary(opc, a, b, type) for a, b in pairs]
    assert got == want


@pytest.mark.parametrize("cond", list(Cond), ids=lambda c: c.name)
def test_setcond_movcond_and_brcond(harness: WasmHarness, cond: Cond) -> None:
    rng = random.Random(cond)
    pairs = list(zip(values(rng, 60), values(rng, 60), strict=True))
    want = [int(semantics.compare(cond, a, b, 64)) for a, b in pairs]
    assert harness.run_many(lambda bl, a, b, d: bl.mov(d, bl.setcond(cond, a, b)), pairs) == want
    got = harness.run_many(lambda bl, a, b, d: bl.mov(d, bl.movcond(cond, a, b, 7, 9)), pairs)
    assert got == [7 if w else 9 for w in want]

    def branchy(bl: Builder, a, b, d) -> None:
        taken = bl.label()
        bl.mov(d, 100)
        bl.brcond(cond, a, b, taken)
        bl.mov(d, 200)
        bl.set_label(taken)

    assert harness.run_many(branchy, pairs) == [100 if w else 200 for w in want]


@pytest.mark.parametrize("kind", list(ExtKind), ids=lambda k: k.name)
def test_extensions(harness: WasmHarness, kind: ExtKind) -> None:
    pairs = [(a, 0) for a in EDGE]
    got = harness.run_many(lambda bl, a, b, d: bl.mov(d, bl.ext(a, kind)), pairs)
    assert got == [semantics.extend(kind, a) for a, _ in pairs]


@pytest.mark.parametrize(
    "memop", [MemOp.SIZE_8, MemOp.SIZE_8 | MemOp.SIGN, MemOp.SIZE_16 | MemOp.SIGN,
              MemOp.SIZE_32, MemOp.SIZE_32 | MemOp.SIGN, MemOp.SIZE_64],
)  # fmt: skip
def test_guest_store_then_load(harness: WasmHarness, memop: MemOp) -> None:
    addr = 0x20000

    def build(bl: Builder, a, b, d) -> None:
        bl.store(a, addr + 3, MemOp(memop & 3))
        bl.mov(d, bl.load(addr + 3, memop))

    got = harness.run_many(build, [(v, 0) for v in EDGE])
    bits = 8 * memop.size
    for v, g in zip(EDGE, got, strict=True):
        low = v & ((1 << bits) - 1)
        want = (
            semantics.extend({8: ExtKind.S8, 16: ExtKind.S16, 32: ExtKind.S32}[bits], low)
            if memop.signed and bits < 64
            else low
        )
        assert g == want
