"""Microbenchmark: the cost of one Python/Wasm crossing through the wasmtime host.

Compares the host's two call paths (`WasmtimeHost(fast_calls=False)`, wasmtime-py's
public API, against the default unchecked C API path) on the shapes the
emulator uses: the dispatcher entry (one i64 in, i32 out), a helper callback
(one i64), the softmmu slow load (four i64 in, one out), and a callback that
raises (a guest page fault). Callbacks are timed from inside Wasm: one export
call runs a loop of N calls to the imported function, divided by N.

    python bench/host_calls.py [--quick]

Prints µs per crossing (best of several rounds) and the speedup.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wasmtime

from engine.host.wasmtime_host import WasmtimeHost

WAT = """
(module
  (import "h" "one" (func $one (param i64) (result i64)))
  (import "h" "four" (func $four (param i64 i64 i64 i64) (result i64)))
  (func (export "entry") (param i64) (result i32) local.get 0 i32.wrap_i64)
  (func (export "loop_one") (param i64) (result i32)
    (block (loop
      local.get 0 i64.eqz br_if 1
      local.get 0 call $one drop
      local.get 0 i64.const 1 i64.sub local.set 0 br 0))
    i32.const 0)
  (func (export "loop_four") (param i64) (result i32)
    (block (loop
      local.get 0 i64.eqz br_if 1
      local.get 0 i64.const 3 i64.const 1 local.get 0 call $four drop
      local.get 0 i64.const 1 i64.sub local.set 0 br 0))
    i32.const 0)
  (func (export "fault") (param i64) (result i32)
    local.get 0 i64.const 0 i64.const 9 i64.const 0 call $four i32.wrap_i64))
"""


class PageFault(Exception):
    def __init__(self, vaddr: int) -> None:
        super().__init__(vaddr)
        self.vaddr = vaddr


def _one(a: int) -> int:
    return a + 1


def _four(vaddr: int, memop: int, mmu_idx: int, pc: int) -> int:
    if mmu_idx == 9:  # only the "fault" export passes this
        raise PageFault(vaddr)
    return vaddr ^ pc


def _best(fn: Callable[[], None], per: int, rounds: int) -> float:
    """Best µs per unit of work over `rounds` runs of fn (which does `per` units)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best / per * 1e6


def measure(host: WasmtimeHost, n: int, rounds: int) -> dict[str, float]:
    functions = [host.function(["i64"], ["i64"], _one), host.function(["i64"] * 4, ["i64"], _four)]
    inst = host.instantiate(wasmtime.wat2wasm(WAT), functions)
    entry, fault = host.export(inst, "entry"), host.export(inst, "fault")
    loop_one, loop_four = host.export(inst, "loop_one"), host.export(inst, "loop_four")
    calls = max(n // 10, 100) if host.call_path == "public" else n

    def entries() -> None:
        for i in range(calls):
            entry(i)

    def faults() -> None:
        for _ in range(calls // 10):
            with contextlib.suppress(PageFault):
                fault(0xDEAD)

    return {
        "export call, (i64) -> i32": _best(entries, calls, rounds),
        "callback, (i64) -> i64": _best(lambda: loop_one(calls), calls, rounds),
        "callback, (4 x i64) -> i64": _best(lambda: loop_four(calls), calls, rounds),
        "call + callback that raises": _best(faults, calls // 10, rounds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = parser.parse_args(argv)
    n, rounds = (20_000, 3) if args.quick else (200_000, 7)
    public = measure(WasmtimeHost(fast_calls=False), n, rounds)
    fast_host = WasmtimeHost()
    fast = measure(fast_host, n, rounds)

    def python_call() -> None:
        for i in range(n):
            _one(i)

    print(f"wasmtime {version('wasmtime')}, fast path: {fast_host.call_path}, best of {rounds}")
    print(f"{'crossing':<30} {'public µs':>10} {'fast µs':>10} {'speedup':>8}")
    for name, p in public.items():
        f = fast[name]
        print(f"{name:<30} {p:>10.2f} {f:>10.3f} {p / f:>7.1f}x")
    print(f"{'(a plain Python call)':<30} {'':>10} {_best(python_call, n, rounds):>10.3f}")


if __name__ == "__main__":
    main()
