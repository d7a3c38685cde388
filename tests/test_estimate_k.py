"""Unknown K (``--set num_clusters=auto``), a given K, and run ids across spelling changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from factories import clustering_data, gcd_data, synthetic

from unic_bench.api.taskdata import RunContext
from unic_bench.plugins.host import get_host
from unic_bench.report.tables import render
from unic_bench.run.estimate_k import EstimateKParams, estimate_k
from unic_bench.run.records import read_record
from unic_bench.run.spec import RunRequest, resolve

SYNTHETIC = ["--backbone", "identity", "--dataset", "synthetic", "--set", "dataset.n_train=600", "--set", "dataset.n_test=200"]


def only_record(results: Path) -> Any:
    (path,) = sorted((results / "runs").rglob("*.json"))
    record = read_record(path)
    assert record is not None
    return record


@pytest.mark.parametrize("task", ["clustering", "gcd"])
def test_auto_recovers_k_on_separable_data_and_records_how(cli: Any, tmp_path: Path, task: str) -> None:
    out = cli(
        "run", "--method", "kmeans", *SYNTHETIC, "--task", task, "--set", "num_clusters=auto",
        "--set", "estimate_k.k_max=25", "--set", "estimate_k.n_init=2", "--results", str(tmp_path),
    )  # fmt: skip
    assert out.code == 0, out.err
    record = only_record(tmp_path)
    assert abs(record.num_clusters - 10) <= 1
    chosen_by = "silhouette" if task == "clustering" else "labelled-acc-brent"
    assert record.k_selection["chosen_by"] == chosen_by and record.k_selection["num_classes"] == 10
    assert record.k_selection["range"] == [2 if task == "clustering" else 5, 25]
    scores = record.k_selection["scores"]
    assert str(record.num_clusters) in scores and max(scores.values()) == scores[str(record.num_clusters)]
    assert f"K={record.num_clusters}, {chosen_by}" in out.out
    assert record.spec.num_clusters == "auto" and record.spec.estimate_k["k_max"] == 25
    table = render([record], "table1" if task == "clustering" else "table2", "md")
    assert (
        "[K=auto]" in table
        and f"K estimated per run, kMeans [K=auto] / Identity (Synthetic): {record.num_clusters} ({chosen_by})" in table
    )


def test_gcd_estimate_scores_labelled_images_only() -> None:
    x, y, _, _ = synthetic(separation=8.0)
    data, _ = gcd_data(x, y, 10)
    k, info = estimate_k(data, EstimateKParams(k_max=20, n_init=2), seed=0)
    assert abs(k - 10) <= 1 and info["range"] == [5, 20]
    # Brent evaluates a handful of candidates, not the whole range
    assert 3 <= len(info["scores"]) < 16


def test_a_given_k_reaches_the_method_and_many_to_one_is_stored(cli: Any, tmp_path: Path) -> None:
    out = cli(
        "run", "--method", "kmeans", *SYNTHETIC, "--set", "num_clusters=15", "--set", "n_init=2", "--results", str(tmp_path)
    )
    assert out.code == 0, out.err
    record = only_record(tmp_path)
    assert record.num_clusters == 15 and record.k_selection == {"chosen_by": "given", "num_classes": 10}
    assignments = np.load(next((tmp_path / "runs").rglob("*.npz")))["assignments"]
    assert assignments.max() < 15 and len(np.unique(assignments)) > 10  # more clusters than classes
    m2o = record.metric_variants["many-to-one"]
    assert m2o["acc"] >= record.metrics["acc"] and m2o["nmi"] == record.metrics["nmi"]
    table = render([record], "table1", "md", variant="many-to-one")
    assert "kMeans (n_init=2) [K=15] [many-to-one]" in table and "majority class" in table


@pytest.mark.parametrize(
    "method,params",
    [
        ("kmeans", {"n_init": 1}),
        ("scan", {"epochs": 2, "num_heads": 2}),
        ("temi", {"epochs": 2, "num_heads": 2, "batch_size": 128}),
        ("unic", {"epochs": 2, "finetune": "none"}),
    ],
)
def test_every_clustering_method_produces_a_larger_than_true_k(method: str, params: dict[str, Any]) -> None:
    xtr, _, xte, _ = synthetic(separation=8.0)
    cls = get_host().methods.get(method)
    labels = cls(cls.validate_params(params)).fit_predict(clustering_data(xtr, xte, 15), RunContext(seed=0)).labels
    assert labels.shape == (len(xte),) and labels.min() >= 0 and labels.max() < 15


def test_ss_kmeans_takes_an_estimated_k_above_the_classes() -> None:
    x, y, _, _ = synthetic(separation=8.0)
    data, unl = gcd_data(x, y, 12)  # 12 clusters for 10 classes; 6 labelled-class slots
    labels = get_host().methods.get("ss-kmeans")(n_init=2).fit_predict(data, RunContext(seed=0)).labels
    assert labels.shape == unl.shape and labels.max() < 12


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"num_clusters": 1}, "expected an integer >= 2 or 'auto'"),
        ({"num_clusters": "many"}, "expected an integer >= 2 or 'auto'"),
        ({"estimate_k.k_max": 9}, "need --set num_clusters=auto"),
        ({"num_clusters": "auto", "estimate_k.depth": 3}, "unknown parameter 'depth'"),
    ],
)
def test_bad_cluster_counts_are_one_line_errors(cli: Any, tmp_path: Path, bad: dict[str, Any], message: str) -> None:
    sets = [arg for key, value in bad.items() for arg in ("--set", f"{key}={value}")]
    out = cli("run", "--method", "kmeans", *SYNTHETIC, *sets, "--results", str(tmp_path))
    assert out.code == 2 and message in out.err and "Traceback" not in out.err


# Ids of the committed demo records (results/runs/.../<run_id>.json), issued before SCAN's derived
# values were spelled "auto" and before the spec had num_clusters: they must not change.
COMMITTED_IDS = {
    ("scan", "clustering"): {"b3932cfe83db8e2a", "8b8fdb71be4285da", "db096cfdf81e0900"},
    ("kmeans", "clustering"): {"3984fa0c6283ccc3", "4a37290ca6c26b0e", "4b3a5d7339e6772b"},
    ("kmeans", "gcd"): {"e0c1da2e98362874", "cfa71097bbd11ea8", "387c786cf61e48d0"},
    ("ss-kmeans", "gcd"): {"e07bc53f7b108a8a", "d1279ca107301242", "da1519c2c01d2590"},
    ("unic", "clustering"): {"115b32254a1f74c2", "ace3c0923a9cec4c", "254d8217d0f93db4"},
}


@pytest.mark.parametrize("method,task", sorted(COMMITTED_IDS))
def test_demo_run_ids_survive_the_auto_spelling(method: str, task: str) -> None:
    request = RunRequest(method=method, backbone="pixels", dataset="digits", task=task, seeds=[0, 1, 2])  # type: ignore[arg-type]
    specs = resolve(request, get_host())
    assert {s.run_id for s in specs} == COMMITTED_IDS[(method, task)]
    if method == "scan":
        assert specs[0].method_params["lr"] == 1e-3 and specs[0].method_params["batch_size"] == "auto"
