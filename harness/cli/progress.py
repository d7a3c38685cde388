"""Rich progress bars on stderr, silent when stderr is not a terminal (clean SLURM logs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import track

T = TypeVar("T")

_CONSOLE = Console(stderr=True)


def rich_progress(items: Iterable[T], description: str = "", total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a transient progress bar (matches ``RunContext.progress``)."""
    yield from track(
        items, description=description, total=total, console=_CONSOLE, transient=True, disable=not _CONSOLE.is_terminal
    )
