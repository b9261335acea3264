"""Ready-to-run riscv64 guest programs from Debian, fetched into the cache on first use."""

from __future__ import annotations

import sys
from pathlib import Path

from wasmemu_images.debian import DebianArchive, FetchError


def busybox_path(progress: bool = False) -> Path:
    """Debian trixie's static riscv64 busybox (package busybox-static)."""
    if progress:
        print("wasmemu: fetching Debian's riscv64 busybox-static (cached after the first time)",
              file=sys.stderr)  # fmt: skip
    try:
        root = DebianArchive().fetch("busybox-static", arch="riscv64")
    except FetchError as e:
        raise SystemExit(f"wasmemu: cannot fetch busybox-static: {e}") from None
    path = root / "usr" / "bin" / "busybox"
    if not path.is_file():
        raise SystemExit(f"wasmemu: {path} missing from the busybox-static package")
    return path
