"""Metrics against brute force (all one-to-one maps) and scikit-learn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from unic_bench.run.metrics import cluster_acc, clustering_metrics, gcd_metrics, many_to_one_acc, many_to_one_metrics


def brute_force_maps(y_true: np.ndarray, y_pred: np.ndarray) -> list[tuple[float, dict[int, int]]]:
    """Every one-to-one partial map cluster -> class with its accuracy (clusters may outnumber classes)."""
    clusters, classes = np.unique(y_pred).tolist(), np.unique(y_true).tolist()
    results = []
    slots = classes + [None] * max(0, len(clusters) - len(classes))
    for perm in set(itertools.permutations(slots, len(clusters))):
        mapping = {c: k for c, k in zip(clusters, perm) if k is not None}
        correct = np.array([mapping.get(p, None) == t for p, t in zip(y_pred, y_true)])
        results.append((correct.mean(), mapping))
    return results


@pytest.mark.parametrize("n_classes,n_clusters", [(3, 3), (4, 4), (3, 5), (5, 3)])
def test_acc_equals_brute_force(n_classes: int, n_clusters: int) -> None:
    rng = np.random.default_rng(n_classes * 10 + n_clusters)
    for _ in range(20):
        y_true = rng.integers(0, n_classes, 40)
        y_pred = np.where(rng.random(40) < 0.6, y_true % n_clusters, rng.integers(0, n_clusters, 40)) + 7  # arbitrary ids
        best = max(acc for acc, _ in brute_force_maps(y_true, y_pred))
        assert cluster_acc(y_true, y_pred) == pytest.approx(best)


def test_acc_is_permutation_invariant_and_perfect() -> None:
    y = np.repeat(np.arange(4), 5)
    assert cluster_acc(y, (y + 2) % 4) == 1.0
    assert cluster_acc(y, np.zeros_like(y)) == pytest.approx(0.25)


def test_nmi_ari_are_sklearns() -> None:
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 200), rng.integers(0, 6, 200)
    m = clustering_metrics(y_true, y_pred)
    assert m["nmi"] == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
    assert m["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred))


def reference_v2(y_true: np.ndarray, y_pred: np.ndarray, old: set[int]) -> dict[str, float]:
    """Brute force: the single best map over all images, then Old/New under it (unique optimum assumed)."""
    results = brute_force_maps(y_true, y_pred)
    best = max(acc for acc, _ in results)
    maps = [m for acc, m in results if acc == best]
    mapping = maps[0]
    correct = np.array([mapping.get(p) == t for p, t in zip(y_pred, y_true)])
    is_old = np.isin(y_true, list(old))
    return {"all": correct.mean(), "old": correct[is_old].mean(), "new": correct[~is_old].mean(), "n_best": len(maps)}


def test_gcd_v2_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(60):
        y_true = rng.integers(0, 4, 30)
        y_pred = np.where(rng.random(30) < 0.7, y_true, rng.integers(0, 4, 30))
        ref = reference_v2(y_true, y_pred, {0, 1})
        if ref["n_best"] != 1:
            continue  # Old/New are only defined up to the choice among tied maps
        got = gcd_metrics(y_true, y_pred, [0, 1], "v2")
        assert got["all"] == pytest.approx(ref["all"])
        assert got["old"] == pytest.approx(ref["old"])
        assert got["new"] == pytest.approx(ref["new"])
        checked += 1
    assert checked > 20


def test_gcd_v1_matches_separate_brute_force() -> None:
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 4, 40)
    y_pred = rng.integers(0, 4, 40)
    is_old = y_true < 2
    old = max(a for a, _ in brute_force_maps(y_true[is_old], y_pred[is_old]))
    new = max(a for a, _ in brute_force_maps(y_true[~is_old], y_pred[~is_old]))
    got = gcd_metrics(y_true, y_pred, [0, 1], "v1")
    assert got["old"] == pytest.approx(old) and got["new"] == pytest.approx(new)
    assert got["all"] == pytest.approx(is_old.mean() * old + (1 - is_old.mean()) * new)


def test_v1_is_at_least_v2() -> None:
    """v1 matches Old and New separately, so it can only be more optimistic than v2."""
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 6, 300)
    y_pred = rng.integers(0, 6, 300)
    assert gcd_metrics(y_true, y_pred, [0, 1, 2], "v1")["all"] >= gcd_metrics(y_true, y_pred, [0, 1, 2], "v2")["all"]


def test_gcd_one_cluster_cannot_serve_old_and_new() -> None:
    """v2's single matching: a cluster mixing an old and a new class counts for one of them only."""
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([5, 5, 5, 5])
    v2 = gcd_metrics(y_true, y_pred, [0], "v2")
    assert v2["all"] == pytest.approx(0.5)
    assert sorted([v2["old"], v2["new"]]) == [0.0, 1.0]
    assert gcd_metrics(y_true, y_pred, [0], "v1") == {"all": 1.0, "old": 1.0, "new": 1.0}


def brute_force_many_to_one(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The best accuracy over *every* map cluster -> class (several clusters may share a class)."""
    clusters, classes = np.unique(y_pred).tolist(), np.unique(y_true).tolist()
    best = 0.0
    for image in itertools.product(classes, repeat=len(clusters)):
        mapping = dict(zip(clusters, image))
        best = max(best, float(np.mean([mapping[p] == t for p, t in zip(y_pred, y_true)])))
    return best


@pytest.mark.parametrize("n_classes,n_clusters", [(3, 3), (3, 6), (4, 2)])
def test_many_to_one_equals_brute_force_and_bounds_hungarian(n_classes: int, n_clusters: int) -> None:
    rng = np.random.default_rng(100 + n_classes * 10 + n_clusters)
    for _ in range(10):
        y_true = rng.integers(0, n_classes, 30)
        y_pred = np.where(rng.random(30) < 0.6, y_true % n_clusters, rng.integers(0, n_clusters, 30)) + 3
        m2o = many_to_one_acc(y_true, y_pred)
        assert m2o == pytest.approx(brute_force_many_to_one(y_true, y_pred))
        assert m2o >= cluster_acc(y_true, y_pred) - 1e-12


def test_many_to_one_forgives_overclustering_and_splits_gcd_groups() -> None:
    y = np.repeat(np.arange(3), 4)
    split = np.arange(12) // 2  # every class cut into two clusters
    assert many_to_one_acc(y, split) == 1.0 and cluster_acc(y, split) == pytest.approx(0.5)
    gcd = many_to_one_metrics(y, split, old_classes=[0])
    assert gcd == {"all": 1.0, "old": 1.0, "new": 1.0}
    flat = many_to_one_metrics(y, split)
    assert flat["acc"] == 1.0 and flat["nmi"] == pytest.approx(normalized_mutual_info_score(y, split))
