"""Built-in methods actually cluster, reproducibly."""

from __future__ import annotations

import numpy as np
from factories import clustering_data, gcd_data, synthetic

from unic_bench.api.taskdata import RunContext
from unic_bench.methods.kmeans import KMeans
from unic_bench.methods.ss_kmeans import SSKMeans
from unic_bench.run.metrics import cluster_acc, gcd_metrics


def test_kmeans_separable_synthetic() -> None:
    xtr, ytr, xte, yte = synthetic(separation=8.0)
    pred = KMeans().fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=0))
    assert cluster_acc(yte, pred.labels) > 0.99
    assert cluster_acc(ytr, pred.train_assignments) > 0.99


def test_kmeans_is_deterministic_per_seed() -> None:
    xtr, _, xte, _ = synthetic(separation=2.0)
    runs = [KMeans(n_init=3).fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=s)).labels for s in (4, 4)]
    assert np.array_equal(runs[0], runs[1])


def test_kmeans_beats_chance_on_overlap_and_restarts_help_inertia() -> None:
    xtr, ytr, xte, yte = synthetic(separation=3.0, imbalance=3.0)
    one = KMeans(n_init=1).fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=1))
    many = KMeans(n_init=8).fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=1))
    assert many.diagnostics["inertia"] <= one.diagnostics["inertia"] + 1e-3
    assert cluster_acc(yte, many.labels) > 0.5


def test_ss_kmeans_separable_gcd() -> None:
    x, y, _, _ = synthetic(separation=8.0)
    data, unl = gcd_data(x, y, 10)
    pred = SSKMeans(n_init=5).fit_predict(data, RunContext(seed=0))
    m = gcd_metrics(y[unl], pred.labels, data.old_classes)
    assert m["all"] > 0.99 and m["old"] > 0.99 and m["new"] > 0.99


def test_ss_kmeans_keeps_labelled_images_in_their_class() -> None:
    x, y, _, _ = synthetic(separation=2.0)
    data, _ = gcd_data(x, y, 10)
    pred = SSKMeans(n_init=2).fit_predict(data, RunContext(seed=0))
    mask = data.labelled_mask
    assert np.array_equal(pred.train_assignments[mask], y[mask])
