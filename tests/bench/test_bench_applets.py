"""The applets suite's script and its output check, without running an emulator."""

from __future__ import annotations

import pytest

from bench.applets import PROLOGUE, STEPS, applets, check_output, script
from bench.exits import exit_lines, top


def test_the_script_starts_about_forty_applets_and_the_quick_one_about_ten() -> None:
    full, quick = applets(script(quick=False)), applets(script(quick=True))
    assert len(full) >= 40
    assert 8 <= len(quick) <= 14
    assert set(quick) <= set(full)
    assert script(quick=False).startswith(PROLOGUE)


def test_every_step_starts_an_applet_through_q() -> None:
    # A step without `$Q` would run a builtin or, worse, the host's own tool.
    assert all("$Q " in step for step in STEPS)
    assert applets("$Q seq 3 | $Q awk '{print}'; echo x; $Q seq 2") == ["seq", "awk"]


def test_matching_output_passes() -> None:
    check_output("wasmemu auto wasm64", "== 0\n1\n", "== 0\n1\n")


def test_different_output_stops_the_run_with_the_difference() -> None:
    with pytest.raises(SystemExit) as e:
        check_output("wasmemu auto wasm32", "== 0\n1\n== 1\nbad\n", "== 0\n1\n== 1\ngood\n")
    message = str(e.value)
    assert "wasmemu auto wasm32" in message and "qemu-riscv64" in message
    assert "-good" in message and "+bad" in message


def test_a_long_difference_is_cut() -> None:
    with pytest.raises(SystemExit) as e:
        check_output("x", "".join(f"{i}\n" for i in range(200)), "")
    assert "more lines" in str(e.value)


def test_exit_lines_show_the_top_four_and_skip_empty_rows() -> None:
    rows = [
        {"label": "a", "exit_causes": {"miss": 5, "budget": 9, "halt": 1, "exception": 2,
                                       "other": 1}, "host_calls": {"fadd_d": 3}},
        {"label": "b", "exit_causes": {}, "host_calls": {}},
        {"label": "c"},
    ]  # fmt: skip
    assert exit_lines(rows) == [
        "  a: exits: budget 9, miss 5, exception 2, halt 1; host calls: fadd_d 3"
    ]
    assert top({"x": 1_234_567}) == "x 1,234,567"
