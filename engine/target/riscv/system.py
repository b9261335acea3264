"""Helpers for system instructions that need the host (the translation cache, time)."""

from __future__ import annotations

import time

from engine.ir.core import Helper, HelperFlags, Type

# The architectural time base of QEMU's virt board: 10 MHz.
TIMEBASE_HZ = 10_000_000


def _flush_icache(env: object) -> None:
    env.request_tb_flush()  # type: ignore[attr-defined]


def _rdtime(env: object) -> int:
    return time.monotonic_ns() // (1_000_000_000 // TIMEBASE_HZ)


flush_icache = Helper("flush_icache", _flush_icache, (), None, HelperFlags.NONE)
rdtime = Helper("rdtime", _rdtime, (), Type.I64, HelperFlags.NONE)
