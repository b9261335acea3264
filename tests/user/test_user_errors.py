"""Bad input to `wasmemu user` gets a clear message and a shell-like status, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GCC = shutil.which("riscv64-linux-gnu-gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc-riscv64-linux-gnu not installed")


def wasmemu(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "engine", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


def build_asm(tmp: Path, body: str) -> Path:
    """A freestanding static program whose _start is `body`."""
    src = tmp / "prog.S"
    src.write_text(f".globl _start\n_start:\n{body}\n")
    out = tmp / "prog"
    subprocess.run([GCC, "-nostdlib", "-static", "-march=rv64gc", "-o", out, src], check=True)
    return out


def test_missing_program(tmp_path: Path) -> None:
    r = wasmemu("user", tmp_path / "nope")
    assert r.returncode == 127
    assert "no such file" in r.stderr


def test_not_an_elf(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")
    r = wasmemu("user", script)
    assert r.returncode == 126
    assert "not an ELF" in r.stderr


def test_elf_for_another_machine() -> None:
    r = wasmemu("user", sys.executable)
    assert r.returncode == 126
    assert "not RISC-V" in r.stderr or "dynamically linked" in r.stderr


@needs_gcc
def test_dynamically_linked_program_is_refused_with_a_fix(tmp_path: Path) -> None:
    src = tmp_path / "dyn.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "dyn"
    subprocess.run([GCC, "-o", exe, src], check=True)
    r = wasmemu("user", exe)
    assert r.returncode == 126
    assert "dynamically linked" in r.stderr and "-static" in r.stderr


@needs_gcc
def test_illegal_instruction_is_sigill_with_pc_and_word(tmp_path: Path) -> None:
    exe = build_asm(tmp_path, "nop\n.word 0xffffffff\n")
    r = wasmemu("user", exe)
    assert r.returncode == 132
    assert "SIGILL" in r.stderr and "illegal instruction 0xffffffff at pc 0x" in r.stderr


@needs_gcc
def test_wild_store_is_sigsegv_with_the_address(tmp_path: Path) -> None:
    exe = build_asm(tmp_path, "li t0, 8\nsd zero, 0(t0)\n")
    r = wasmemu("user", exe)
    assert r.returncode == 139
    assert "SIGSEGV" in r.stderr and "invalid write to address 0x8" in r.stderr


@needs_gcc
def test_jump_into_nowhere_is_sigsegv(tmp_path: Path) -> None:
    exe = build_asm(tmp_path, "li t0, 0x4\njr t0\n")
    r = wasmemu("user", exe)
    assert r.returncode == 139
    assert "0x4" in r.stderr


@needs_gcc
def test_unknown_syscall_is_enosys_and_reported_once_with_d_unimp(tmp_path: Path) -> None:
    exe = build_asm(
        tmp_path,
        "li a7, 999\necall\nli a7, 999\necall\nneg a0, a0\nli a7, 93\necall\n",
    )
    r = wasmemu("user", "-d", "unimp", exe)
    assert r.returncode == 38  # ENOSYS, returned to the guest as -38
    assert r.stderr.count("Unsupported syscall: 999") == 1
    quiet = wasmemu("user", exe)
    assert quiet.returncode == 38 and quiet.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user"], "no program given"),
        (["user", "--frobnicate", "x"], "unknown option '--frobnicate'"),
        (["user", "--tier", "turbo", "x"], "unknown tier 'turbo'"),
        (["user", "-R", "lots", "x"], "'lots' is not a size"),
        (["user", "-d", "everything", "x"], "unknown -d item"),
        (["bogus"], "unknown command 'bogus'"),
    ],
)
def test_bad_options_are_named(args: list[str], message: str) -> None:
    r = wasmemu(*args)
    assert r.returncode == 2
    assert message in r.stderr
