"""Clustering and GCD metrics.

- ACC: best one-to-one map of clusters to classes (Hungarian, scipy ``linear_sum_assignment``)
  on the cluster x class count matrix. With more clusters than classes the extra clusters match
  nothing and count as errors; with fewer, some classes are never predicted.
- NMI (arithmetic normalisation) and ARI: scikit-learn.
- GCD "v2" (Vaze et al., final version; SimGCD): one Hungarian match over all of D_U, then
  All/Old/New accuracy under that single match, Old/New set by the ground-truth class.
  "v1" (deprecated, optimistic): separate matches inside Old and inside New; All is their
  instance-weighted mean.
- Many-to-one (``"many-to-one"``, the overclustering evaluation of TEMI's ``utils.py:compute_metrics``
  and SCAN's overclustering discussion): every cluster maps to its majority class, several
  clusters may share a class, so extra clusters are not errors. It equals ACC when every class
  is the majority of exactly one cluster, and can only be higher otherwise. Stored next to the
  default metrics of every record (``RunRecord.metric_variants``); NMI and ARI need no map and
  are the same under both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

GcdVariant = Literal["v2", "v1"]
MANY_TO_ONE = "many-to-one"


def matched_correct(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per image: is its cluster matched to its class by the best one-to-one map (Hungarian)?"""
    _, true_idx = np.unique(y_true, return_inverse=True)
    _, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = contingency_matrix(pred_idx, true_idx)  # (clusters, classes)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    cluster_to_class = np.full(counts.shape[0], -1)
    cluster_to_class[rows] = cols
    return cluster_to_class[pred_idx] == true_idx


def majority_correct(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per image: is its class the majority class of its cluster (ties: the smallest class id)?"""
    _, true_idx = np.unique(y_true, return_inverse=True)
    _, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = contingency_matrix(pred_idx, true_idx)  # (clusters, classes)
    return np.asarray(counts.argmax(axis=1))[pred_idx] == true_idx


def many_to_one_acc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy when each cluster is read as its majority class, in [0, 1]."""
    return float(majority_correct(np.asarray(y_true), np.asarray(y_pred)).mean())


def many_to_one_metrics(y_true: np.ndarray, y_pred: np.ndarray, old_classes: Iterable[int] | None = None) -> dict[str, float]:
    """The many-to-one variant: clustering ACC/NMI/ARI, or GCD All/Old/New (``old_classes`` given)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if old_classes is None:
        return {**clustering_metrics(y_true, y_pred), "acc": many_to_one_acc(y_true, y_pred)}
    correct = majority_correct(y_true, y_pred)
    is_old = np.isin(y_true, np.asarray(list(old_classes)))
    out = {"all": float(correct.mean())}
    out.update({name: float(correct[mask].mean()) for name, mask in (("old", is_old), ("new", ~is_old)) if mask.any()})
    return out


def cluster_acc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Hungarian accuracy in [0, 1]."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(matched_correct(y_true, y_pred).mean())


def clustering_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """ACC, NMI and ARI of one clustering."""
    return {
        "acc": cluster_acc(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }


def gcd_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, old_classes: Iterable[int], variant: GcdVariant = "v2"
) -> dict[str, float]:
    """All/Old/New accuracy on the unlabelled images (old = ground-truth class is old).

    Old or New is left out when no unlabelled image belongs to that group.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    is_old = np.isin(y_true, np.asarray(list(old_classes)))
    groups = {"old": is_old, "new": ~is_old}
    if variant == "v2":
        correct = matched_correct(y_true, y_pred)
        out = {"all": float(correct.mean())}
        out.update({name: float(correct[mask].mean()) for name, mask in groups.items() if mask.any()})
        return out
    if variant == "v1":
        parts = {name: cluster_acc(y_true[mask], y_pred[mask]) for name, mask in groups.items() if mask.any()}
        weights = {name: float(mask.mean()) for name, mask in groups.items()}
        return {"all": sum(weights[name] * acc for name, acc in parts.items()), **parts}
    raise ValueError(f"unknown GCD metric variant {variant!r} (valid: v2, v1)")
