"""Hand piped console input to the guest a line at a time, at its prompts.

Input from a pipe arrives all at once, long before the guest's shell exists.
Given straight to the UART it would be lost (a tty open resets the FIFO, and a
shell may discard type-ahead when it sets up its terminal), and a line handed
over while the previous command still runs is echoed by the guest's tty in the
middle of that command's output. So a line goes over only when the guest is
idle waiting for input *and* sits at a prompt: it has written something since
the last line, and that output stops mid-line ("~ # ", "login: "), as prompts
do and command output does not. A guest that reads without prompting (`cat`
reading stdin) gets its line once it has been quiet for QUIET_SECONDS.
"""

from __future__ import annotations

import time
from collections.abc import Callable

QUIET_SECONDS = 1.0


class InputPacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.held = bytearray()  # input not yet given to the guest
        self._wrote_since_line = False
        self._mid_line = False
        self._last_output = clock()

    def hold(self, data: bytes) -> None:
        self.held += data

    def saw_output(self, data: bytes) -> None:
        """Note what the guest wrote to its console."""
        if data:
            self._wrote_since_line = True
            self._mid_line = data[-1:] != b"\n"
            self._last_output = self._clock()

    @property
    def at_prompt(self) -> bool:
        """The guest wrote something since the last line and stopped mid-line, as
        prompts do (whether or not input is piped)."""
        return self._wrote_since_line and self._mid_line

    def host_paused(self, seconds: float) -> None:
        """The host kept the guest from running for `seconds` (saving its translation
        cache, say): that is not the guest being quiet, so it does not count."""
        self._last_output += seconds

    def next_line(self, guest_waits: bool) -> bytes | None:
        """The next held line if the guest is ready for it, else None."""
        if not self.held or not guest_waits:
            return None
        if not self.at_prompt and self._clock() - self._last_output < QUIET_SECONDS:
            return None
        end = self.held.find(b"\n") + 1 or len(self.held)
        line = bytes(self.held[:end])
        del self.held[:end]
        self._wrote_since_line = False
        return line
