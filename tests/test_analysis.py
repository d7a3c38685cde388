"""Neighbour analysis against brute force; per-run figures; confidence and the kMeans probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from factories import clustering_data, synthetic

from unic_bench.analysis.neighbor_figures import binned, write_neighbor_figures
from unic_bench.analysis.neighbors import analyze_neighbors, cleaning_table, random_level, rank_accuracy
from unic_bench.analysis.run_figures import matched_classes
from unic_bench.api.taskdata import RunContext
from unic_bench.methods.common.neighbors import knn
from unic_bench.methods.kmeans import KMeans, centroid_margin
from unic_bench.run.metrics import matched_correct
from unic_bench.run.records import read_record


def small(n: int = 300, d: int = 8, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    x = rng.normal(size=(k, d))[labels] * 2 + rng.normal(size=(n, d))
    return x.astype(np.float32), labels


def test_rank_accuracy_matches_brute_force() -> None:
    x, y = small()
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, -1)
    order = np.argsort(d, axis=1, kind="stable")
    expected = (y[order] == y[:, None]).mean(axis=0)
    got = rank_accuracy(torch.from_numpy(x), y, "euclidean", np.arange(len(y)))
    assert got[0] == 1.0  # self first
    np.testing.assert_allclose(got, expected, atol=1e-12)
    sampled = rank_accuracy(torch.from_numpy(x), y, "euclidean", np.arange(0, 300, 7))
    np.testing.assert_allclose(sampled, (y[order[::7]] == y[::7, None]).mean(axis=0), atol=1e-12)


def test_random_level_is_the_chance_of_a_same_class_other_image() -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    pairs = [(i, j) for i in range(6) for j in range(6) if i != j]
    assert random_level(y) == pytest.approx(np.mean([y[i] == y[j] for i, j in pairs]))


def test_cleaning_table_matches_sets() -> None:
    x, y = small(n=200)
    _, nb = knn(x, 5, "euclidean")
    table = cleaning_table(nb, y)
    rows = nb.numpy()
    sizes = np.array([len(set(rows[rows[i]].ravel())) for i in range(len(rows))])
    true = np.array([(y[rows[i, 1:]] == y[i]).sum() for i in range(len(rows))])
    for eta in (5, 12, 18, 25):
        kept = sizes <= eta
        row = table[table.union_size <= eta]
        if not kept.any():
            assert row.empty
            continue
        assert row.kept_fraction.iloc[-1] == pytest.approx(kept.mean())
        assert row.tp_fraction.iloc[-1] == pytest.approx(true[kept].sum() / (4 * kept.sum()))
        assert row.removed.iloc[-1] == (~kept).sum()
    assert table.anchors.sum() == len(y) and (table.true_neighbors + table.false_neighbors).sum() == 4 * len(y)


def test_analysis_samples_anchors_when_asked_and_writes_every_figure(tmp_path: Path) -> None:
    x, y = small(n=400)
    exact = analyze_neighbors(x, y, (5, 10))
    assert exact.ranks.exact and exact.ranks.anchors == 400
    sampled = analyze_neighbors(x, y, (5, 10), anchors=50, seed=1)
    assert not sampled.ranks.exact and sampled.ranks.anchors == 50
    # well-separated classes: near neighbours right, the far tail below the random level
    assert exact.ranks.accuracy[1:6].mean() > 0.9 and exact.ranks.accuracy[-50:].mean() < exact.ranks.random_level
    assert 1 < exact.ranks.first_rank_at_random() < 400
    files = write_neighbor_figures(sampled, tmp_path, tau2=200)
    stems = {p.stem for p in files}
    assert stems == {"fig8_rank_accuracy", "fig4_cleaning_threshold", "fig9_removed_by_union_size", "fig10_purity_by_removed"}
    assert all(p.stat().st_size > 0 for p in files) and {p.suffix for p in files} == {".png", ".svg", ".csv"}


def test_binned_rank_curve_averages_equal_bins() -> None:
    curve = binned(np.arange(101, dtype=float), bins=4)
    assert len(curve) == 4 and curve.accuracy.iloc[0] == pytest.approx(np.mean(np.arange(1, 26)))


def test_matched_classes_is_the_hungarian_map() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2, 2])
    clusters = np.array([7, 7, 3, 3, 5, 5, 3])
    classes, ids, match = matched_classes(truth, clusters)
    assert dict(zip(ids, match)) == {3: 1, 5: 2, 7: 0}


def test_kmeans_confidence_is_the_centroid_margin() -> None:
    centroids = np.array([[0.0, 0.0], [4.0, 0.0]], dtype=np.float32)
    x = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(centroid_margin(x, centroids), [1.0, 1 - 1 / 3, 0.0], atol=1e-6)
    xtr, _, xte, yte = synthetic(separation=2.5)
    pred = KMeans(n_init=2).fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=0))
    assert pred.confidence is not None and pred.confidence.shape == (500,)
    assert 0 <= pred.confidence.min() and pred.confidence.max() <= 1
    right = matched_correct(yte, pred.labels)
    assert 0 < right.mean() < 1 and pred.confidence[right].mean() > pred.confidence[~right].mean() + 0.05


def test_probe_logs_kmeans_accuracy_and_confidence_is_saved(cli: Any, tmp_path: Path) -> None:
    out = cli(
        "run", "--method", "unic", "--backbone", "pixels", "--dataset", "digits", "--results", str(tmp_path),
        "--set", "epochs=4", "--set", "probe_every=2", "--device", "cpu",
    )  # fmt: skip
    assert out.code == 0, out.err
    path = next((tmp_path / "runs").rglob("*.json"))
    record = read_record(path)
    assert record is not None
    probed = [e["epoch"] for e in record.epoch_log if "probe_acc" in e]
    assert probed == [1, 3]
    assert all(0.6 < e["probe_acc"] <= 1 for e in record.epoch_log if "probe_acc" in e)  # kMeans on digits pixels: ~0.79
    saved = np.load(path.with_suffix(".npz"))
    assert saved["confidence"].shape == saved["assignments"].shape and (saved["confidence"] > 0).all()


def test_analyze_cli_writes_figures_and_rejects_bad_tau1(cli: Any, tmp_path: Path) -> None:
    base = ("analyze", "neighbors", "--backbone", "pixels", "--dataset", "digits", "--device", "cpu")
    out = cli(*base, "--tau1", "5,10", "--anchors", "200", "--output", str(tmp_path / "f"))
    assert out.code == 0, out.err
    assert "200 sampled anchors" in out.out and "reaches it at rank" in out.out
    assert (tmp_path / "f" / "fig8_rank_accuracy.csv").is_file() and (tmp_path / "f" / "fig4_cleaning_threshold.svg").is_file()
    bad = cli(*base, "--tau1", "1")
    assert bad.code == 2 and "tau1" in bad.err and "Traceback" not in bad.err


def test_plot_unknown_run_is_one_line(cli: Any, tmp_path: Path) -> None:
    out = cli("plot", "nosuchrun", "--results", str(tmp_path))
    assert out.code == 2 and "no run record 'nosuchrun'" in out.err


def test_run_with_figures_writes_them_beside_the_record(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import unic_bench.analysis.run_figures as run_figures

    monkeypatch.setattr(run_figures, "EMBED_MAX_POINTS", 200)
    out = cli(
        "run", "--method", "kmeans", "--backbone", "pixels", "--dataset", "digits", "--results", str(tmp_path),
        "--set", "n_init=1", "--figures", "--device", "cpu",
    )  # fmt: skip
    assert out.code == 0, out.err
    record = next((tmp_path / "runs").rglob("*.json"))
    folder = record.with_name(f"{record.stem}.figures")
    assert {p.stem for p in folder.glob("*.png")} == {"confusion", "embedding", "cluster_grid"}
    assert "skipped curves: the method logs no epochs" in out.out
    grid = pd.read_csv(folder / "cluster_grid.csv")
    tp = grid[grid.group != "random FP"]
    fp = grid[grid.group == "random FP"]
    assert (tp["class"] == tp.matched_class).all() and (fp["class"] != fp.matched_class).all() and len(fp) > 0
    top = grid[grid.group == "most confident TP"].groupby("cluster").confidence.min()
    low = grid[grid.group == "least confident TP"].groupby("cluster").confidence.max()
    assert (top >= low.reindex(top.index)).all()


def test_report_without_records_is_one_line(cli: Any, tmp_path: Path) -> None:
    out = cli("report", "--results", str(tmp_path), "--output", str(tmp_path / "site"))
    assert out.code == 2 and "no measured records" in out.err and not (tmp_path / "site").exists()
