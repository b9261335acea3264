"""Debian's static riscv64 busybox runs under wasmemu on every tier, fork and exec included."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

TIERS = {
    "interp": ["--tier", "interp"],
    "wasm64": ["--tier", "wasm", "--wasm", "wasm64"],
    "wasm32": ["--tier", "wasm", "--wasm", "wasm32"],
    "auto": ["--tier", "auto"],
}
Runner = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(params=list(TIERS))
def tier(request: pytest.FixtureRequest) -> list[str]:
    return TIERS[request.param]


def test_shell_arithmetic(busybox_riscv64: Path, wasmemu_user: Runner, tier: list[str]) -> None:
    r = wasmemu_user(busybox_riscv64, "sh", "-c", "echo $((6*7))", options=tier)
    assert (r.returncode, r.stdout) == (0, b"42\n"), r.stderr


def test_sha256sum_matches_the_host(
    busybox_riscv64: Path, wasmemu_user: Runner, tier: list[str], tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4099  # a little over 1 MiB, not a multiple of 64
    f = tmp_path / "data.bin"
    f.write_bytes(data)
    r = wasmemu_user(busybox_riscv64, "sha256sum", str(f), options=tier)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_pipeline_forks_and_execs(busybox_riscv64: Path, wasmemu_user: Runner) -> None:
    # Each stage is a forked child that execs busybox again.
    script = f"{busybox_riscv64} seq 1 100 | {busybox_riscv64} grep 7 | {busybox_riscv64} wc -l"
    r = wasmemu_user(busybox_riscv64, "sh", "-c", script, options=TIERS["auto"])
    assert (r.returncode, r.stdout.strip()) == (0, b"19"), r.stderr


def test_exit_status_of_a_child_reaches_the_shell(
    busybox_riscv64: Path, wasmemu_user: Runner
) -> None:
    r = wasmemu_user(
        busybox_riscv64, "sh", "-c", "sh -c 'exit 7'; echo status=$?", options=TIERS["auto"]
    )
    assert r.stdout == b"status=7\n", r.stderr


def test_interactive_shell_reads_commands_from_stdin(
    busybox_riscv64: Path, wasmemu_user: Runner
) -> None:
    r = wasmemu_user(
        busybox_riscv64, "sh", options=TIERS["auto"],
        stdin=b"x=5\necho $((x*x))\nuname -m\nexit 3\n",
    )  # fmt: skip
    assert r.returncode == 3
    assert r.stdout == b"25\nriscv64\n", r.stderr


def test_files_are_listed_created_and_removed(
    busybox_riscv64: Path, wasmemu_user: Runner, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "sub").mkdir()
    script = f"cd {tmp_path} && ls && echo beta > b.txt && cat a.txt b.txt && rm a.txt && ls"
    r = wasmemu_user(busybox_riscv64, "sh", "-c", script, options=TIERS["auto"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"a.txt\nsub\nalpha\nbeta\nb.txt\nsub\n"
    assert (tmp_path / "b.txt").read_text() == "beta\n"


def test_vfork_then_exec_releases_the_parent(busybox_riscv64: Path, wasmemu_user: Runner) -> None:
    """xargs runs each command with vfork + execve: the child's exec must release its
    waiting parent exactly once, though the pipe that does it is close-on-exec."""
    r = wasmemu_user(
        busybox_riscv64, "xargs", "-n", "1", str(busybox_riscv64), "printf", "<%s>",
        options=TIERS["auto"], stdin=b"x y z\n",
    )  # fmt: skip
    assert (r.returncode, r.stdout) == (0, b"<x><y><z>"), r.stderr
