"""The JavaScript host (engine/host/js_host.py) inside real Pyodide on Node.js.

The same contract as the wasmtime host: i64 values cross unsigned into Python
and signed out of exported functions, a Python exception raised in a host
function comes back to the Python caller through Wasm frames unchanged, and
generated code addresses the very bytes Python sees in memory_view().
"""

from __future__ import annotations

import json
from pathlib import Path

import wasmtime

from tests.pyodide_harness import run_in_pyodide

WAT = """
(module
  (import "env" "mem" (memory 1))
  (import "h" "mix" (func $mix (param i64 i64 i32) (result i64)))
  (import "h" "boom" (func $boom))
  (import "rt" "first_slot" (global $first i32))
  (func (export "id64") (param i64) (result i64) local.get 0)
  (func (export "low32") (param i64) (result i32) local.get 0 i32.wrap_i64)
  (func (export "via") (param i64 i64 i32) (result i64)
    local.get 0 local.get 1 local.get 2 call $mix)
  (func (export "first") (result i32) global.get $first)
  (func (export "raise") call $boom)
  (func (export "trap") unreachable)
  (func (export "peek") (param i32) (result i64) local.get 0 i64.load)
  (func (export "poke") (param i32 i64) local.get 0 local.get 1 i64.store))
"""

CHECK = """
import json
import sys
import traceback
from engine.host.js_host import JsHost, HostError

M64 = (1 << 64) - 1
def signed64(v):
    v &= M64
    return v - (1 << 64) if v >> 63 else v
def signed32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v

host = JsHost()
memory = host.create_memory(2, memory64=False)
view = host.memory_view(memory)
base = host.memory_address(memory)
least, most = host.memory_import(memory)
wasm = open("/scratch/check.wasm", "rb").read()
seen = []
kinds = set()
def mix(a, b, c):
    seen.append((a, b, c))
    kinds.update(type(v).__name__ for v in (a, b, c))
    return a ^ b
class Boom(Exception):
    pass
BOOM = Boom("from Python")
def boom():
    raise BOOM
inst = host.instantiate(wasm, [memory, host.function(["i64", "i64", "i32"], ["i64"], mix),
                               host.function([], [], boom), host.global_i32(1234)])
id64, low32, via = (host.export(inst, n) for n in ("id64", "low32", "via"))
edges = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, (1 << 63) - 1, 1 << 63, M64]
roundtrip = all(id64(v) == signed64(v) and low32(v) == signed32(v) for v in edges)
callbacks = []
for v in edges:
    seen.clear()
    got = via(v, 5, signed32(v))
    callbacks.append(seen == [(v & M64, 5, signed32(v))] and got == signed64(v ^ 5))
formatted = []  # tracebacks Pyodide formats: one per exception that crosses into JavaScript
def watch(frame, event, arg):
    code = frame.f_code
    in_traceback = code.co_filename.endswith("traceback.py")
    if event == "call" and in_traceback and "exception" in code.co_name:
        formatted.append(code.co_name)
sys.setprofile(watch)
try:
    host.export(inst, "raise")()
    raised = "nothing"
except Boom as e:
    raised = "Boom: " + str(e) + (" (the very one)" if e is BOOM else " (another)")
    frames = [f.name for f in traceback.extract_tb(e.__traceback__)]
    raised += "" if "boom" in frames else " (no tb)"
# Nothing of it lingers: the next call through the same functions is clean.
raised_after = getattr(host, "raised", None) is None and via(6, 5, 0) == 3
sys.setprofile(None)
try:
    host.export(inst, "trap")()
    trapped = False
except Exception as e:
    trapped = "unreachable" in str(e)
view[8:16] = (0x1122334455667788).to_bytes(8, "little")
peeked = host.export(inst, "peek")(base + 8)
host.export(inst, "poke")(base + 24, -2)
poked = int.from_bytes(view[24:32], "little")
try:
    JsHost(memory64=True)
    refusal = None
except HostError as e:
    refusal = str(e)
from engine.host.choice import resolve_wasm_mode
print(json.dumps({
    "roundtrip": roundtrip, "callbacks": callbacks, "raised": raised, "trapped": trapped,
    "raised_after": raised_after, "formatted": len(formatted),
    "aligned": base % 65536 == 0, "import": [least, most], "peeked": peeked, "poked": poked,
    "memory64": host.memory64_available(), "refusal": refusal,
    "instances": host.modules_instantiated, "global": host.export(inst, "first")(),
    "auto": resolve_wasm_mode("auto"), "kinds": sorted(kinds),
}))
"""

# wasm64 under Pyodide: guest RAM in a 64-bit memory of its own, the state in the heap.
RAM_WAT = """
(module
  (import "env" "mem" (memory 1))
  (import "env" "ram" (memory i64 2 2))
  (func (export "copy") (param i32 i64)  ;; ram[to] = heap[from] + 1
    local.get 1 local.get 0 i64.load i64.const 1 i64.add i64.store 1)
  (func (export "peek") (param i64) (result i64) local.get 0 i64.load 1))
"""

RAM_CHECK = """
import json
from engine.host.js_host import JsHost
from engine.ram_access import packer, unpacker

host = JsHost(memory64=True)
heap = host.create_memory(1, memory64=False)
memory, ram = host.create_ram_memory(2)
inst = host.instantiate(open("/scratch/ram.wasm", "rb").read(), [heap, memory])
view, base = host.memory_view(heap), host.memory_address(heap)
view[16:24] = (0xFFFF_FFFF_FFFF_FFFE).to_bytes(8, "little")
host.export(inst, "copy")(base + 16, 0x1FFF8)
packer(ram, "<Q")(ram, 64, 0x8000_0000_0000_0001)
packer(ram, "<H")(ram, 80, 0xBEEF)
ram[100:104] = b"wasm"
words = [unpacker(ram, f)(ram, off)[0] for f, off in
         (("<Q", 0x1FFF8), ("<q", 0x1FFF8), ("<H", 80), ("<h", 80), ("<B", 100), ("<I", 100))]
print(json.dumps({
    "apart": host.ram_apart, "size": len(ram), "import": list(host.memory_import(memory)),
    "words": words, "range": bytes(ram[96:106]).hex(), "byte": ram[101],
    "wasm_sees": host.export(inst, "peek")(64),
}))
"""


def run_check(tmp_path: Path, node: str = "node") -> dict:
    (tmp_path / "check.wasm").write_bytes(wasmtime.wat2wasm(WAT))
    return json.loads(run_in_pyodide(CHECK, tmp_path, node=node).strip().splitlines()[-1])


def test_values_exceptions_and_memory_cross_like_on_wasmtime(tmp_path: Path) -> None:
    got = run_check(tmp_path)
    assert got["roundtrip"], "i64/i32 results must come back signed, as on wasmtime"
    assert all(got["callbacks"]), "host functions must see i64 unsigned and i32 signed"
    # Not Pyodide's JsBigInt, whose arithmetic runs in Python about 9x slower.
    assert got["kinds"] == ["int"], "host functions must get plain ints"
    # The exception object itself, with the frame that raised it in its traceback.
    assert got["raised"] == "Boom: from Python (the very one)"
    assert got["raised_after"]
    assert got["formatted"] == 0, "an exception crossing into JavaScript formats a traceback"
    assert got["trapped"], "a Wasm trap still comes back as the engine's error"
    assert got["aligned"] and got["peeked"] == 0x1122334455667788
    assert got["poked"] == (1 << 64) - 2
    least, most = got["import"]
    assert most is None and least >= 2, "modules must accept Pyodide's growing heap"
    assert got["instances"] == 1
    assert got["global"] == 1234, "modules take where their table segment starts as a global"


def test_node20_has_no_memory64_and_wasm64_is_refused_with_advice(tmp_path: Path) -> None:
    got = run_check(tmp_path)
    assert got["memory64"] is False
    assert "lacks" in got["refusal"] and "--wasm wasm32" in got["refusal"]


def test_node20_runs_wasm32_by_default(tmp_path: Path) -> None:
    assert run_check(tmp_path)["auto"] == "wasm32"


def test_node24_runs_wasm64_with_guest_ram_apart_from_the_heap(tmp_path: Path) -> None:
    from wasmemu_images.node_setup import node24_binary

    node24 = str(node24_binary())
    got = run_check(tmp_path, node=node24)
    assert got["memory64"] is True and got["refusal"] is None and got["auto"] == "wasm64"
    assert all(got["callbacks"]) and got["raised"] == "Boom: from Python (the very one)"
    (tmp_path / "ram.wasm").write_bytes(wasmtime.wat2wasm(RAM_WAT))
    ram = json.loads(run_in_pyodide(RAM_CHECK, tmp_path, node=node24).strip().splitlines()[-1])
    assert ram["apart"] is True and ram["size"] == 2 << 16 and ram["import"] == [2, 2]
    # Generated code wrote RAM's last word from the heap; Python reads it back.
    assert ram["words"] == [(1 << 64) - 1, -1, 0xBEEF, 0xBEEF - 0x10000, ord("w"),
                            int.from_bytes(b"wasm", "little")]  # fmt: skip
    assert ram["range"] == "00000000" + b"wasm".hex() + "0000" and ram["byte"] == ord("a")
    assert ram["wasm_sees"] == -(1 << 63) + 1, "Python's store is what generated code loads"
