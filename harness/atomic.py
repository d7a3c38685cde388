"""Atomic file writes: write a sibling temp file, fsync, then ``os.replace``.

A crash or a pre-empted SLURM job leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(fh)`` on a temp file in ``path``'s folder and move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    atomic_write(path, lambda fh: fh.write(data))


def write_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, array, allow_pickle=False))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))  # type: ignore[arg-type]  # numpy's stub types **kwds as if they could hit allow_pickle
