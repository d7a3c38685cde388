"""Atomic file writes: write a sibling temp file, fsync, then ``os.replace``.

A crash or a pre-empted SLURM job leaves either the old file or the new one, never half of one.
A write that fails (full disk, read-only file system, no permission) removes its temp file and
becomes one :class:`BenchError` line naming the path; a SIGTERM during the write (SLURM's
pre-emption signal) removes the temp file before the process dies of it. Files get the mode
the process umask gives (``mkstemp`` alone would make them 0600 and break a team's shared cache).
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from unic_bench.errors import BenchError

Writer = Callable[[IO[bytes]], object]
# Failures that are the place's fault, not the program's: reported as one line naming the path.
PLACE_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.EFBIG,
        errno.ENAMETOOLONG,
    }
)


class _Terminated(BaseException):
    """SIGTERM arrived mid-write: unwind (removing the temp file), then die of the signal."""


@functools.cache
def file_mode() -> int:
    """0666 less the process umask: what ``open()`` would give a new file (read once per process)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def place_error(path: Path, exc: OSError) -> BenchError:
    """The one-line error for a write that the file system refused."""
    return BenchError(f"cannot write '{path}': {exc.strerror or exc} (check the folder is writable and has free space)")


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While writing, turn SIGTERM into an exception so ``finally`` blocks run (only when SIGTERM
    would otherwise kill the process outright, and only where handlers can be set: the main thread)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        raise _Terminated(signum)

    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    except BaseException as exc:
        if _in_chain(exc, lambda e: isinstance(e, _Terminated)) is not None:  # also when a writer wrapped it
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)  # die of the signal, as without us (exit status 143 / -15)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stage(path: Path, write: Writer) -> Path:
    """Write a fsynced temp file beside ``path``; on any failure it is removed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if exc.errno in PLACE_ERRNOS:
            raise place_error(path, exc) from None
        raise
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        refused = _in_chain(exc, lambda e: isinstance(e, OSError) and e.errno in PLACE_ERRNOS)
        if isinstance(refused, OSError) and _in_chain(exc, lambda e: isinstance(e, _Terminated)) is None:
            raise place_error(path, refused) from None
        raise
    return Path(tmp)


def _in_chain(exc: BaseException | None, match: Callable[[BaseException], bool]) -> BaseException | None:
    """The first exception in ``exc``'s cause/context chain that ``match``es: a writer may re-raise
    the real reason as something else (``torch.save`` turns ENOSPC into a zip-writer RuntimeError)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if match(exc):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def atomic_write(path: Path, write: Writer) -> None:
    """Call ``write(fh)`` on a temp file in ``path``'s folder and move it into place."""
    atomic_write_many([(Path(path), write)])


def atomic_write_many(items: Sequence[tuple[Path, Writer]]) -> None:
    """Write several files all-or-nothing: every temp file is written before any is moved into
    place (in the given order), so a failed write leaves the old files and no temp file."""
    staged: list[tuple[Path, Path]] = []
    with _sigterm_unwinds():
        try:
            for path, write in items:
                staged.append((_stage(Path(path), write), Path(path)))
            for tmp, path in staged:
                os.replace(tmp, path)
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()


def write_json(path: Path, obj: Any) -> None:
    data = json_bytes(obj)
    atomic_write(path, lambda fh: fh.write(data))


def write_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, array, allow_pickle=False))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, npz_writer(**arrays))


def npz_writer(**arrays: np.ndarray) -> Writer:
    # numpy's stub types **kwds as if they could hit allow_pickle
    return lambda fh: np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
