"""Class lists from other repositories: derived from the official files, checksummed, cached, or local."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from dataset_trees import shared_ints, shared_splits

from unic_bench.datasets.common import split_lists
from unic_bench.datasets.common.split_lists import SPLIT_LISTS, scan_names, split_list, splits_dir, ssb_classes
from unic_bench.errors import BenchError


def official_ssb_pickle(name: str) -> bytes:
    """A pickle shaped like the SSB files (numpy ids; unknown classes by difficulty)."""
    unknown = {
        level: [int(c) for c in shared_ints(f"{name}_ssb_new_{level.lower()}.txt")] for level in ("Hard", "Medium", "Easy")
    }
    return pickle.dumps({"known_classes": np.array(shared_ints(f"{name}_ssb_old.txt")), "unknown_classes": unknown})


@pytest.mark.needs_shared
def test_every_embedded_checksum_matches_the_reference_copy() -> None:
    for filename in SPLIT_LISTS:
        assert split_lists._verified((shared_splits() / filename).read_bytes(), SPLIT_LISTS[filename], "test")


@pytest.mark.needs_shared
@pytest.mark.parametrize("name", ["cub", "aircraft", "scars"])
def test_ssb_pickle_derives_old_and_hard_medium_easy(name: str) -> None:
    raw = official_ssb_pickle(name)
    assert ssb_classes("old")(raw) == (shared_splits() / f"{name}_ssb_old.txt").read_text()
    assert ssb_classes("new")(raw) == (shared_splits() / f"{name}_ssb_new.txt").read_text()


@pytest.mark.needs_shared
def test_scan_file_derivation_download_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    official = (shared_splits() / "imagenet50_scan_names.tsv").read_text().replace("\t", " ")  # SCAN's "wnid name" lines
    calls = []
    monkeypatch.setattr(split_lists, "_fetch", lambda url: calls.append(url) or official.encode())
    rows = split_list("imagenet50_scan_names.tsv")
    assert (
        rows[0] == official.splitlines()[0].replace(" ", "\t", 1)
        and len(rows) == 50
        and calls == [SPLIT_LISTS["imagenet50_scan_names.tsv"].url]
    )
    assert scan_names(official.encode()) == (shared_splits() / "imagenet50_scan_names.tsv").read_text()
    cached = Path(os.environ["UNIC_BENCH_CACHE"]) / "splits" / "imagenet50_scan_names.tsv"
    assert cached.is_file() and split_list("imagenet50_scan_names.tsv") == rows and len(calls) == 1  # from the cache
    cached.write_text("n00000000\tTampered\n")
    assert split_list("imagenet50_scan_names.tsv") == rows and len(calls) == 2  # a bad cache entry is fetched again


def test_download_failure_and_foreign_files_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str) -> bytes:
        raise OSError("Name or service not known")

    monkeypatch.setattr(split_lists, "_fetch", offline)
    with pytest.raises(BenchError, match="cannot download split list 'cub_ssb_old.txt'.*--splits-dir"):
        split_list("cub_ssb_old.txt")
    monkeypatch.setattr(split_lists, "_fetch", lambda url: official_ssb_pickle("cub"))  # re-pickled: other bytes
    with pytest.raises(BenchError, match="has md5 .* expected a12ff520"):
        split_list("cub_ssb_old.txt")
    monkeypatch.setattr(split_lists, "_fetch", lambda url: b"n00000001 Not a SCAN list\n")
    with pytest.raises(BenchError, match="has sha256 .*refusing it"):
        split_list("imagenet50_scan_names.tsv")


def test_ssb_reader_refuses_code_in_a_pickle() -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="unexpected global"):
        ssb_classes("old")(pickle.dumps({"known_classes": Evil()}))


@pytest.mark.needs_shared
def test_local_copies_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "splits"
    local.mkdir()
    (local / "cub_ssb_old.txt").write_bytes((shared_splits() / "cub_ssb_old.txt").read_bytes())
    with splits_dir(local):
        assert [int(c) for c in split_list("cub_ssb_old.txt")] == shared_ints("cub_ssb_old.txt")
        with pytest.raises(BenchError, match="'cub_ssb_new.txt' is not in"):
            split_list("cub_ssb_new.txt")
    monkeypatch.setenv("UNIC_BENCH_SPLITS", str(local))
    lines = (local / "cub_ssb_old.txt").read_text().splitlines()
    (local / "cub_ssb_old.txt").write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")  # two classes swapped
    with pytest.raises(BenchError, match="split list 'cub_ssb_old.txt' from .* has sha256"):
        split_list("cub_ssb_old.txt")
