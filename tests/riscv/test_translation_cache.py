"""The persistent translation cache: a second run reuses blocks, but only for identical code.

Unit tests pin the cache's rules (hits need the same guest bytes, damaged
files are dropped, segments merge); the system tests run a bare-metal
program twice on the virt board's hart and check that the second run
translates nothing yet computes the same results, on every tier.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from engine import tcache as tcache_module
from engine.target.riscv.cpu import TierConfig
from engine.tcache import MERGE_AT, Hit, TranslationCache
from tests.relocated_host import machines_placed_at
from tests.riscv.test_system_mode import SV39_PROGRAM, TOOLS, build, run_until_ecall, u64

CODE = b"\x13\x05\x15\x00" * 4  # addi a0, a0, 1 (x4)


def stored(folder: Path, *records: tuple[int, bytes]) -> TranslationCache:
    cache = TranslationCache(folder)
    for vpc, code in records:
        cache.store(vpc, 0, code, b"ir-" + code)
    cache.close()
    return TranslationCache(folder)


def test_a_hit_needs_the_same_pc_flags_and_bytes(tmp_path: Path) -> None:
    cache = stored(tmp_path, (0x1000, CODE))
    hit = cache.lookup(0x1000, 0, lambda n: CODE[:n])
    assert hit is not None and (hit.ir, hit.code) == (b"ir-" + CODE, None)
    assert cache.lookup(0x1000, 0, lambda n: b"\x00" * n) is None  # the code changed
    assert cache.lookup(0x1000, 1, lambda n: CODE[:n]) is None  # other flags
    assert cache.lookup(0x2000, 0, lambda n: CODE[:n]) is None  # other pc
    assert cache.lookup(0x1000, 0, lambda n: None) is None  # unreadable now
    assert (cache.hits, cache.misses) == (1, 4)


def flip_near_the_end(data: bytearray) -> bytearray:
    data[-3] ^= 0xFF
    return data


def flip_one_bit_in_the_middle(data: bytearray) -> bytearray:
    data[len(data) // 2] ^= 0x10
    return data


def flip_the_checksum(data: bytearray) -> bytearray:
    data[len(tcache_module.MAGIC)] ^= 0x01
    return data


@pytest.mark.parametrize(
    "damage",
    [flip_near_the_end, flip_one_bit_in_the_middle, flip_the_checksum, lambda d: d[:-1]],
    ids=["byte-near-end", "bit-in-middle", "checksum", "truncated"],
)
def test_damaged_segments_are_dropped_not_trusted(tmp_path: Path, damage) -> None:
    cache = stored(tmp_path, (0x1000, CODE))
    [segment] = list(cache.folder.glob("*.seg"))
    segment.write_bytes(bytes(damage(bytearray(segment.read_bytes()))))
    again = TranslationCache(tmp_path)
    assert again.lookup(0x1000, 0, lambda n: CODE[:n]) is None
    assert not segment.exists()


def test_garbage_files_and_a_deleted_folder_are_harmless(tmp_path: Path) -> None:
    cache = stored(tmp_path, (0x1000, CODE))
    (cache.folder / "junk.seg").write_bytes(b"not a segment")
    assert TranslationCache(tmp_path).lookup(0x1000, 0, lambda n: CODE[:n]) is not None
    for path in cache.folder.iterdir():
        path.unlink()
    cache.folder.rmdir()
    assert TranslationCache(tmp_path).lookup(0x1000, 0, lambda n: CODE[:n]) is None


def test_code_made_after_a_block_was_stored_joins_its_record(tmp_path: Path) -> None:
    """A block gets its interpreter function a few runs after it was translated and
    stored; the function's code object is kept with it, for the next run."""
    cache = TranslationCache(tmp_path)
    key = cache.store(0x1000, 0, CODE, b"ir")
    cache.add_code(key, compile("x = 1", "<tb>", "exec"))
    cache.close()
    again = TranslationCache(tmp_path)
    hit = again.lookup(0x1000, 0, lambda n: CODE[:n])
    assert hit is not None and hit.ir == b"ir" and hit.code is not None
    namespace: dict[str, int] = {}
    exec(again.code_object(hit), namespace)  # unmarshalled only when asked for
    assert namespace["x"] == 1


def test_damaged_code_is_rejected_and_the_block_keeps_its_ir(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path)
    key = cache.store(0x1000, 0, CODE, b"ir")
    cache.add_code(key, compile("x = 1", "<tb>", "exec"))
    hit = cache.lookup(0x1000, 0, lambda n: CODE[:n])
    assert hit is not None
    damaged = hit._replace(code=hit.code[:5])
    assert cache.code_object(damaged) is None and cache.rejected == 1
    assert damaged.ir == b"ir"


def hits_in_either_load_order(folder: Path) -> list[Hit | None]:
    """The block at 0x1000 as found with the segments loaded in name order, and reversed."""
    hits = []
    for order in (sorted, lambda paths: sorted(paths, reverse=True)):
        cache = TranslationCache(folder)
        cache.index.clear()  # and load again, the segments in `order`
        for path in order(cache.folder.glob("*.seg")):
            for record in tcache_module._read_segment(path)[0]:
                cache._index_record(record)
        hits.append(cache.lookup(0x1000, 0, lambda n: CODE[:n]))
    return hits


def merged_into_one_segment(folder: Path) -> TranslationCache:
    for k in range(MERGE_AT - 1):  # the last of these merges all segments into one
        stored(folder, (0x2000 + 16 * k, CODE))
    merged = TranslationCache(folder)
    assert len(list(merged.folder.glob("*.seg"))) == 1
    return merged


def test_a_record_with_code_wins_over_one_without(tmp_path: Path) -> None:
    """Two runs stored the same block, one before it had code: which segment loads
    first does not matter, and a merge keeps the record with code."""
    stored(tmp_path, (0x1000, CODE))  # a run that only evaluated the block
    later = TranslationCache(tmp_path)
    hit = later.lookup(0x1000, 0, lambda n: CODE[:n])
    later.add_code(hit.key, compile("x = 1", "<tb>", "exec"))
    later.close()
    assert len(list(later.folder.glob("*.seg"))) == 2
    assert all(
        hit is not None and hit.code is not None for hit in hits_in_either_load_order(tmp_path)
    )
    merged = merged_into_one_segment(tmp_path)
    assert merged.lookup(0x1000, 0, lambda n: CODE[:n]).code is not None


def test_a_block_kept_compiled_is_kept_without_its_ir(tmp_path: Path) -> None:
    """store() may be given a function that serializes the IR when the cache is
    written; if a module with the block is kept first, the IR is never serialized,
    since later runs reach the block through its module."""
    cache = TranslationCache(tmp_path)
    made: list[int] = []
    cache.store(0x1000, 0, CODE, lambda: made.append(0x1000) or b"ir")
    compiled = cache.store(0x2000, 0, CODE, lambda: made.append(0x2000) or b"ir")
    assert not made  # nothing serialized before the cache is written
    cache.store_module("identity", b"\0asm", (), (compiled,))
    cache.close()
    assert made == [0x1000]
    again = TranslationCache(tmp_path)
    assert again.lookup(0x1000, 0, lambda n: CODE[:n]).ir == b"ir"
    kept_compiled = again.lookup(0x2000, 0, lambda n: CODE[:n])
    assert kept_compiled is not None and kept_compiled.ir is None
    assert again.compiled_module("identity", kept_compiled.key) is not None


def test_ir_left_to_serialize_later_does_not_pile_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks the hart has let go of without compiling them would hold their IR until
    the cache is written: past MAX_DEFERRED_IR of them, all are serialized at once."""
    monkeypatch.setattr(tcache_module, "MAX_DEFERRED_IR", 2)
    cache = TranslationCache(tmp_path)
    made: list[int] = []
    for vpc in (0x1000, 0x2000):
        cache.store(vpc, 0, CODE, lambda vpc=vpc: made.append(vpc) or b"ir")
    assert not made
    cache.store(0x3000, 0, CODE, lambda: made.append(0x3000) or b"ir")
    assert made == [0x1000, 0x2000, 0x3000]
    assert cache.lookup(0x1000, 0, lambda n: CODE[:n]).ir == b"ir"


def test_a_record_with_ir_wins_over_one_without(tmp_path: Path) -> None:
    """One run compiled the block and kept no IR, another kept it: whichever segment
    loads first, and after a merge, the block has its IR."""
    without_ir = TranslationCache(tmp_path)
    key = without_ir.store(0x1000, 0, CODE, lambda: b"never made")
    without_ir.store_module("identity", b"\0asm", (), (key,))
    without_ir.close()
    stored(tmp_path, (0x1000, CODE))
    assert len(list(without_ir.folder.glob("*.seg"))) == 2
    hits = hits_in_either_load_order(tmp_path)
    assert all(hit is not None and hit.ir == b"ir-" + CODE for hit in hits)
    merged = merged_into_one_segment(tmp_path)
    assert merged.lookup(0x1000, 0, lambda n: CODE[:n]).ir == b"ir-" + CODE


def test_segments_merge_when_there_are_many(tmp_path: Path) -> None:
    for k in range(MERGE_AT + 1):
        stored(tmp_path, (0x1000 + 16 * k, CODE))
    cache = TranslationCache(tmp_path)
    assert len(list(cache.folder.glob("*.seg"))) == 1
    assert all(cache.lookup(0x1000 + 16 * k, 0, lambda n: CODE[:n]) for k in range(MERGE_AT + 1))


def test_a_save_mid_run_writes_what_is_new_and_close_writes_the_rest(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path)
    writes: list[int] = []
    cache.on_write = lambda: writes.append(len(list(cache.folder.glob("*.seg"))))
    assert cache.unsaved == 0
    cache.store(0x1000, 0, CODE, b"ir-first")
    assert cache.unsaved == 1
    cache.save()  # e.g. the guest sits at its prompt
    assert cache.unsaved == 0 and writes == [1]
    cache.save()  # nothing new: no empty segment
    assert writes == [1]
    cache.store(0x2000, 0, CODE, b"ir-second")
    cache.close()
    assert writes == [1, 2]
    later = TranslationCache(tmp_path)
    assert [later.lookup(pc, 0, lambda n: CODE[:n]).ir for pc in (0x1000, 0x2000)] == [
        b"ir-first", b"ir-second",
    ]  # fmt: skip


def test_each_engine_build_has_its_own_namespace(tmp_path: Path) -> None:
    a, b = TranslationCache(tmp_path, "system"), TranslationCache(tmp_path, "user")
    assert a.folder != b.folder and a.folder.parent == b.folder.parent == tmp_path


def run_program(
    code: bytes, tier: str, wasm: str, tcache: Path, placed_at: int | None = None, batch: int = 64
) -> tuple[object, dict]:
    """Run `code` to its ecall on a fresh board; `placed_at` places the machine's memory
    region there in a larger memory, as Pyodide's heap does (tests/relocated_host.py);
    tier auto compiles a block on its second run, in batches of `batch`."""
    from engine.machine.console import PipeConsole
    from engine.machine.virt import MachineConfig, VirtMachine

    tiers = TierConfig(tier=tier, threshold=2, batch=batch)
    config = MachineConfig(ram_size=64 << 20, bios=code, tier=tiers, wasm=wasm,
                           tcache_dir=str(tcache),
                           ram_apart=placed_at is not None and wasm == "wasm64")  # fmt: skip
    if placed_at is None:
        machine = VirtMachine(config, PipeConsole())
    else:
        with machines_placed_at(placed_at):
            machine = VirtMachine(config, PipeConsole())
    state = machine.state
    run_until_ecall(machine.cpu)
    results = {"a3": state[13], "mem": u64(machine.ram, 0x80001000), "x": list(state[1:32])}
    counts = {**machine.tcache.describe(), **machine.cpu.stats.as_dict()}
    counts["code_identity"] = machine.cpu.jit.code_identity if machine.cpu.jit else None
    machine.close()
    return results, counts


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
@pytest.mark.parametrize(("tier", "wasm"), [("interp", "wasm64"), ("auto", "wasm64"),
                                            ("wasm", "wasm32")])  # fmt: skip
def test_a_second_run_translates_nothing(tmp_path: Path, tier: str, wasm: str) -> None:
    code = build(tmp_path, SV39_PROGRAM)
    first, counts1 = run_program(code, tier, wasm, tmp_path / "tcache")
    assert counts1["tcache_hits"] == 0 and counts1["tcache_stored"] > 0
    second, counts2 = run_program(code, tier, wasm, tmp_path / "tcache")
    assert second == first
    assert counts2["tcache_misses"] == 0 and counts2["tcache_stored"] == 0
    assert counts2["tcache_hits"] == counts1["tcache_stored"]


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_kept_blocks_read_their_ir_only_when_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block from the cache runs on the interpreter from its kept code; its IR, which
    only the Wasm tier needs, is deserialized when the block gets hot, once."""
    import engine.target.riscv.cpu as cpu_module

    code = build(tmp_path, SV39_PROGRAM)
    with monkeypatch.context() as patch:
        patch.setattr(cpu_module, "EVALUATED_RUNS", 0)  # every block gets its code at once
        first, _ = run_program(code, "interp", "wasm64", tmp_path / "tcache")
    loads = []
    real_load = cpu_module.load_block
    monkeypatch.setattr(cpu_module, "load_block", lambda ir: loads.append(1) or real_load(ir))
    second, counts = run_program(code, "auto", "wasm64", tmp_path / "tcache", batch=1)
    assert second == first
    assert counts["tcache_misses"] == 0 and counts["insns_translated"] == 0
    assert 0 < counts["tbs_compiled"] < counts["tcache_hits"]
    assert len(loads) == counts["tbs_compiled"]


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
@pytest.mark.parametrize("wasm", ["wasm64", "wasm32"])
def test_a_second_run_compiles_nothing(tmp_path: Path, wasm: str) -> None:
    """Blocks compiled by the first run come back compiled: nothing is compiled again."""
    code = build(tmp_path, SV39_PROGRAM)
    first, counts1 = run_program(code, "wasm", wasm, tmp_path / "tcache")
    assert counts1["tbs_compiled"] > 0 and counts1["tcache_modules_stored"] > 0
    second, counts2 = run_program(code, "wasm", wasm, tmp_path / "tcache")
    assert second == first
    assert counts2["tbs_compiled"] == 0 and counts2["tcache_modules_stored"] == 0
    assert counts2["tbs_compiled_before"] >= counts1["tbs_compiled"]
    assert counts2["modules_compiled_before"] == counts1["tcache_modules_stored"]


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
@pytest.mark.parametrize("wasm", ["wasm64", "wasm32"])
def test_compiled_code_is_reused_where_the_heap_put_the_machine_elsewhere(
    tmp_path: Path, wasm: str
) -> None:
    """Under Pyodide the machine's memory is a heap region whose address changes between
    runs; generated code reads it at run time, so the second run still compiles nothing."""
    code = build(tmp_path, SV39_PROGRAM)
    first, counts1 = run_program(code, "wasm", wasm, tmp_path / "tcache", placed_at=0x10000)
    second, counts2 = run_program(code, "wasm", wasm, tmp_path / "tcache", placed_at=0x70000)
    assert second == first
    assert counts2["code_identity"] == counts1["code_identity"]
    assert counts2["tbs_compiled"] == 0
    assert counts2["modules_compiled_before"] == counts1["tcache_modules_stored"] > 0


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_compiled_code_is_not_reused_under_another_layout(tmp_path: Path) -> None:
    """wasm32 and wasm64 code address memory differently: each mode compiles its own."""
    code = build(tmp_path, SV39_PROGRAM)
    first, _ = run_program(code, "wasm", "wasm64", tmp_path / "tcache")
    second, counts = run_program(code, "wasm", "wasm32", tmp_path / "tcache")
    assert second == first
    assert counts["tbs_compiled_before"] == 0 and counts["tbs_compiled"] > 0


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_compiled_blocks_are_kept_without_their_ir(tmp_path: Path) -> None:
    """Later runs reach a compiled block through its module, so the IR of blocks
    compiled by the time the cache is written is never serialized (a first boot
    compiles most of its blocks); blocks left on the interpreter keep theirs. A run
    that cannot use the modules translates those blocks afresh."""
    code = build(tmp_path, SV39_PROGRAM)
    first, counts = run_program(code, "auto", "wasm64", tmp_path / "tcache", batch=1)
    records = [r for rs in TranslationCache(tmp_path / "tcache").index.values() for r in rs]
    without_ir = [r for r in records if r[4] is None]
    assert len(without_ir) == counts["tbs_compiled"] > 0
    assert len(records) > len(without_ir)
    second, counts = run_program(code, "auto", "wasm32", tmp_path / "tcache", batch=1)
    assert second == first
    assert counts["insns_translated"] > 0 and counts["tbs_compiled_before"] == 0


@pytest.mark.skipif(not all(TOOLS), reason="riscv64 binutils not installed")
def test_changed_code_at_the_same_address_is_translated_afresh(tmp_path: Path) -> None:
    original = build(tmp_path, SV39_PROGRAM)
    run_program(original, "interp", "wasm64", tmp_path / "tcache")
    changed = build(tmp_path, SV39_PROGRAM.replace("li a1, 1234", "li a1, 4321"))
    results, counts = run_program(changed, "interp", "wasm64", tmp_path / "tcache")
    assert results["mem"] == 4321
    assert counts["tcache_misses"] >= 1 and counts["tcache_hits"] >= 1
    assert os.listdir(tmp_path / "tcache")


def test_an_older_engine_builds_namespace_is_removed(tmp_path: Path) -> None:
    tag = sys.implementation.cache_tag
    old = tmp_path / f"system-{tag}-0123456789abcdef0123"
    old.mkdir()
    (old / "x.seg").write_bytes(b"old")
    stored(tmp_path, (0x1000, CODE))
    assert not old.exists()
    assert [p.name.startswith(f"system-{tag}-") for p in tmp_path.iterdir()] == [True]


def test_another_pythons_namespace_is_kept(tmp_path: Path) -> None:
    """CPython and Pyodide (the Node.js runner) share the cache folder, each its own part."""
    other = tmp_path / "system-cpython-399-0123456789abcdef0123"
    other.mkdir()
    stored(tmp_path, (0x1000, CODE))
    assert other.exists()


def test_compiled_modules_are_reused_and_verified(tmp_path: Path) -> None:
    from engine.host.wasmtime_host import WasmtimeHost

    # (module (func (export "f") (result i32) i32.const 42))
    wasm = bytes.fromhex(
        "0061736d01000000" "010501600001 7f" "03020100" "07050101660000" "0a060104004 12a0b"
        .replace(" ", "")
    )  # fmt: skip

    def counts() -> tuple[int, int]:
        host = WasmtimeHost(memory64=False)
        host.cache_modules(tmp_path)
        host.instantiate(wasm, [])
        return host.module_cache_hits, host.module_cache_misses

    assert counts() == (0, 1)  # compiled and kept
    assert counts() == (1, 0)  # loaded
    [entry] = list(tmp_path.rglob("*.cwasm"))
    data = bytearray(entry.read_bytes())
    data[-1] ^= 0xFF
    entry.write_bytes(bytes(data))
    assert counts() == (0, 1)  # damaged: compiled again, never trusted
    assert counts() == (1, 0)
