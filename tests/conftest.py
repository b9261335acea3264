"""Session fixtures shared by the whole test-suite.

Fixture names and call signatures are an interface other tests rely on:

* ``busybox_riscv64`` -> ``Path`` of Debian trixie's riscv64 ``busybox``
  (package ``busybox-static``), fetched once into the wasmemu cache.
* ``riscv_cc(src, *flags, name=None, lang=None)`` -> ``Path`` of a static
  RV64GC ELF, cached by source content and flags.
* ``qemu_riscv64(elf, *args, stdin=None, env=None, cwd=None, timeout=120)``
  -> ``subprocess.CompletedProcess[bytes]`` from ``qemu-riscv64``.
* ``wasmemu_user(elf, *args, options=(), stdin=None, env=None, cwd=None,
  timeout=600)`` -> ``subprocess.CompletedProcess[bytes]`` from
  ``python -m engine user [options] elf [args]``.

Runners never raise on a non-zero exit status (compare ``returncode``), always
capture stdout and stderr as bytes, and give the guest an empty stdin unless
``stdin`` is passed, so a test never blocks on the terminal.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

try:
    import wasmemu_images  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from wasmemu_images.cache import cache_dir  # noqa: E402

RISCV_CC = "riscv64-linux-gnu-gcc"
RISCV_CFLAGS: tuple[str, ...] = ("-static", "-march=rv64gc", "-mabi=lp64d", "-O2")
QEMU_RISCV64 = "qemu-riscv64"

Arg = str | bytes | os.PathLike[str]


def _stdin_bytes(stdin: bytes | str | None) -> bytes | None:
    if isinstance(stdin, str):
        return stdin.encode()
    return stdin


def _run(
    cmd: list[Arg],
    stdin: bytes | str | None,
    env: dict[str, str] | None,
    cwd: Path | str | None,
    timeout: float,
) -> subprocess.CompletedProcess[bytes]:
    data = _stdin_bytes(stdin)
    return subprocess.run(
        cmd,
        input=data,
        stdin=subprocess.DEVNULL if data is None else None,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def busybox_riscv64() -> Path:
    """Debian trixie's static riscv64 busybox, fetched and cached once.

    Skips only when the Debian archive cannot be used from this machine
    (no network, no apt, no Debian mirror configured) *and* nothing is cached;
    any other problem (bad signature, hash mismatch...) fails loudly.
    """
    from wasmemu_images.debian import DebianArchive, FetchError

    try:
        archive = DebianArchive("trixie", arches=("riscv64",))
        root = archive.fetch("busybox-static", "riscv64")
    except FetchError as exc:
        if exc.reason in ("network", "tool-missing", "no-mirror"):
            pytest.skip(
                "busybox-static (riscv64) is not cached and the Debian archive cannot be "
                f"used here ({exc.reason}): {exc}"
            )
        raise
    for rel in ("usr/bin/busybox", "bin/busybox"):
        path = root / rel
        if path.is_file():
            return path
    raise FileNotFoundError(f"no busybox binary in the extracted package at {root}")


@pytest.fixture(scope="session")
def riscv_cc() -> Callable[..., Path]:
    """Compile C or assembly for riscv64 Linux (static, rv64gc, lp64d, -O2).

    ``riscv_cc(src, *flags, name=None, lang=None)``: ``src`` is a source path
    (``.c``, ``.S``, ``.s``), a list of them, or source text (any ``str`` that
    contains a newline; ``lang`` is then ``"c"`` by default or ``"S"``).
    ``flags`` go after the sources, so libraries such as ``-latomic`` work;
    ``-lm`` is always linked last. The ELF is cached in the wasmemu cache
    under a name derived from the sources' contents, the flags and the
    compiler version, and its path is returned.
    """
    cc = shutil.which(RISCV_CC)
    if cc is None:
        pytest.skip(f"{RISCV_CC} not found (Debian package gcc-riscv64-linux-gnu)")
    version = subprocess.run([cc, "--version"], capture_output=True, check=False).stdout
    out_dir = cache_dir("riscv-cc")
    src_dir = cache_dir("riscv-cc", "src")

    def compile_(
        src: Arg | Sequence[Arg],
        *flags: str,
        name: str | None = None,
        lang: str | None = None,
    ) -> Path:
        items = list(src) if isinstance(src, list | tuple) else [src]
        paths: list[Path] = []
        for item in items:
            if isinstance(item, str) and "\n" in item:
                suffix = ".S" if lang in ("S", "s", "asm", "assembler") else ".c"
                digest = hashlib.sha256(item.encode()).hexdigest()[:16]
                path = src_dir / f"inline-{digest}{suffix}"
                if not path.exists():
                    _atomic_write(path, item.encode())
                paths.append(path)
            else:
                paths.append(Path(os.fsdecode(item)))
        h = hashlib.sha256(version)
        h.update("\0".join((*RISCV_CFLAGS, *flags)).encode())
        for p in paths:
            h.update(b"\0" + p.suffix.encode() + b"\0" + p.read_bytes())
        stem = name or paths[0].stem
        out = out_dir / f"{stem}-{h.hexdigest()[:16]}"
        if out.is_file():
            return out
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        cmd = [cc, *RISCV_CFLAGS, *map(str, paths), *flags, "-lm", "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            pytest.fail(f"compiling failed: {' '.join(cmd)}\n{proc.stderr}", pytrace=False)
        os.replace(tmp, out)
        return out

    return compile_


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.fixture(scope="session")
def qemu_riscv64() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run a riscv64 Linux ELF under qemu-user, the reference implementation."""
    qemu = shutil.which(QEMU_RISCV64)
    if qemu is None:
        pytest.skip(f"{QEMU_RISCV64} not found (Debian package qemu-user)")

    def run(
        elf: Arg,
        *args: Arg,
        stdin: bytes | str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[bytes]:
        return _run([qemu, elf, *args], stdin, env, cwd, timeout)

    return run


@pytest.fixture(scope="session")
def wasmemu_user() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run a riscv64 Linux ELF under wasmemu's user-mode emulator.

    Runs ``sys.executable -m engine user *options elf *args`` with the
    repository root as working directory (and on PYTHONPATH, so ``cwd`` may be
    changed without losing the ``engine`` package).
    """

    def run(
        elf: Arg,
        *args: Arg,
        options: Sequence[str] = (),
        stdin: bytes | str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[bytes]:
        run_env = dict(os.environ if env is None else env)
        pythonpath = run_env.get("PYTHONPATH")
        run_env["PYTHONPATH"] = (
            f"{REPO_ROOT}{os.pathsep}{pythonpath}" if pythonpath else str(REPO_ROOT)
        )
        cmd: list[Arg] = [sys.executable, "-m", "engine", "user", *options, elf, *args]
        return _run(cmd, stdin, run_env, REPO_ROOT if cwd is None else cwd, timeout)

    return run
