"""bench.common: every guest process's --stats document is kept and summed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import StatsPipe, merge_stats, results_dir, save


def test_merge_sums_counts_and_keeps_the_longest_seconds() -> None:
    docs = [
        {"instret": 10, "seconds": 5.0, "translate_seconds": 1.5,
         "exit_causes": {"miss": 2}, "host_calls": {}},
        {"instret": 7, "seconds": 1.0, "translate_seconds": 0.5,
         "exit_causes": {"miss": 1, "halt": 1}, "host_calls": {"fmul_d": 4}},
    ]  # fmt: skip
    assert merge_stats(docs) == {
        "instret": 17, "seconds": 5.0, "translate_seconds": 2.0,
        "exit_causes": {"miss": 3, "halt": 1}, "host_calls": {"fmul_d": 4}, "processes": 2,
    }  # fmt: skip


def test_the_pipe_keeps_what_each_writer_wrote(tmp_path: Path) -> None:
    pipe = StatsPipe(tmp_path / "stats")
    # Writers open the path with "w", as the engine does, one after another and at once.
    code = "import json, sys; json.dump({'instret': int(sys.argv[2])}, open(sys.argv[1], 'w'))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(pipe.path), str(n)])
             for n in range(1, 9)]  # fmt: skip
    for p in procs:
        assert p.wait() == 0
    docs = pipe.close()
    assert sorted(d["instret"] for d in docs) == list(range(1, 9))


def test_the_pipe_reports_damaged_output(tmp_path: Path) -> None:
    pipe = StatsPipe(tmp_path / "stats")
    Path(pipe.path).write_text('{"instret": ')
    with pytest.raises(SystemExit, match="unreadable"):
        pipe.close()


def test_results_go_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASMEMU_BENCH_RESULTS", str(tmp_path / "r"))
    assert results_dir() == tmp_path / "r"
    path = save("cpu", {"rows": [1]})
    assert path.parent == tmp_path / "r" and path.name.startswith("cpu-")
    assert json.loads(path.read_text()) == {"rows": [1]}


def test_a_boot_row_says_how_many_kept_modules_the_run_loaded() -> None:
    """A warm row without kept modules compiled everything again: the table must show it."""
    from bench.boot import _row, add_ratios

    stats = {"instret": 2_000_000, "exits": 400, "modules_compiled_before": 375,
             "module_cache_hits": 12, "tcache_hits": 80_000}  # fmt: skip
    row = _row("wasmemu Node 24 (Pyodide) wasm64, warm cache", 50.0, stats)
    add_ratios([row], 5.0)
    assert row["kept_modules"] == 375
    assert row["modules_from_cache"] == 12  # wasmtime's own cache of compiled code
    assert row["blocks_from_cache"] == 80_000
    assert row["ratio_to_qemu"] == 10.0
