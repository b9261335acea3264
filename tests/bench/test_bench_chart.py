"""bench.chart on small hand-made result dicts: what each suite draws, and the PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chart import TARGETS, panel, write_chart

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MACHINE = {"git_commit": "abc1234", "date": "2026-01-01T00:00:00+0000"}

CPU = {"suite": "cpu", "quick": True, "machine": MACHINE, "rows": [
    {"label": "interp", "slowdown_vs_qemu": 600.0},
    {"label": "wasm64", "slowdown_vs_qemu": 40.0},
]}  # fmt: skip
BOOT = {"suite": "boot", "quick": False, "machine": MACHINE, "rows": [
    {"label": "wasmemu auto wasm64, empty cache", "ratio_to_qemu": 37.0},
    {"label": "wasmemu auto wasm64, warm cache", "ratio_to_qemu": 17.6},
]}  # fmt: skip
APPLETS = {"suite": "applets", "quick": False, "machine": MACHINE, "applets": ["seq", "awk"],
           "rows": [{"label": "wasmemu auto wasm64", "ratio_to_qemu": 80.0}]}  # fmt: skip
TIERING = {"suite": "tiering", "quick": True, "machine": MACHINE, "rows": [
    {"workload": "cpubench", "config": "wasm", "wall_seconds": 4.0},
    {"workload": "cpubench", "config": "auto", "wall_seconds": 2.0},
    {"workload": "applets", "config": "wasm", "wall_seconds": 30.0},
    {"workload": "applets", "config": "auto", "wall_seconds": 10.0},
]}  # fmt: skip


def test_native_suites_are_drawn_against_qemu_with_their_targets() -> None:
    cpu, boot, applets = panel(CPU), panel(BOOT), panel(APPLETS)
    assert cpu is not None and boot is not None and applets is not None
    assert (cpu.ratios, cpu.target) == ([600.0, 40.0], TARGETS["cpu"])
    assert cpu.reference == "qemu-riscv64"
    assert "(quick)" in cpu.title
    assert (boot.ratios, boot.target) == ([37.0, 17.6], 10.0)
    assert boot.reference == "qemu-system-riscv64"
    assert applets.labels == ["wasmemu auto wasm64"] and applets.target is None
    assert "2 busybox applets" in applets.title


def test_tiering_is_drawn_against_the_best_row_of_each_workload() -> None:
    p = panel(TIERING)
    assert p is not None
    assert p.ratios == [2.0, 1.0, 3.0, 1.0]
    assert p.labels[0] == "cpubench: wasm"
    assert "no native reference" in p.title


@pytest.mark.parametrize("result", [{"suite": "cpu", "rows": []}, {"suite": "other", "rows": [{}]}])
def test_nothing_to_draw(result: dict, tmp_path: Path) -> None:
    assert panel(result) is None
    assert write_chart([result], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_writes_one_png_for_every_suite(tmp_path: Path) -> None:
    path = write_chart([CPU, BOOT, APPLETS, TIERING], tmp_path / "out" / "bench.png")
    assert path == tmp_path / "out" / "bench.png"
    assert path.read_bytes().startswith(PNG_MAGIC)
