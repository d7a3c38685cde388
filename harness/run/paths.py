"""Where output goes, checked before any work: a run that fits for an hour and then cannot write
its record has wasted the hour.

The checks create nothing that stays: a folder that does not exist yet is judged by its nearest
existing ancestor (where it would be created), with a probe file created there and removed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from unic_bench.errors import BenchError


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _probe(folder: Path, what: str, target: Path) -> None:
    """Create and remove a file in ``folder``: the one test that also sees read-only mounts and ACLs."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".unic-bench-probe.", dir=folder)
    except OSError as exc:
        raise BenchError(f"{what} '{target}' is not writable: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def check_writable_dir(path: Path, what: str) -> None:
    """``path`` is, or can be created as, a writable folder (``what``: "results folder", ...)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise BenchError(f"{what} '{path}' is a file, not a folder")
    base = _nearest_existing(path.absolute())
    if not base.is_dir():
        raise BenchError(f"{what} '{path}' cannot be created: '{base}' is a file, not a folder")
    _probe(base, what, path)


def check_writable_file(path: Path, what: str) -> None:
    """``path`` can be written as a file: not a folder, and its folder writable (or creatable)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise BenchError(f"{what} '{path}' is a folder; give a file name")
    check_writable_dir(path.absolute().parent, f"folder of {what}")
