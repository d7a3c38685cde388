"""Issue 15's faults: results only for the data that was read, nothing half-written, nothing hidden.

Data identity (folder features and run ids follow the files), full disks and SIGTERM mid-write
(no partial record, no temp file), file modes (the umask), resumed runs, per-seed output, corrupt
records under --overwrite never, and tables that show how many seeds each cell holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_trees import write_image
from test_unic import Interrupt, stop_after

from unic_bench.atomic import atomic_write, file_mode
from unic_bench.run.records import read_record

KMEANS = ["run", "--method", "kmeans", "--backbone", "pixels", "--set", "n_init=2"]
DIGITS_KMEANS = ["run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "digits", "--set", "n_init=2"]


def image_folder(root: Path, seed: int) -> Path:
    """Two classes of three random-pixel images, the same file names for every ``seed``."""
    for cls in ("a", "b"):
        for i in range(3):
            write_image(root / cls / f"{i}.png", (12, 10), seed=seed * 100 + i + (10 if cls == "b" else 0))
    return root


def only_record(results: Path) -> Any:
    records = [read_record(p) for p in (results / "runs").rglob("*.json")]
    assert len(records) == 1 and records[0] is not None
    return records[0]


def features_of(record: Any, cache: Path) -> np.ndarray:
    return np.load(cache / "features" / f"{record.feature_cache_keys['all']}.npy")


def test_same_file_names_other_pixels_are_other_features_and_records(cli: Any, tmp_path: Path) -> None:
    results = tmp_path / "results"
    outs, records = [], []
    for seed in (1, 2):
        data = image_folder(tmp_path / f"data{seed}", seed)
        outs.append(cli(*KMEANS, "--dataset", "folder", "--data-root", str(data), "--results", str(results / str(seed))))
        records.append(only_record(results / str(seed)))
    assert all(o.code == 0 for o in outs), [o.err for o in outs]
    first, second = records
    assert first.feature_cache_keys != second.feature_cache_keys
    assert not np.array_equal(features_of(first, tmp_path / "cache"), features_of(second, tmp_path / "cache"))
    assert first.run_id != second.run_id and first.spec.data_fingerprint != second.spec.data_fingerprint
    # one results folder: the second folder's run is a new record, not "existing record kept"
    again = cli(*KMEANS, "--dataset", "folder", "--data-root", str(tmp_path / "data2"), "--results", str(results / "1"))
    assert again.code == 0 and "existing record kept" not in again.out
    assert len(list((results / "1" / "runs").rglob("*.json"))) == 2


def test_image_changed_in_place_is_extracted_again(cli: Any, tmp_path: Path) -> None:
    data = image_folder(tmp_path / "data", 1)
    run = [*KMEANS, "--dataset", "folder", "--data-root", str(data), "--results", str(tmp_path / "r")]
    assert cli(*run).code == 0
    before = only_record(tmp_path / "r")
    write_image(data / "a" / "0.png", (12, 10), seed=999)  # same name, same size on disk, new pixels
    stat = (data / "a" / "0.png").stat()
    os.utime(data / "a" / "0.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # even within one clock tick
    assert cli(*run).code == 0
    after = [r for r in map(read_record, (tmp_path / "r" / "runs").rglob("*.json")) if r and r.run_id != before.run_id]
    assert len(after) == 1 and after[0].feature_cache_keys != before.feature_cache_keys
    changed = ~np.isclose(features_of(before, tmp_path / "cache"), features_of(after[0], tmp_path / "cache")).all(axis=1)
    assert changed.tolist() == [True, False, False, False, False, False]  # only a/0.png's row


def test_built_in_data_keeps_its_run_ids() -> None:
    """No data identity for embedded data: every committed digits record (the demo's) keeps its id."""
    from unic_bench.plugins.host import get_host
    from unic_bench.run.protocol import Runner, RunOptions

    committed = sorted((Path(__file__).parents[1] / "results" / "runs").glob("*/digits/pixels/*/*.json"))
    assert len(committed) >= 18  # 3 seeds x (4 clustering + 3 GCD methods), at least
    runner = Runner(RunOptions(), get_host())
    for path in committed:
        record = read_record(path)
        assert record is not None and record.spec is not None
        assert runner.identified(record.spec) is record.spec
        assert record.spec.run_id == record.run_id == path.stem


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only, as on CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]).returncode:
        pytest.skip("needs root to mount a tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize(
    "args,fill",
    [
        # UNIC's first checkpoint (~2 MB) does not fit: the disk fills during the write
        (["run", "--method", "unic", "--backbone", "pixels", "--dataset", "digits", "--set", "epochs=1"], 0),
        # the record's assignments fit in the last free page, its JSON does not: no half of it stays
        (DIGITS_KMEANS, 60 * 1024),
    ],
    ids=["checkpoint", "record"],
)
def test_full_disk_is_one_line_and_leaves_nothing(cli: Any, tiny_disk: Path, args: list[str], fill: int) -> None:
    if fill:
        (tiny_disk / "filler").write_bytes(b"\0" * fill)
    result = cli(*args, "--results", str(tiny_disk / "results"))
    assert result.code == 2, result.err
    assert result.err.startswith("unic-bench: error: cannot write '") and "No space left on device" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    left = [p for p in (tiny_disk / "results").rglob("*") if p.is_file()]
    assert left == [], left


SIGTERM_DURING_CHECKPOINT = """
import os, signal, sys, time, torch
sys.path.insert(0, {tests!r})
from factories import clustering_data, synthetic
from unic_bench.api.taskdata import RunContext
from unic_bench.methods.unic import UNIC

real_save = torch.save
def save_then_sigterm(obj, fh, *args, **kwargs):
    if {wrapped!r}:  # half a file, then the signal while the writer runs; it re-raises as its own error
        fh.write(b"PK half a zip")
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except BaseException as exc:
            raise RuntimeError("zip writer failed") from exc
    real_save(obj, fh, *args, **kwargs)  # the temp file is complete on disk, not yet renamed
    os.kill(os.getpid(), signal.SIGTERM)
torch.save = save_then_sigterm
xtr, _, xte, _ = synthetic(separation=3.0)
UNIC(epochs=2).fit_predict(clustering_data(xtr, xte, 10), RunContext(checkpoint_dir={ckpt!r}))
print("not reached")
"""


@pytest.mark.parametrize("wrapped", [False, True], ids=["after-save", "mid-save"])
def test_sigterm_during_checkpoint_write_leaves_nothing(tmp_path: Path, wrapped: bool) -> None:
    ckpt = tmp_path / "ckpt"
    script = SIGTERM_DURING_CHECKPOINT.format(tests=str(Path(__file__).parent), ckpt=str(ckpt), wrapped=wrapped)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGTERM, proc.stderr  # died of the signal, as without the handler
    assert "not reached" not in proc.stdout
    assert [p.name for p in ckpt.iterdir()] == []  # no training.pt half-written, no temp file


def test_a_failed_write_removes_its_temp_file_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")

    def fail(fh: Any) -> None:
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"] and target.read_text() == "old"


def test_records_and_cache_files_follow_the_umask(cli: Any, tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    assert cli(*DIGITS_KMEANS, "--results", str(tmp_path / "r")).code == 0
    written = [*(tmp_path / "r" / "runs").rglob("*.*"), *(tmp_path / "cache" / "features").glob("*.npy")]
    assert written and {p.stat().st_mode & 0o777 for p in written} == {0o666 & ~mask} == {file_mode()}


def test_a_resumed_run_says_so_in_its_record(tmp_path: Path) -> None:
    from unic_bench.plugins.host import get_host
    from unic_bench.run.protocol import RunOptions, run_specs
    from unic_bench.run.spec import RunRequest, resolve

    request = RunRequest(method="unic", backbone="pixels", dataset="digits", set={"epochs": 3})
    specs = resolve(request, get_host())
    with pytest.raises(Interrupt):  # one extraction batch, then two of the three epochs
        run_specs(specs, RunOptions(results_dir=tmp_path, progress=stop_after(2), batch_size=2048))
    outcome = run_specs(specs, RunOptions(results_dir=tmp_path))[0]
    assert outcome.record.resumed_from_epoch == 2
    assert json.loads(outcome.path.read_text())["resumed_from_epoch"] == 2


def test_each_seed_is_printed_as_it_finishes(use_plugins: Any, cli: Any, tmp_path: Path) -> None:
    from unic_bench.api.hookspecs import hookimpl
    from unic_bench.errors import BenchError
    from unic_bench.methods.kmeans import KMeans

    class FailsOnSeed1(KMeans):
        name = "fails-on-seed-1"

        def fit_predict(self, data: Any, ctx: Any) -> Any:
            if ctx.seed == 1:
                raise BenchError("seed 1 failed")
            return super().fit_predict(data, ctx)

    class Plugin:
        @hookimpl
        def register_methods(self, register: Any) -> None:
            register(FailsOnSeed1)

    use_plugins(("failing", Plugin()))
    result = cli("run", "--method", "fails-on-seed-1", "--backbone", "pixels", "--dataset", "digits", "--seeds", "0,1",
                 "--results", str(tmp_path))  # fmt: skip
    assert result.code == 2 and "seed 1 failed" in result.err
    assert "| seed 0: acc " in result.out


def test_unknown_disabled_plugin_is_warned_with_close_matches(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIC_BENCH_DISABLE_PLUGINS", "kmean")
    result = cli("list", "methods")
    assert result.code == 0
    assert "UNIC_BENCH_DISABLE_PLUGINS names 'kmean', which is no plugin; did you mean 'kmeans'" in result.err
    assert "kmeans" in result.out  # nothing was disabled


def test_overwrite_never_stops_at_a_corrupt_record(cli: Any, tmp_path: Path) -> None:
    assert cli(*DIGITS_KMEANS, "--results", str(tmp_path)).code == 0
    record = next((tmp_path / "runs").rglob("*.json"))
    record.write_text('{"truncated": ')
    never = cli(*DIGITS_KMEANS, "--results", str(tmp_path), "--overwrite", "never")
    assert never.code == 2 and never.err.count("\n") == 1
    assert f"record '{record}' exists but is not a valid run record (corrupt?)" in never.err
    assert record.read_text() == '{"truncated": '
    replaced = cli(*DIGITS_KMEANS, "--results", str(tmp_path))  # only-missing: replaced, and said so
    assert replaced.code == 0 and "is not a valid run record (corrupt?); running again" in replaced.err
    assert read_record(record) is not None


def test_table_shows_seeds_per_cell_and_names_an_unreadable_record(cli: Any, tmp_path: Path) -> None:
    assert cli(*DIGITS_KMEANS, "--seeds", "0,1,2", "--results", str(tmp_path)).code == 0
    broken = sorted((tmp_path / "runs").rglob("*.json"))[0]
    broken.write_text("{")
    result = cli("table", "--results", str(tmp_path))
    assert result.code == 0
    assert f"skipping '{broken}': not a valid run record" in result.err
    assert "(n=2)" in result.out and "(n=3)" not in result.out
    assert "(n=" not in cli("table", "--results", str(tmp_path), "--no-show-n").out


def test_skip_bad_skips_unreadable_images_with_a_warning(cli: Any, tmp_path: Path) -> None:
    data = image_folder(tmp_path / "data", 1)
    (data / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = cli(*KMEANS, "--dataset", "folder", "--data-root", str(data), "--set", "dataset.skip_bad=true",
                 "--results", str(tmp_path / "r"))  # fmt: skip
    assert result.code == 0, result.err
    assert "skipping 1 unreadable image(s)" in result.err and "a/broken.png" in result.err
    assert only_record(tmp_path / "r").n_eval == 6


def test_array_datasets_are_keyed_by_their_files(tmp_path: Path) -> None:
    """CIFAR's batches replaced in place (same names, same row ids) change the split's fingerprint."""
    from dataset_trees import make_cifar10

    from unic_bench.datasets.cifar import Cifar10

    make_cifar10(tmp_path, np.arange(4), np.arange(2))
    before = Cifar10().load(tmp_path, None).splits
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    stat = batch.stat()
    os.utime(batch, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    after = Cifar10().load(tmp_path, None).splits
    assert before["train"].manifest == after["train"].manifest  # the row ids alone cannot tell
    assert before["train"].fingerprint != after["train"].fingerprint
    assert before["test"].fingerprint == after["test"].fingerprint


@pytest.mark.parametrize("flag,value", [("--batch-size", "0"), ("--workers", "-1")])
def test_bad_loader_flags_are_refused_on_a_warm_cache(cli: Any, tmp_path: Path, flag: str, value: str) -> None:
    assert cli(*DIGITS_KMEANS, "--results", str(tmp_path / "warm")).code == 0
    result = cli(*DIGITS_KMEANS, "--results", str(tmp_path / "r"), flag, value)
    assert result.code == 2 and f"invalid {flag} {value}" in result.err
    assert not (tmp_path / "r").exists()
