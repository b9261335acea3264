"""A rich progress display for image builds (``invoke images``).

The builder and :class:`~wasmemu_images.debian.DebianArchive` report through
one callback taking :class:`~wasmemu_images.debian.ProgressEvent`: an event
without a percentage starts a step ("downloading linux-image-..."), events
with one advance it (apt's download status), 100 ends it. On a terminal each
step is a line with a bar; elsewhere (CI logs) each step prints one plain line
when it starts or ends, so logs stay short.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from wasmemu_images.debian import ProgressEvent

__all__ = ["BuildProgress"]


class BuildProgress:
    """Context manager whose instance is the ``progress`` callback.

    >>> with BuildProgress() as progress:               # doctest: +SKIP
    ...     ensure_image(progress=progress)
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn(
                "[bold]{task.fields[stage]:<9}[/] {task.description} [dim]{task.fields[detail]}"
            ),
            BarColumn(bar_width=20),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task: TaskID | None = None
        self._stage = ""

    def __enter__(self) -> BuildProgress:
        if self.live:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._finish()
        if self.live:
            self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if not self.live:
            if event.percent is None or event.percent >= 100:
                self.console.print(f"{event.stage}: {event.message}", highlight=False)
            return
        if event.percent is None or self._task is None or event.stage != self._stage:
            self._finish()
            self._stage = event.stage
            self._task = self._progress.add_task(
                event.message, total=None, stage=event.stage, detail=""
            )
            if event.percent is None:
                return
        assert self._task is not None
        if event.percent >= 100:
            self._progress.update(
                self._task, total=100, completed=100, description=event.message, detail=""
            )
            self._progress.stop_task(self._task)
            self._task = None
        else:
            self._progress.update(
                self._task, total=100, completed=event.percent, detail=event.message
            )

    def _finish(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, total=100, completed=100, detail="")
            self._progress.stop_task(self._task)
            self._task = None
