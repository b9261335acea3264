"""Interrupt lines between devices, interrupt controllers and the hart.

A device owns its output lines and drives them with `set(level)`; whoever
consumes the interrupt (the PLIC, or the board wiring a line to a bit of the
hart's mip) attaches a sink with `connect`. Lines are level-sensitive: the sink
hears every change of level, and the current level is always readable, so a
consumer may poll instead of subscribing.
"""

from __future__ import annotations

from collections.abc import Callable

Sink = Callable[[bool], None]


class IrqLine:
    """One level-sensitive interrupt wire with at most one sink."""

    __slots__ = ("_sink", "level", "name")

    def __init__(self, name: str = "", sink: Sink | None = None) -> None:
        self.name = name
        self.level = False
        self._sink = sink

    def connect(self, sink: Sink | None) -> None:
        """Attach (or with None, detach) the consumer; it learns the current level at once."""
        self._sink = sink
        if sink is not None:
            sink(self.level)

    def set(self, level: bool) -> None:
        level = bool(level)
        if level == self.level:
            return  # unchanged levels are not news: sinks see edges only
        self.level = level
        if self._sink is not None:
            self._sink(level)

    def __call__(self, level: bool) -> None:
        self.set(level)

    def __repr__(self) -> str:
        return f"IrqLine({self.name!r}, level={self.level})"
