"""matplotlib on the Agg backend (no display, imported only when a figure is drawn) and the one
way every figure is saved: PNG + SVG, with the numbers behind it as CSV beside them, atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unic_bench.atomic import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")
DPI = 120


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the non-interactive Agg backend (safe on headless nodes)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, stem: Path, numbers: pd.DataFrame | None = None) -> list[Path]:
    """Write ``stem.png``, ``stem.svg`` (and ``stem.csv`` of ``numbers``); close ``fig``; return the paths."""
    plt = pyplot()
    written = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=DPI, bbox_inches="tight")
        path = stem.with_suffix(f".{fmt}")
        data = buffer.getvalue()
        atomic_write(path, lambda fh: fh.write(data))  # noqa: B023 (called before the next iteration)
        written.append(path)
    plt.close(fig)
    if numbers is not None:
        csv = numbers.to_csv(index=False).encode()
        atomic_write(stem.with_suffix(".csv"), lambda fh: fh.write(csv))
        written.append(stem.with_suffix(".csv"))
    return written
