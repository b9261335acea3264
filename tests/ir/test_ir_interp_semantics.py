"""Both Python tiers compute every pure op exactly as engine.ir.semantics specifies: the
interpreter's generated functions and the IR evaluator that runs a block's first runs."""

from __future__ import annotations

import random

import pytest

from engine.backend.interp import InterpBackend
from engine.ir import semantics
from engine.ir.builder import Builder, make_global
from engine.ir.core import BINARY_OPS, Cond, ExtKind, Opc, Type

EDGE = [0, 1, 2, 0x7F, 0x80, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32,
        (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 2, 63, 64, 31, 32]  # fmt: skip
SLOTS = 8


def values(rng: random.Random, n: int) -> list[int]:
    return [rng.choice(EDGE) if rng.random() < 0.5 else rng.getrandbits(64) for _ in range(n)]


class Harness:
    """Runs a one-op TB reading globals a, b and writing global d, as a generated
    function or on the evaluator."""

    def __init__(self, runner: str) -> None:
        self.runner = runner
        self.buf = bytearray(SLOTS * 8)
        self.state = memoryview(self.buf).cast("Q")
        self.a, self.b, self.d = (make_global(n, 8 * (i + 1)) for i, n in enumerate("abd"))

    def run(self, build, a: int, b: int) -> int:
        builder = Builder(0)
        build(builder, self.a, self.b, self.d)
        builder.goto_tb(0)
        backend = InterpBackend(None, self.state, None, 0)
        self.state[1], self.state[2] = a, b
        if self.runner == "function":
            backend.compile(builder.block)()
        else:
            backend.evaluate(builder.block)
        return self.state[3]


@pytest.fixture(params=["function", "evaluator"])
def h(request: pytest.FixtureRequest) -> Harness:
    return Harness(request.param)


def _div_ok(opc: Opc, a: int, b: int, bits: int) -> bool:
    try:
        semantics.binary(opc, a, b, Type.I64 if bits == 64 else Type.I32)
    except ArithmeticError:
        return False
    return True


@pytest.mark.parametrize("opc", sorted(BINARY_OPS), ids=lambda o: o.name)
@pytest.mark.parametrize("type", [Type.I64, Type.I32], ids=["i64", "i32"])
def test_binary_ops_match_the_reference(opc: Opc, type: Type, h: Harness) -> None:
    rng = random.Random(opc * 7 + type)

    def build(bld: Builder, a, b, d) -> None:
        if type == Type.I32:
            ta, tb = bld.trunc_i64_i32(a), bld.trunc_i64_i32(b)
            bld.mov(d, bld.extu_i32_i64(bld.binary(opc, ta, tb, Type.I32)))
        else:
            bld.mov(d, bld.binary(opc, a, b, Type.I64))

    fn_cache = None
    for a, b in zip(values(rng, 200), values(rng, 200), strict=True):
        if not _div_ok(opc, a, b, type.bits):
            continue
        expected = semantics.binary(opc, a, b, type)
        fn_cache = h.run(build, a, b)
        assert fn_cache == expected, f"{opc.name} {a:#x} {b:#x}"


@pytest.mark.parametrize("cond", list(Cond), ids=lambda c: c.name)
def test_setcond_and_movcond_match_the_reference(cond: Cond, h: Harness) -> None:
    rng = random.Random(cond)
    for a, b in zip(values(rng, 100), values(rng, 100), strict=True):
        want = int(semantics.compare(cond, a, b, 64))
        assert h.run(lambda bl, x, y, d: bl.mov(d, bl.setcond(cond, x, y)), a, b) == want
        got = h.run(lambda bl, x, y, d: bl.mov(d, bl.movcond(cond, x, y, 11, 22)), a, b)
        assert got == (11 if want else 22)


@pytest.mark.parametrize("kind", list(ExtKind), ids=lambda k: k.name)
def test_extensions_match_the_reference(kind: ExtKind, h: Harness) -> None:
    for a in EDGE:
        assert h.run(lambda bl, x, y, d: bl.mov(d, bl.ext(x, kind)), a, 0) == semantics.extend(
            kind, a
        )


def test_constants_in_any_operand_position(h: Harness) -> None:
    assert h.run(lambda bl, x, y, d: bl.mov(d, bl.sub(5, x)), 7, 0) == (5 - 7) & ((1 << 64) - 1)
    assert h.run(lambda bl, x, y, d: bl.mov(d, bl.sar(1 << 63, x)), 3, 0) == 0xF000_0000_0000_0000
