"""The serial console on the host: a raw terminal with QEMU's Ctrl-A keys, or plain pipes.

On a terminal the host's line discipline is switched off (raw mode) so the
guest sees every key, and restored on exit. Ctrl-A starts a command, as in
QEMU's -nographic mode: Ctrl-A X quits, Ctrl-A H lists the keys, Ctrl-A Ctrl-A
sends a literal Ctrl-A. With pipes, bytes pass through unchanged and the end
of input just stops input (the guest keeps running until it powers off).
"""

from __future__ import annotations

import os
import select
from collections.abc import Callable

from engine.machine.virt import Console

CTRL_A = 0x01
HELP = b"\r\nC-a h    print this help\r\nC-a x    exit emulator\r\nC-a C-a  sends C-a\r\n"


class QuitRequested(Exception):
    """The user pressed Ctrl-A X."""


class PipeConsole(Console):
    """stdin/stdout as plain byte streams; input is paced (see Console)."""

    paced = True

    def __init__(self, in_fd: int = 0, out_fd: int = 1) -> None:
        self.in_fd, self.out_fd = in_fd, out_fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.out_fd, view)
            view = view[n:]

    def poll(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self.in_fd], [], [], timeout)
        if not ready:
            return b""
        data = os.read(self.in_fd, 4096)
        return data if data else None


class CtrlAKeys:
    """QEMU's Ctrl-A commands in a stream of typed bytes; the rest passes through."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._escape = False

    def feed(self, data: bytes) -> bytes:
        """The bytes for the guest; raises QuitRequested on Ctrl-A X."""
        out = bytearray()
        for byte in data:
            if self._escape:
                self._escape = False
                if byte in (ord("x"), ord("X")):
                    self._write(b"\r\nwasmemu: terminating on signal from the console (C-a x)\r\n")
                    raise QuitRequested
                if byte in (ord("h"), ord("H"), ord("?")):
                    self._write(HELP)
                elif byte == CTRL_A:
                    out.append(CTRL_A)
                continue
            if byte == CTRL_A:
                self._escape = True
            else:
                out.append(byte)
        return bytes(out)


class TerminalConsole(PipeConsole):
    """A terminal in raw mode, with Ctrl-A commands. Use as a context manager."""

    paced = False  # a person types: deliver keys at once

    def __init__(self, in_fd: int = 0, out_fd: int = 1) -> None:
        super().__init__(in_fd, out_fd)
        self._saved: list | None = None
        self._keys = CtrlAKeys(self.write)

    def __enter__(self) -> TerminalConsole:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.in_fd)
        tty.setraw(self.in_fd)
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self.in_fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def poll(self, timeout: float) -> bytes | None:
        data = super().poll(timeout)
        return self._keys.feed(data) if data else data
