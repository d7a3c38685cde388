"""``folder`` (labelled and unlabelled runs end to end) and ``unic-bench datasets check``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_trees import make_cifar10, make_imagenet, make_stl10, shared_splits, write_image

from unic_bench.datasets.cifar import Cifar10
from unic_bench.report.tables import render
from unic_bench.run.records import read_record

KMEANS = ["run", "--method", "kmeans", "--backbone", "pixels", "--set", "n_init=2"]


def two_colour_images(folder: Path, names: list[str], colour: int, size: tuple[int, int] = (40, 30)) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        pixels = np.full((size[1], size[0], 3), colour, dtype=np.uint8)
        pixels[0, 0] = i  # distinct files
        Image.fromarray(pixels).save(folder / name)


def test_labelled_folder_is_scored(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "mine"
    two_colour_images(data / "cats", ["a.jpg", "b.png", "c.jpg"], 20)
    two_colour_images(data / "dogs" / "nested", ["d.jpg", "e.jpg"], 230)
    out = cli(*KMEANS, "--dataset", "folder", "--data-root", str(data), "--results", str(tmp_path / "r"))
    assert out.code == 0, out.err
    record = read_record(next((tmp_path / "r" / "runs").rglob("*.json")))
    assert record is not None and record.metrics["acc"] == 1.0 and record.n_eval == 5 and record.note is None
    rows = list(csv.DictReader(next((tmp_path / "r" / "runs").rglob("*.csv")).open()))
    assert [r["file"] for r in rows] == ["cats/a.jpg", "cats/b.png", "cats/c.jpg", "dogs/nested/d.jpg", "dogs/nested/e.jpg"]


def test_flat_folder_writes_assignments_and_no_metrics(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "flat"
    two_colour_images(data, ["x1.jpg", "x2.jpg"], 10)
    two_colour_images(data, ["y1.jpg", "y2.jpg", "y3.jpg"], 240)
    missing_k = cli(*KMEANS, "--dataset", "folder", "--data-root", str(data), "--results", str(tmp_path / "r"))
    assert missing_k.code == 2 and "--set num_clusters=K" in missing_k.err
    out = cli(
        *KMEANS, "--dataset", "folder", "--data-root", str(data), "--set", "num_clusters=2", "--results", str(tmp_path / "r")
    )
    assert out.code == 0, out.err
    assert "no metrics" in out.out
    record = read_record(next((tmp_path / "r" / "runs").rglob("*.json")))
    assert record is not None and record.metrics == {} and record.note and record.spec.dataset_params["num_clusters"] == 2  # type: ignore[union-attr]
    rows = list(csv.DictReader(next((tmp_path / "r" / "runs").rglob("*.csv")).open()))
    clusters = {r["file"]: int(r["cluster"]) for r in rows}
    assert sorted(clusters) == ["x1.jpg", "x2.jpg", "y1.jpg", "y2.jpg", "y3.jpg"]
    assert clusters["x1.jpg"] == clusters["x2.jpg"] != clusters["y1.jpg"] == clusters["y2.jpg"] == clusters["y3.jpg"]
    with pytest.raises(Exception, match="no clustering records"):
        render([record], "table1", "md")  # an unscored run has no leaderboard cell
    assert cli("table", "--results", str(tmp_path / "r")).code == 2


def test_folder_with_images_and_subfolders_is_refused(cli: Any, tmp_path: Path) -> None:
    write_image(tmp_path / "d" / "loose.jpg")
    write_image(tmp_path / "d" / "cls" / "a.jpg")
    out = cli(*KMEANS, "--dataset", "folder", "--data-root", str(tmp_path / "d"), "--results", str(tmp_path / "r"))
    assert out.code == 2 and "both images (loose.jpg, ...) and sub-folders (cls, ...)" in out.err
    (tmp_path / "d" / "loose.jpg").unlink()
    (tmp_path / "d" / "empty").mkdir()
    out = cli(*KMEANS, "--dataset", "folder", "--data-root", str(tmp_path / "d"), "--results", str(tmp_path / "r"))
    assert out.code == 2 and "class folder(s) empty in" in out.err


@pytest.mark.needs_shared
def test_datasets_check_reports_counts_and_missing(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cifar10(tmp_path, np.arange(8) % 10, np.arange(3))
    make_stl10(tmp_path, 20, 10)
    wnids = (shared_splits() / "imagenet50_scan.txt").read_text().split()
    make_imagenet(tmp_path, wnids, train_per_class=1, val_per_class=1)
    out = cli("datasets", "check", "--data-root", str(tmp_path), "--splits-dir", str(shared_splits()))
    assert out.code == 0, out.err
    lines = {
        line.split("│")[1].strip(): line for line in out.out.splitlines() if line.startswith("│") and line.split("│")[1].strip()
    }
    assert (
        "count mismatch" in lines["cifar10"] and "train 40 / 50,000" in lines["cifar10"] and "test 3 / 10,000" in lines["cifar10"]
    )
    assert "train 20 / 5,000" in lines["stl10"] and "test 10 / 8,000" in lines["stl10"]
    assert "val 50 / 2,500" in lines["imagenet50"]
    assert "missing" in lines["cub"] and "folder" not in lines
    monkeypatch.setattr(Cifar10, "expected_counts", {"train": 40, "test": 3})
    ok = cli("datasets", "check", "--data-root", str(tmp_path), "--dataset", "cifar10")
    assert ok.code == 0 and " ok " in ok.out
    missing = cli("datasets", "check", "--data-root", str(tmp_path), "--dataset", "cub")
    assert missing.code == 1 and "missing" in missing.out


def test_absent_dataset_folder_says_it_does_not_exist(cli: Any, tmp_path: Path) -> None:
    out = cli(
        "run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "cub", "--data-root", str(tmp_path), "--task", "gcd"
    )
    assert out.code == 2 and len(out.err.strip().splitlines()) == 1
    assert (
        f"'{tmp_path / 'CUB_200_2011'}' does not exist (expected there: images.txt" in out.err and "data.caltech.edu" in out.err
    )
