"""The SiFive test finisher at 0x100000: how the guest powers off or resets the board.

A write to offset 0 whose low 16 bits are a finisher command reports it through
`on_finish(kind, status)`; the machine decides what to do (stop the run loop,
exit with the status, or reset), since a device must not end the process:

    0x5555                  FINISHER_PASS   -> on_finish("pass", 0)
    0x3333 | code << 16     FINISHER_FAIL   -> on_finish("fail", code)
    0x7777                  FINISHER_RESET  -> on_finish("reset", 0)

Linux reaches it through the syscon-poweroff / syscon-reboot nodes (32-bit
writes of 0x5555 / 0x7777) and OpenSBI through its SiFive test reset driver.
Other values and offsets are ignored and reads return 0, as in QEMU. QEMU
decodes 16- and 32-bit accesses only; we also take the low 32 bits of a 64-bit
write and ignore byte writes (a byte cannot hold a command).
"""

from __future__ import annotations

from collections.abc import Callable

TEST_SIZE = 0x1000
FINISHER_FAIL = 0x3333
FINISHER_PASS = 0x5555
FINISHER_RESET = 0x7777

KIND_PASS, KIND_FAIL, KIND_RESET = "pass", "fail", "reset"


class SifiveTest:
    """Test finisher; `on_finish(kind, status)` hears pass/fail/reset requests."""

    name = "sifive_test"
    size = TEST_SIZE

    def __init__(self, on_finish: Callable[[str, int], None] | None = None) -> None:
        self.on_finish: Callable[[str, int], None] = on_finish or (lambda kind, status: None)

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset != 0 or size < 2:
            return
        command = value & 0xFFFF
        code = (value >> 16) & 0xFFFF
        if command == FINISHER_PASS:
            self.on_finish(KIND_PASS, 0)
        elif command == FINISHER_FAIL:
            self.on_finish(KIND_FAIL, code)
        elif command == FINISHER_RESET:
            self.on_finish(KIND_RESET, 0)
