"""The serial console when the engine runs under Pyodide, in a Worker of Node.js or a browser.

The Worker never returns to its event loop while the guest runs, so input
cannot arrive as messages. The page or the Node.js runner writes keys into a
ring in a SharedArrayBuffer instead, and `bridge.read(ms)` takes what is there
(blocking in Atomics.wait up to `ms` while the guest idles). Output is
gathered and posted in chunks: one message per byte would cost more than the
guest's own work.
"""

from __future__ import annotations

from typing import Any

from engine.machine.console import CtrlAKeys
from engine.machine.virt import Console

FLUSH_BYTES = 4096


class JsConsole(Console):
    """`bridge` has read(timeout_ms) -> Uint8Array, or undefined once input ended,
    and write(Uint8Array). Interactive consoles get QEMU's Ctrl-A keys, others
    are paced like pipes."""

    def __init__(self, bridge: Any, interactive: bool) -> None:
        from pyodide.ffi import to_js  # type: ignore[import-not-found]

        self._bridge, self._to_js = bridge, to_js
        self.paced = not interactive
        self._keys = CtrlAKeys(self._write_now) if interactive else None
        self._out = bytearray()

    def write(self, data: bytes) -> None:
        self._out += data
        if len(self._out) >= FLUSH_BYTES:
            self.flush()

    def _write_now(self, data: bytes) -> None:
        self.write(data)
        self.flush()

    def flush(self) -> None:
        if self._out:
            self._bridge.write(self._to_js(bytes(self._out)))
            self._out.clear()

    def poll(self, timeout: float) -> bytes | None:
        self.flush()  # the guest's output so far is visible before we wait for input
        got = self._bridge.read(int(timeout * 1000))
        if got is None:
            return None
        data = got.to_bytes()
        if data and self._keys is not None:
            data = self._keys.feed(data)
        return data
