"""Differential tests: every program in tests/programs must behave under
wasmemu's user-mode emulator exactly as under qemu-riscv64 (same stdout, same
exit status), for every tier in ``TIERS``.

A program may declare, in comment lines near its top:

* ``test-cflags: ...`` extra compiler flags (shell syntax)
* ``test-args: ...``   command-line arguments (shell syntax)
* ``test-stdin: FILE`` a file in tests/programs fed to stdin
* ``test-exit: N``     the exit status it is expected to return (default 0)
* ``test-known-gap: WHY`` wasmemu is known to differ from qemu here, for the
  reason given: the comparison is a strict expected failure, so it turns into
  a failure (and the marker must go) once the gap is closed

Environment variables named ``WASMEMU_T_*`` are set for every run so that
programs can print them without depending on the rest of the environment.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

PROGRAMS_DIR = Path(__file__).resolve().parent.parent / "programs"

# Options passed to `python -m engine user` before the ELF; one run per entry.
TIERS: list[list[str]] = [
    ["--tier", "interp"],
    ["--tier", "wasm", "--wasm", "wasm64"],
    ["--tier", "wasm", "--wasm", "wasm32"],
    ["--tier", "auto", "--tb-threshold", "2"],
]

# Fixed, printable extra environment; values with spaces and '=' on purpose.
GUEST_ENV = {"WASMEMU_T_ALPHA": "1", "WASMEMU_T_BETA": "two words=x"}

_DIRECTIVE = re.compile(r"test-(cflags|args|stdin|exit|known-gap):(.*?)(?:\*/)?\s*$")


@dataclasses.dataclass(frozen=True)
class Program:
    path: Path
    cflags: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    stdin: Path | None = None
    exit_status: int = 0
    known_gap: str = ""

    @property
    def name(self) -> str:
        return self.path.stem

    def stdin_bytes(self) -> bytes | None:
        return self.stdin.read_bytes() if self.stdin else None


def _load(path: Path) -> Program:
    fields: dict[str, object] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[:20]:
        m = _DIRECTIVE.search(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip()
        if key == "cflags":
            fields["cflags"] = tuple(shlex.split(value))
        elif key == "args":
            fields["args"] = tuple(shlex.split(value))
        elif key == "stdin":
            fields["stdin"] = PROGRAMS_DIR / value
        elif key == "exit":
            fields["exit_status"] = int(value)
        elif key == "known-gap":
            fields["known_gap"] = value
    return Program(path, **fields)  # type: ignore[arg-type]


def discover() -> list[Program]:
    paths = sorted(p for p in PROGRAMS_DIR.iterdir() if p.suffix in (".c", ".S") and p.is_file())
    return [_load(p) for p in paths]


PROGRAMS = discover()


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GUEST_ENV)
    # Programs that create files do so under TMPDIR; keep them in pytest's tmp.
    env["TMPDIR"] = str(tmp)
    return env


def _diff(expected: bytes, actual: bytes) -> str:
    lines = difflib.unified_diff(
        expected.decode(errors="replace").splitlines(),
        actual.decode(errors="replace").splitlines(),
        "qemu-riscv64",
        "wasmemu",
        lineterm="",
    )
    out = list(lines)
    if len(out) > 80:
        out = [*out[:80], f"... ({len(out) - 80} more diff lines)"]
    return "\n".join(out)


_qemu_results: dict[Path, subprocess.CompletedProcess[bytes]] = {}


def _reference(
    program: Program,
    elf: Path,
    qemu_riscv64: Callable[..., subprocess.CompletedProcess[bytes]],
    tmp: Path,
) -> subprocess.CompletedProcess[bytes]:
    """qemu's result for this ELF, run once per test process."""
    if elf not in _qemu_results:
        _qemu_results[elf] = qemu_riscv64(
            elf, *program.args, stdin=program.stdin_bytes(), env=_env(tmp)
        )
    return _qemu_results[elf]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_program_under_qemu(
    program: Program,
    riscv_cc: Callable[..., Path],
    qemu_riscv64: Callable[..., subprocess.CompletedProcess[bytes]],
    tmp_path: Path,
) -> None:
    """The oracle itself: the program runs, exits as declared, and its output
    is the same on a second run (no addresses, times or random values)."""
    elf = riscv_cc(program.path, *program.cflags)
    first = _reference(program, elf, qemu_riscv64, tmp_path)
    second = qemu_riscv64(elf, *program.args, stdin=program.stdin_bytes(), env=_env(tmp_path))
    assert first.returncode == program.exit_status, first.stderr.decode(errors="replace")
    assert first.stdout, "the program printed nothing"
    assert b"FAIL" not in first.stdout, first.stdout.decode(errors="replace")
    assert first.stderr == b"", first.stderr.decode(errors="replace")
    assert second.returncode == first.returncode
    assert second.stdout == first.stdout, "output differs between two qemu runs:\n" + _diff(
        first.stdout, second.stdout
    )


def _with_known_gaps(programs: list[Program]) -> list[object]:
    return [
        pytest.param(p, id=p.name, marks=pytest.mark.xfail(strict=True, reason=p.known_gap))
        if p.known_gap
        else pytest.param(p, id=p.name)
        for p in programs
    ]


@pytest.mark.parametrize(
    "options", TIERS, ids=lambda o: "-".join(x.lstrip("-") for x in o) or "default"
)
@pytest.mark.parametrize("program", _with_known_gaps(PROGRAMS))
def test_program_matches_qemu(
    program: Program,
    options: list[str],
    riscv_cc: Callable[..., Path],
    qemu_riscv64: Callable[..., subprocess.CompletedProcess[bytes]],
    wasmemu_user: Callable[..., subprocess.CompletedProcess[bytes]],
    tmp_path: Path,
) -> None:
    elf = riscv_cc(program.path, *program.cflags)
    expected = _reference(program, elf, qemu_riscv64, tmp_path)
    got = wasmemu_user(
        elf, *program.args, options=options, stdin=program.stdin_bytes(), env=_env(tmp_path)
    )
    stderr = got.stderr.decode(errors="replace")[-3000:]
    assert got.stdout == expected.stdout, (
        f"stdout differs from qemu-riscv64:\n{_diff(expected.stdout, got.stdout)}\n"
        f"--- wasmemu stderr (tail) ---\n{stderr}"
    )
    assert got.returncode == expected.returncode, (
        f"exit status {got.returncode}, qemu-riscv64 gave {expected.returncode}\n"
        f"--- wasmemu stderr (tail) ---\n{stderr}"
    )


def test_busybox_fixture(
    busybox_riscv64: Path,
    qemu_riscv64: Callable[..., subprocess.CompletedProcess[bytes]],
) -> None:
    """Sanity of the fixture itself: a real riscv64 ELF that qemu can run."""
    assert busybox_riscv64.is_file()
    header = busybox_riscv64.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert header[4] == 2  # ELFCLASS64
    assert int.from_bytes(header[18:20], "little") == 243  # EM_RISCV
    result = qemu_riscv64(busybox_riscv64, "sh", "-c", "echo $((6*7))")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"42\n"
