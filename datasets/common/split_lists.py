"""Class lists that other repositories define: downloaded from the official source, checked, cached.

They are not copied into this repository. On first use each list is fetched from the file its
authors publish (SCAN's ImageNet subsets, the SSB pickles of Vaze et al.), turned into one id per
line (for SCAN: ``wnid<TAB>name``), checked against the sha256 below and cached under
``$UNIC_BENCH_CACHE/splits``. Air-gapped clusters put the same files in a folder and pass
``--splits-dir DIR`` (or set ``UNIC_BENCH_SPLITS``); those copies are checked the same way.
A list whose checksum differs is refused, never used.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from unic_bench.atomic import atomic_write
from unic_bench.errors import BenchError
from unic_bench.run.features import cache_root

SPLITS_ENV = "UNIC_BENCH_SPLITS"
SCAN_URL = (  # wvangansbeke/Unsupervised-Classification, data/imagenet_subsets/ (same files in TEMI's loaders/)
    "https://raw.githubusercontent.com/wvangansbeke/Unsupervised-Classification/"
    "57dff9223303ad1d906cb1e54c0a04a78dee720d/data/imagenet_subsets/imagenet_{n}.txt"
)
SSB_URL = (  # sgvaze/generalized-category-discovery, data/ssb_splits/ (byte-identical in SimGCD and the SSB repo)
    "https://raw.githubusercontent.com/sgvaze/generalized-category-discovery/"
    "621411f38dc2bc871ec2b2c941e8d7bc23a3166d/data/ssb_splits/{name}_osr_splits.pkl"
)


@dataclass(frozen=True)
class SplitList:
    """One list: the official file it is derived from and the checksum of the derived text."""

    filename: str
    sha256: str
    url: str
    derive: Callable[[bytes], str]
    url_md5: str | None = None  # checked before a downloaded pickle is read


def scan_names(raw: bytes) -> str:
    """SCAN's ``wnid name with spaces`` lines -> ``wnid<TAB>name``; line index = class label."""
    lines = [line.split(" ", 1) for line in raw.decode().splitlines() if line.strip()]
    return "".join(f"{wnid}\t{name}\n" for wnid, name in lines)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Reads the SSB pickles (lists, dicts, numpy arrays/ints) and refuses any other global."""

    ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar"}

    def find_class(self, module: str, name: str) -> object:
        if module.split(".")[0] == "numpy" and name in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a split pickle")


def ssb_classes(part: str) -> Callable[[bytes], str]:
    """SSB pickle -> class ids: ``known_classes`` (old) or Hard + Medium + Easy unknown (new), in
    the order GCD's ``get_class_splits`` uses them (label = position in old + new)."""

    def derive(raw: bytes) -> str:
        info = _NumpyOnlyUnpickler(io.BytesIO(raw)).load()
        unknown = info["unknown_classes"]
        ids = info["known_classes"] if part == "old" else [*unknown["Hard"], *unknown["Medium"], *unknown["Easy"]]
        return "".join(f"{int(i)}\n" for i in ids)

    return derive


SSB_MD5 = {  # md5 of sgvaze/generalized-category-discovery's data/ssb_splits/*_osr_splits.pkl
    "cub": "a12ff520ed8777b156d8202e30f6a0c2",
    "aircraft": "e8f9c62211711d9c5e84ead6b205e4c4",
    "scars": "e264b7c905095ce133b3f638b2151718",
}
_SHA256 = {
    "imagenet50_scan_names.tsv": "0a67ce2f57fc9071964df128b460313c80b6ca1da2231bc08d1c02ddee6c82cf",
    "imagenet100_scan_names.tsv": "899e228aa79d8bc07871a977def498b47715d0743f874d874e7971086c8aacc9",
    "imagenet200_scan_names.tsv": "f10b145c3fe8a89387cff1f52da7710276db51c2abcfcec9098b4e83805534f4",
    "cub_ssb_old.txt": "1a383d69b3e9626649c24cddb8c0a9276cbb6e1ef6a3518196b34fe6a8a668e9",
    "cub_ssb_new.txt": "b361661bc999aea0622c607becb0f64074d4a1a9a5ef4664727355e79a40f379",
    "aircraft_ssb_old.txt": "2f5f92c32fe7c6ed1b1ea7cdf138128acb04064ad31edc1182da4417e3f39ce5",
    "aircraft_ssb_new.txt": "bf337c7932f266b6781e43a1d1f3d291727dc0dfa9e2cd61411e41422765bccb",
    "scars_ssb_old.txt": "dbbd84561af4bda37d6d4726a82c8f867b04f29103e6c91c92e56476fdd5da42",
    "scars_ssb_new.txt": "cb3a86a3fcf10dd5662e33d500a7e3da6c2fe2c4f0ac6ec8d7052278f2e4b415",
}
SPLIT_LISTS: dict[str, SplitList] = {
    **{
        f"imagenet{n}_scan_names.tsv": SplitList(
            f"imagenet{n}_scan_names.tsv", _SHA256[f"imagenet{n}_scan_names.tsv"], SCAN_URL.format(n=n), scan_names
        )
        for n in (50, 100, 200)
    },
    **{
        f"{name}_ssb_{part}.txt": SplitList(
            f"{name}_ssb_{part}.txt",
            _SHA256[f"{name}_ssb_{part}.txt"],
            SSB_URL.format(name=name),
            ssb_classes(part),
            SSB_MD5[name],
        )
        for name in SSB_MD5
        for part in ("old", "new")
    },
}

_SPLITS_DIR: ContextVar[Path | None] = ContextVar("splits_dir", default=None)


@contextmanager
def splits_dir(path: Path | None) -> Iterator[None]:
    """Use local copies in ``path`` (``--splits-dir``) inside this block; None keeps the default."""
    token = _SPLITS_DIR.set(Path(path) if path is not None else None)
    try:
        yield
    finally:
        _SPLITS_DIR.reset(token)


def local_dir() -> Path | None:
    """``--splits-dir`` when given, else ``$UNIC_BENCH_SPLITS``, else None (download and cache)."""
    chosen = _SPLITS_DIR.get()
    if chosen is None and os.environ.get(SPLITS_ENV):
        chosen = Path(os.environ[SPLITS_ENV]).expanduser()
    return chosen


def _verified(data: bytes, entry: SplitList, where: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise BenchError(
            f"split list '{entry.filename}' from {where} has sha256 {digest[:12]}..., expected {entry.sha256[:12]}...; "
            f"refusing it (re-derive it from {entry.url})"
        )
    return data.decode()


def _fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https URLs)
        return response.read()


def _download(entry: SplitList) -> str:
    try:
        raw = _fetch(entry.url)
    except OSError as exc:
        raise BenchError(
            f"cannot download split list '{entry.filename}' from {entry.url} ({exc}); on a machine without "
            f"internet put a copy in a folder and pass --splits-dir DIR or set {SPLITS_ENV}"
        ) from None
    if entry.url_md5 is not None and hashlib.md5(raw).hexdigest() != entry.url_md5:
        raise BenchError(f"{entry.url} has md5 {hashlib.md5(raw).hexdigest()}, expected {entry.url_md5}; refusing it")
    return _verified(entry.derive(raw).encode(), entry, entry.url)


def split_list_text(filename: str) -> str:
    """The checked text of a split list: local copy, else cache, else download (then cached)."""
    entry = SPLIT_LISTS[filename]
    local = local_dir()
    if local is not None:
        path = local / filename
        if not path.is_file():
            raise BenchError(
                f"split list '{filename}' is not in '{local}' (--splits-dir / {SPLITS_ENV}); derive it from {entry.url}"
            )
        return _verified(path.read_bytes(), entry, str(path))
    cached = cache_root() / "splits" / filename
    if cached.is_file():
        try:
            return _verified(cached.read_bytes(), entry, str(cached))
        except BenchError as exc:
            print(f"unic-bench: {exc}; downloading it again", file=sys.stderr)
    text = _download(entry)
    atomic_write(cached, lambda fh: fh.write(text.encode()))
    return text


def split_list(filename: str) -> list[str]:
    """The lines of a split list (class ids, or ``wnid<TAB>name``)."""
    return split_list_text(filename).splitlines()
