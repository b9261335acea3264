"""SiFive test finisher: pass, fail with a code, reset; everything else ignored."""

from __future__ import annotations

from engine.hw.sifive_test import TEST_SIZE, SifiveTest


def make() -> tuple[SifiveTest, list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    return SifiveTest(on_finish=lambda kind, status: calls.append((kind, status))), calls


def test_commands() -> None:
    dev, calls = make()
    assert dev.size == TEST_SIZE == 0x1000
    dev.write(0, 4, 0x5555)
    dev.write(0, 4, 0x3333 | (42 << 16))
    dev.write(0, 4, 0x7777)
    dev.write(0, 2, 0x5555)
    dev.write(0, 8, 0xFFFF_FFFF_0001_3333)  # the high word of a 64-bit store is ignored
    assert calls == [("pass", 0), ("fail", 42), ("reset", 0), ("pass", 0), ("fail", 1)]


def test_ignored_writes_and_reads() -> None:
    dev, calls = make()
    dev.write(0, 4, 0x1234)
    dev.write(4, 4, 0x5555)
    dev.write(0, 1, 0x55)
    dev.write(0, 4, 0x5556)
    assert calls == []
    assert dev.read(0, 4) == 0
    assert dev.read(0x10, 8) == 0


def test_default_callback_does_not_exit() -> None:
    SifiveTest().write(0, 4, 0x5555)
