"""Datasets read from the standard on-disk layouts under ``--data-root``, and what to say when absent.

A missing or incomplete tree is one line naming the dataset, the folder looked at, the files
expected there and where to get them (exit code 2), before any image is read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from unic_bench.api.dataset import Dataset
from unic_bench.errors import BenchError

# torchvision.datasets.folder.IMG_EXTENSIONS (ImageFolder's choice of files)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DiskDataset(Dataset):
    """A dataset in the folder ``folder`` of the data root, as its official archive extracts."""

    needs_root: ClassVar[bool] = True
    folder: ClassVar[str]  # sub-folder of --data-root ("" = the data root itself)
    source: ClassVar[str]  # where to get the files

    def require(self, root: Path | None, *entries: str, base: Path | None = None, expected: str = "") -> Path:
        """The dataset folder (or ``base``), after checking that ``entries`` exist in it (else one-line error)."""
        if root is None:
            raise BenchError(f"dataset '{self.name}' reads files: pass --data-root DIR or set UNIC_BENCH_DATA")
        base = base or Path(root) / self.folder
        missing = [e for e in entries if not (base / e).exists()]
        if missing or not base.is_dir():
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            problem = f"lacks {', '.join(missing[:3])}{more}" if base.is_dir() else "does not exist"
            raise BenchError(
                f"dataset '{self.name}': '{base}' {problem} "
                f"(expected there: {expected or ', '.join(entries) or 'images'}; get it from {self.source})"
            )
        return base


def list_images(folder: Path) -> list[str]:
    """Image file names in ``folder``, sorted as ImageFolder / ``sorted(glob(...))`` sort them."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file() and e.name.lower().endswith(IMG_EXTENSIONS))


def relabel(labels: np.ndarray, order: list[int], num_classes: int, what: str) -> np.ndarray:
    """Map class ``order[i]`` to label i (GCD: position in old + new); ``order`` must cover every class once."""
    if sorted(order) != list(range(num_classes)):
        raise BenchError(f"{what} does not list each of the {num_classes} classes exactly once")
    mapping = np.empty(num_classes, dtype=np.int64)
    mapping[np.asarray(order)] = np.arange(num_classes)
    return mapping[labels]
