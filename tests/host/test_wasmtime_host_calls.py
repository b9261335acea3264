"""The wasmtime host's unchecked call paths behave exactly like the public API.

Every check runs on both paths (`fast_calls=True` and `False`) and, where a
value comes back, compares them with each other and with the expected value.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable

import pytest
import wasmtime

from engine.host import wasmtime_host
from engine.host.wasmtime_host import WasmtimeHost
from engine.target.riscv.exceptions import GuestException

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
EDGES64 = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32,
           0x1234_5678_9ABC_DEF0, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, M64 - 1, M64]  # fmt: skip
EDGES32 = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFE, M32]


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def both(v: int, bits: int = 64) -> list[int]:
    """An argument as the unsigned and the signed Python int of the same bits."""
    return [v, s64(v) if bits == 64 else s32(v)]


@pytest.fixture(params=["unchecked", "public"])
def host(request: pytest.FixtureRequest) -> WasmtimeHost:
    h = WasmtimeHost(fast_calls=request.param == "unchecked")
    assert h.call_path == request.param
    return h


def instantiate(host: WasmtimeHost, wat: str, imports: list[object] = ()) -> wasmtime.Instance:
    return host.instantiate(wasmtime.wat2wasm(wat), list(imports))


VALUES_WAT = """
(module
  (memory 1)
  (func (export "id64") (param i64) (result i64) local.get 0)
  (func (export "low32") (param i64) (result i32) local.get 0 i32.wrap_i64)
  (func (export "ext32") (param i32) (result i64) local.get 0 i64.extend_i32_s)
  (func (export "zext32") (param i32) (result i64) local.get 0 i64.extend_i32_u)
  (func (export "add32") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "mix5") (param i64 i64 i64 i64 i64) (result i64)
    local.get 0 local.get 1 i64.const 3 i64.mul i64.sub
    local.get 2 i64.xor local.get 3 i64.rotl local.get 4 i64.add)
  (func (export "const64") (result i64) i64.const -2)
  (func (export "const32") (result i32) i32.const -7)
  (func (export "put") (param i64) i32.const 0 local.get 0 i64.store)
  (func (export "get") (result i64) i32.const 0 i64.load)
  (func (export "two") (param i64 i32) (result i64)
    local.get 0 local.get 1 i64.extend_i32_u i64.sub))
"""


def test_the_fast_path_is_active_by_default_and_can_be_forced_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WASMEMU_HOST_CALLS", raising=False)
    assert WasmtimeHost().call_path == "unchecked"
    assert WasmtimeHost().call_path_reason is None
    assert WasmtimeHost(fast_calls=False).call_path == "public"
    monkeypatch.setenv("WASMEMU_HOST_CALLS", "public")
    assert WasmtimeHost().call_path == "public"


def test_export_values_match_the_public_path() -> None:
    fast, public = WasmtimeHost(fast_calls=True), WasmtimeHost(fast_calls=False)
    fi, pi = instantiate(fast, VALUES_WAT), instantiate(public, VALUES_WAT)

    def pair(name: str) -> tuple[Callable[..., object], Callable[..., object]]:
        return fast.export(fi, name), public.export(pi, name)

    for name, args_list, want in [
        ("id64", [(a,) for v in EDGES64 for a in both(v)], lambda a: s64(a)),
        ("low32", [(a,) for v in EDGES64 for a in both(v)], lambda a: s32(a)),
        ("ext32", [(a,) for v in EDGES32 for a in both(v, 32)], lambda a: s32(a)),
        ("zext32", [(a,) for v in EDGES32 for a in both(v, 32)], lambda a: a & M32),
        ("add32", [(a, b) for a in EDGES32 for b in (1, -1, M32)], lambda a, b: s32(a + b)),
        ("two", [(a, b) for a in EDGES64 for b in EDGES32], lambda a, b: s64(a - b)),
    ]:
        f, p = pair(name)
        for args in args_list:
            assert f(*args) == p(*args) == want(*args), (name, args)

    f, p = pair("mix5")
    for v in EDGES64:
        args = (v, s64(v * 7), M64 - v, v >> 1, 1 << 63)
        a, b, c, d, e = (x & M64 for x in args)
        rot = ((a - 3 * b) & M64) ^ c
        rot = ((rot << (d % 64)) | (rot >> (64 - d % 64))) & M64 if d % 64 else rot
        assert f(*args) == p(*args) == s64(rot + e)
    for name, want in [("const64", -2), ("const32", -7)]:
        f, p = pair(name)
        assert f() == p() == want
    for h, inst in [(fast, fi), (public, pi)]:
        assert h.export(inst, "put")(M64) is None
        assert h.export(inst, "get")() == -1


def test_wrong_argument_counts_are_refused(host: WasmtimeHost) -> None:
    inst = instantiate(host, VALUES_WAT)
    with pytest.raises((TypeError, wasmtime.WasmtimeError)):
        host.export(inst, "mix5")(1, 2)
    with pytest.raises((TypeError, wasmtime.WasmtimeError)):
        host.export(inst, "id64")()


def forwarding_module(nparams: int, result: str | None, types: str = "i64") -> str:
    params = " ".join([types] * nparams)
    sig = f"(param {params})" if nparams else ""
    res = f"(result {result})" if result else ""
    gets = " ".join(f"local.get {i}" for i in range(nparams))
    return f"""
    (module
      (import "h" "f" (func $f {sig} {res}))
      (func (export "call") {sig} {res} {gets} call $f))
    """


@pytest.mark.parametrize("nparams", range(6))
@pytest.mark.parametrize("result", [None, "i64"])
def test_host_functions_with_0_to_5_arguments(
    host: WasmtimeHost, nparams: int, result: str | None
) -> None:
    seen: list[tuple[int, ...]] = []

    def fn(*args: int) -> int | None:
        seen.append(args)
        return sum(args) + 0xFFFF_FFFF_0000_0000 if result else 99  # 99 is to be ignored

    f = host.function(["i64"] * nparams, [result] if result else [], fn)
    call = host.export(instantiate(host, forwarding_module(nparams, result), [f]), "call")
    for v in EDGES64:
        args = [(v + 17 * i) & M64 for i in range(nparams)]
        for given in (args, [s64(a) for a in args]):
            seen.clear()
            got = call(*given)
            assert seen == [tuple(args)]  # i64 arguments arrive unsigned
            if result:
                assert got == s64(sum(args) + 0xFFFF_FFFF_0000_0000)
            else:
                assert got is None


@pytest.mark.parametrize("ret", [0, 1, -1, M64, 1 << 63, (1 << 63) - 1, -(1 << 63), 1 << 64])
def test_host_function_i64_results_keep_their_low_64_bits(host: WasmtimeHost, ret: int) -> None:
    f = host.function(["i64"], ["i64"], lambda a: ret)
    call = host.export(instantiate(host, forwarding_module(1, "i64"), [f]), "call")
    assert call(0) == s64(ret)


@pytest.mark.parametrize("ret", [0, 1, -1, M32, 1 << 31, (1 << 31) - 1])
def test_host_functions_with_i32_arguments_and_results(host: WasmtimeHost, ret: int) -> None:
    seen: list[tuple[int, ...]] = []

    def fn(a: int, b: int) -> int:
        seen.append((a, b))
        return ret

    f = host.function(["i32", "i32"], ["i32"], fn)
    call = host.export(instantiate(host, forwarding_module(2, "i32", "i32"), [f]), "call")
    for v in EDGES32:
        seen.clear()
        assert call(v, s32(v + 1)) == s32(ret)
        assert seen == [(s32(v), s32(v + 1))]  # i32 arguments arrive signed, as from wasmtime-py


def test_unsupported_host_function_types_are_refused(host: WasmtimeHost) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        host.function(["f64"], [], lambda x: None)
    with pytest.raises(ValueError, match="unsupported"):
        host.function([], ["i64", "i64"], lambda: (1, 2))


# -- exceptions --------------------------------------------------------------------------------
class DeviceError(Exception):
    def __init__(self, address: int, detail: str) -> None:
        super().__init__(f"device error at {address:#x}: {detail}")
        self.address = address
        self.detail = detail


NESTED_WAT = """
(module
  (import "h" "outer" (func $outer (param i64) (result i64)))
  (import "h" "inner" (func $inner (param i64) (result i64)))
  (func (export "enter") (param i64) (result i64) local.get 0 call $outer)
  (func (export "reenter") (param i64) (result i64) local.get 0 call $inner)
  (func (export "trap") (param i64) (result i64) unreachable))
"""


def test_a_host_exception_is_re_raised_as_the_same_object(host: WasmtimeHost) -> None:
    raised: list[BaseException] = []

    def fault(vaddr: int, memop: int, mmu_idx: int, pc: int) -> int:
        exc = GuestException(13, tval=vaddr, pc=pc)
        raised.append(exc)
        raise exc

    f = host.function(["i64"] * 4, ["i64"], fault)
    call = host.export(instantiate(host, forwarding_module(4, "i64"), [f]), "call")
    with pytest.raises(GuestException) as info:
        call(M64, 3, 1, 0x8000_1234)
    assert info.value is raised[0]
    assert (info.value.cause, info.value.tval, info.value.pc) == (13, M64, 0x8000_1234)
    # The original traceback survives: it still shows the line that raised.
    assert any(tb.name == "fault" for tb in info.traceback)
    with pytest.raises(GuestException) as again:
        call(5, 0, 0, 0)
    assert again.value is raised[1] and again.value.tval == 5


def test_exceptions_cross_two_levels_of_nesting(host: WasmtimeHost) -> None:
    """Python -> Wasm -> Python -> Wasm -> Python(raises) -> ... -> the outer caller."""
    inst_holder: list[Callable[[int], int]] = []
    raised: list[DeviceError] = []

    def inner(x: int) -> int:
        if x == 666:
            exc = DeviceError(0x1000_0000, "no such register")
            raised.append(exc)
            raise exc
        return x + 1

    def outer(x: int) -> int:
        return inst_holder[0](x) * 2  # back into Wasm, which calls inner

    inst = instantiate(
        host,
        NESTED_WAT,
        [host.function(["i64"], ["i64"], outer), host.function(["i64"], ["i64"], inner)],
    )
    enter = host.export(inst, "enter")
    inst_holder.append(host.export(inst, "reenter"))
    assert enter(20) == 42
    with pytest.raises(DeviceError) as info:
        enter(666)
    assert info.value is raised[0]
    assert (info.value.address, info.value.detail) == (0x1000_0000, "no such register")
    assert enter(1) == 4


def test_an_exception_handled_halfway_does_not_leak_outwards(host: WasmtimeHost) -> None:
    reenter: list[Callable[[int], int]] = []

    def inner(x: int) -> int:
        raise DeviceError(x, "inner")

    def outer(x: int) -> int:
        try:
            return reenter[0](x)
        except DeviceError as e:
            return e.address + 1000

    inst = instantiate(
        host,
        NESTED_WAT,
        [host.function(["i64"], ["i64"], outer), host.function(["i64"], ["i64"], inner)],
    )
    reenter.append(host.export(inst, "reenter"))
    assert host.export(inst, "enter")(5) == 1005
    # Nothing stale is left to be mistaken for the cause of a later trap.
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        host.export(inst, "trap")(0)


def test_a_wasm_trap_inside_a_callback_reaches_the_outer_caller(host: WasmtimeHost) -> None:
    trap: list[Callable[[int], int]] = []
    inst = instantiate(
        host,
        NESTED_WAT,
        [
            host.function(["i64"], ["i64"], lambda x: trap[0](x)),
            host.function(["i64"], ["i64"], abs),
        ],
    )
    trap.append(host.export(inst, "trap"))
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        host.export(inst, "enter")(1)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, ZeroDivisionError])
def test_any_base_exception_propagates(host: WasmtimeHost, exc_type: type) -> None:
    def fn(x: int) -> int:
        raise exc_type()

    call = host.export(
        instantiate(host, forwarding_module(1, "i64"), [host.function(["i64"], ["i64"], fn)]),
        "call",
    )
    with pytest.raises(exc_type):
        call(1)


def test_a_wrong_result_type_raises_in_the_caller(host: WasmtimeHost) -> None:
    f = host.function(["i64"], ["i64"], lambda x: None)
    call = host.export(instantiate(host, forwarding_module(1, "i64"), [f]), "call")
    with pytest.raises(TypeError):
        call(1)


# -- genuine traps -----------------------------------------------------------------------------
TRAPS_WAT = """
(module
  (memory 1)
  (func (export "unreachable") (param i64) (result i32) unreachable)
  (func (export "oob") (param i64) (result i32) local.get 0 i32.wrap_i64 i32.load)
  (func $rec (export "recurse") (param i64) (result i32)
    local.get 0 i64.const 1 i64.add call $rec)
  (func (export "div") (param i64 i64) (result i64) local.get 0 local.get 1 i64.div_s))
"""


@pytest.mark.parametrize(
    ("name", "args", "code", "words"),
    [
        ("unreachable", (0,), wasmtime.TrapCode.UNREACHABLE, "unreachable"),
        ("oob", (1 << 20,), wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS, "out of bounds"),
        ("recurse", (0,), wasmtime.TrapCode.STACK_OVERFLOW, "call stack exhausted"),
        ("div", (1, 0), wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO, "divide by zero"),
        ("div", (-(1 << 63), -1), wasmtime.TrapCode.INTEGER_OVERFLOW, "overflow"),
    ],
)
def test_wasm_traps_raise_wasmtime_trap(
    host: WasmtimeHost, name: str, args: tuple[int, ...], code: wasmtime.TrapCode, words: str
) -> None:
    call = host.export(instantiate(host, TRAPS_WAT), name)
    for _ in range(3):  # and the store keeps working after each
        with pytest.raises(wasmtime.Trap) as info:
            call(*args)
        assert info.value.trap_code == code
        assert words in str(info.value)
    assert host.export(instantiate(host, TRAPS_WAT), "oob")(0) == 0


def test_a_fast_export_reraises_from_a_public_style_callback_too() -> None:
    """Mixing: a wasmtime.Func made with the public API, called by a fast export."""
    host = WasmtimeHost(fast_calls=True)
    exc = DeviceError(1, "public")

    def fn(x: int) -> int:
        raise exc

    ty = wasmtime.FuncType([wasmtime.ValType.i64()], [wasmtime.ValType.i64()])
    f = wasmtime.Func(host.store, ty, fn)
    call = host.export(instantiate(host, forwarding_module(1, "i64"), [f]), "call")
    with pytest.raises(DeviceError) as info:
        call(1)
    assert info.value is exc


# -- reentrancy, lifetime, leaks ----------------------------------------------------------------
def test_an_export_may_reenter_itself(host: WasmtimeHost) -> None:
    """The preallocated argument array is shared by nested calls of one export."""
    holder: list[Callable[[int], int]] = []

    def fn(x: int) -> int:
        return x if x == 0 else holder[0](x - 1) + x

    call = host.export(
        instantiate(host, forwarding_module(1, "i64"), [host.function(["i64"], ["i64"], fn)]),
        "call",
    )
    holder.append(call)
    assert call(30) == 30 * 31 // 2


def test_callables_keep_the_store_and_callbacks_alive() -> None:
    def make() -> Callable[[int], int]:
        host = WasmtimeHost(fast_calls=True)
        f = host.function(["i64"], ["i64"], lambda x: x * 3)
        return host.export(instantiate(host, forwarding_module(1, "i64"), [f]), "call")

    calls = [make() for _ in range(5)]
    gc.collect()
    assert [c(i) for i, c in enumerate(calls)] == [0, 3, 6, 9, 12]
    del calls
    gc.collect()


def test_dropping_many_hosts_with_callbacks_is_safe() -> None:
    for i in range(50):
        host = WasmtimeHost(fast_calls=True)
        f = host.function(["i64"], ["i64"], lambda x: x + 1)
        inst = instantiate(host, forwarding_module(1, "i64"), [f])
        assert host.export(inst, "call")(i) == i + 1
        del host, f, inst
        if i % 10 == 0:
            gc.collect()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


LOOP_WAT = """
(module
  (import "h" "f" (func $f (param i64 i64 i64 i64) (result i64)))
  (func (export "once") (param i64) (result i32)
    local.get 0 local.get 0 local.get 0 local.get 0 call $f i32.wrap_i64))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_rss_stays_flat_over_200k_calls_and_20k_exceptions() -> None:
    host = WasmtimeHost(fast_calls=True)

    def fn(a: int, b: int, c: int, d: int) -> int:
        if a == M64:
            raise GuestException(5, tval=a)
        return a & 0xFF

    once = host.export(
        instantiate(host, LOOP_WAT, [host.function(["i64"] * 4, ["i64"], fn)]), "once"
    )

    def calls(n: int) -> None:
        for i in range(n):
            assert once(i) == i & 0xFF

    def faults(n: int) -> None:
        for _ in range(n):
            with contextlib.suppress(GuestException):
                once(-1)

    calls(20_000)
    faults(2_000)
    gc.collect()
    before = rss_bytes()
    calls(200_000)
    faults(20_000)
    gc.collect()
    grown = rss_bytes() - before
    # A leak of even one small object a call would show as many megabytes.
    assert grown < 4 << 20, f"RSS grew by {grown / 2**20:.1f} MiB"


# -- fallback ----------------------------------------------------------------------------------
def test_missing_bindings_fall_back_to_the_public_api(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object) -> None:
        raise AttributeError("module 'wasmtime._ffi' has no attribute 'dll'")

    monkeypatch.delenv("WASMEMU_HOST_CALLS", raising=False)
    monkeypatch.setattr(wasmtime_host._RawApi, "__init__", broken)
    wasmtime_host._unchecked_api.cache_clear()
    try:
        host = WasmtimeHost()
        assert host.call_path == "public"
        assert "has no attribute" in host.call_path_reason
        f = host.function(["i64"], ["i64"], lambda x: x + 1)
        assert host.export(instantiate(host, forwarding_module(1, "i64"), [f]), "call")(-1) == 0
        with pytest.raises(RuntimeError, match="has no attribute"):
            WasmtimeHost(fast_calls=True)
    finally:
        wasmtime_host._unchecked_api.cache_clear()


def test_a_failed_self_check_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(api: object) -> None:
        raise RuntimeError("value 0x8000000000000000 does not round-trip")

    monkeypatch.delenv("WASMEMU_HOST_CALLS", raising=False)
    monkeypatch.setattr(wasmtime_host, "_self_check", failing)
    wasmtime_host._unchecked_api.cache_clear()
    try:
        assert WasmtimeHost().call_path == "public"
    finally:
        wasmtime_host._unchecked_api.cache_clear()
    monkeypatch.undo()
    assert WasmtimeHost().call_path == "unchecked"
