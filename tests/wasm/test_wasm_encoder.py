"""The Wasm encoder writes modules wasmtime validates and runs as intended."""

from __future__ import annotations

import pytest

from engine.backend.wasm.encoder import Code, Module, Op, ValType, sleb, uleb
from engine.host.wasmtime_host import WasmtimeHost


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (624485, b"\xe5\x8e\x26"),
     (1 << 63, b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")],
)  # fmt: skip
def test_unsigned_leb128(n: int, encoded: bytes) -> None:
    assert uleb(n) == encoded


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, b"\x00"), (-1, b"\x7f"), (63, b"\x3f"), (64, b"\xc0\x00"), (-64, b"\x40"),
     (-65, b"\xbf\x7f"), (-123456, b"\xc0\xbb\x78"), (-(1 << 63), b"\x80" * 9 + b"\x7f")],
)  # fmt: skip
def test_signed_leb128(n: int, encoded: bytes) -> None:
    assert sleb(n) == encoded


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(5, b"\x42\x05"), (-1, b"\x42\x7f"), ((1 << 64) - 1, b"\x42\x7f"),
     (1 << 64, b"\x42\x00"), (0xFFFF_FFFF_8000_0000, b"\x42\x80\x80\x80\x80\x78")],
)  # fmt: skip
def test_i64_constants_wrap_to_64_bits_and_encode_alike_every_time(
    value: int, encoded: bytes
) -> None:
    # The encoder keeps each constant's bytes: the second encoding must be the first.
    assert Code().i64_const(value).bytes() == encoded
    assert Code().i64_const(value).i64_const(value).bytes() == encoded * 2


@pytest.mark.parametrize("index", [0, 127, 128, 300])
def test_local_get_and_set_take_a_leb128_index(index: int) -> None:
    assert Code().get(index).set(index).bytes() == b"\x20" + uleb(index) + b"\x21" + uleb(index)


def _run_binary(op: Op, a: int, b: int, memory64: bool = True) -> int:
    host = WasmtimeHost(memory64=memory64)
    m = Module()
    t = m.type((ValType.I64, ValType.I64), (ValType.I64,))
    f = m.function(t, [], Code().get(0).get(1).op(op).op(Op.END))
    m.export_func("f", f)
    inst = host.instantiate(m.encode(), [])
    return host.export(inst, "f")(a, b) & ((1 << 64) - 1)


@pytest.mark.parametrize(
    ("op", "a", "b", "want"),
    [(Op.I64_ADD, -1, 1, 0), (Op.I64_SHR_S, -8, 1, (1 << 64) - 4), (Op.I64_ROTL, 1 << 63, 1, 1),
     (Op.I64_DIV_U, 100, 7, 14), (Op.I64_SHL, 1, 65, 2)],
)  # fmt: skip
def test_encoded_arithmetic_runs(op: Op, a: int, b: int, want: int) -> None:
    assert _run_binary(op, a, b) == want


def _memory_module(memory64: bool) -> bytes:
    m = Module()
    m.import_memory("env", "mem", 1, 1, memory64=memory64)
    t = m.type((), (ValType.I64,))
    c = Code()
    (c.i64_const(8) if memory64 else c.i32_const(8)).i64_const(-2).mem(Op.I64_STORE, 16)
    (c.i64_const(0) if memory64 else c.i32_const(0)).mem(Op.I64_LOAD, 24).op(Op.END)
    m.export_func("f", m.function(t, [], c))
    return m.encode()


@pytest.mark.parametrize("memory64", [True, False], ids=["memory64", "memory32"])
def test_memory_import_load_and_store(memory64: bool) -> None:
    host = WasmtimeHost(memory64=memory64)
    mem = host.create_memory(1, memory64)
    inst = host.instantiate(_memory_module(memory64), [mem])
    assert host.export(inst, "f")() == -2
    assert bytes(host.memory_view(mem)[24:32]) == b"\xfe" + b"\xff" * 7


def test_a_second_memory_of_the_other_width_is_addressed_by_index() -> None:
    # Under Pyodide the state lives in a 32-bit memory and guest RAM in a 64-bit one.
    host = WasmtimeHost(memory64=True)
    state, ram = host.create_memory(1, memory64=False), host.create_memory(1, memory64=True)
    m = Module()
    m.import_memory("env", "mem", 1, 1)
    m.import_memory("env", "ram", 1, 1, memory64=True)
    c = Code()
    # ram[40] = state[8] + 1, then return ram[40]
    c.i64_const(40).i32_const(0).mem(Op.I64_LOAD, 8).i64_const(1).op(Op.I64_ADD)
    c.mem(Op.I64_STORE, 0, memory=1)
    c.i64_const(0).mem(Op.I64_LOAD, 40, memory=1).op(Op.END)
    m.export_func("f", m.function(m.type((), (ValType.I64,)), [], c))
    inst = host.instantiate(m.encode(), [state, ram])
    host.memory_view(state)[8:16] = (41).to_bytes(8, "little")
    assert host.export(inst, "f")() == 42
    assert host.memory_view(ram)[40] == 42 and host.memory_view(state)[40] == 0


def test_an_engine_without_memory64_rejects_memory64_modules() -> None:
    """Makes the wasm32 proof meaningful: the check really is switched off."""
    no64 = WasmtimeHost(memory64=False)
    no64.validate(_memory_module(False))
    with pytest.raises(ValueError, match="memory64"):
        no64.validate(_memory_module(True))


def test_table_elements_and_call_indirect_across_modules() -> None:
    host = WasmtimeHost()
    table = host.create_table(4)
    callee = Module()
    callee.import_table("env", "tbs", 0)
    t = callee.type((), (ValType.I32,))
    f = callee.function(t, [], Code().i32_const(42).op(Op.END))
    callee.elements_at(3, [f])
    host.instantiate(callee.encode(), [table])
    caller = Module()
    caller.import_table("env", "tbs", 0)
    t2 = caller.type((), (ValType.I32,))
    g = caller.function(t2, [], Code().i32_const(3).call_indirect(t2).op(Op.END))
    caller.export_func("g", g)
    inst = host.instantiate(caller.encode(), [table])
    assert host.export(inst, "g")() == 42
