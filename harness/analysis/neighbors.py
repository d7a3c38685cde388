"""The numbers behind the UNIC paper's neighbour figures (arXiv 2503.14500, Figs. 4, 8, 9, 10).

Labels are used for analysis only: the neighbours themselves come from the features alone,
mined as UNIC mines them (:func:`unic_bench.methods.common.neighbors.knn`: exact faiss search,
self at rank 0; Euclidean on the raw features by default, eq. 2).

- Fig. 8, neighbour accuracy by rank: for an anchor i and rank r, is ``Q(x_i)[r]`` (the r-th
  nearest image, self at rank 0) of i's class? Averaged over anchors, against r / N. Exact (every
  anchor, full sort of every row) up to ``EXACT_MAX_N`` images; beyond, a uniform sample of
  anchors (a stated number, printed on the figure). The random-sampling level is the chance that
  a uniformly drawn *other* image shares the anchor's class, ``sum_c n_c (n_c - 1) / (N (N - 1))``:
  a negative rank tau2 is safe once the curve has fallen to it.
- Figs. 4, 9, 10, cleaning (eq. 4): per anchor, the union size ``|U_{j in N(i)} N(j)|`` and how
  many of its tau1 - 1 neighbours other than itself share its class (self is trivially right and
  is left out of every fraction). Grouped by union size s, that gives for every threshold eta:
  kept fraction of anchors (``s <= eta``), true-positive fraction of the kept neighbours (Fig. 4),
  true and false neighbours removed at each union size (Fig. 9), and purity against the number of
  samples removed (Fig. 10). These are exact at any N (one kNN pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from unic_bench.api.taskdata import Progress, no_progress
from unic_bench.errors import BenchError
from unic_bench.methods.common.neighbors import Metric, knn, prepare_features, union_sizes
from unic_bench.methods.unic.negatives import block_distances

EXACT_MAX_N = 20_000  # every anchor's full sort: N^2 log N, about a minute on a CPU at 20k
DEFAULT_ANCHORS = 1_000  # sampled anchors beyond EXACT_MAX_N: +-1.6 points of accuracy per rank at p = 0.5
RANK_BLOCK_BYTES = 256 * 2**20  # distances + sort indices of one chunk of anchors


@dataclass(frozen=True)
class RankAccuracy:
    """Fig. 8: ``accuracy[r]`` = share of anchors whose rank-r neighbour has their class."""

    accuracy: np.ndarray  # (N,) float64, rank 0 = self
    anchors: int  # how many anchors were averaged
    exact: bool  # True = every image was an anchor
    random_level: float

    def first_rank_at_random(self, window: int = 101) -> int:
        """First rank where the running mean (``window`` ranks) is at or below the random level."""
        n = len(self.accuracy)
        w = max(1, min(window, n))
        smooth = np.convolve(self.accuracy, np.ones(w) / w, mode="same")
        below = np.flatnonzero(smooth[1:] <= self.random_level)
        return int(below[0]) + 1 if below.size else n

    def frame(self) -> pd.DataFrame:
        n = len(self.accuracy)
        return pd.DataFrame({"rank": np.arange(n), "normalized_rank": np.arange(n) / n, "accuracy": self.accuracy})


@dataclass(frozen=True)
class Cleaning:
    """Figs. 4, 9, 10 for one tau1: one row per distinct union size (see the module docstring)."""

    tau1: int
    eta: int  # the paper's eta for this tau1 (App. A.10: 70 for 10, 1500 for 50), else tau1^2 * 0.7
    table: pd.DataFrame  # union_size, anchors, true_neighbors, false_neighbors, kept_fraction, tp_fraction, removed

    @property
    def unfiltered_purity(self) -> float:
        t = self.table
        return float(t.true_neighbors.sum() / max(1, (t.true_neighbors.sum() + t.false_neighbors.sum())))


@dataclass(frozen=True)
class NeighborAnalysis:
    n: int
    metric: str
    ranks: RankAccuracy
    cleaning: dict[int, Cleaning] = field(default_factory=dict)


def random_level(labels: np.ndarray) -> float:
    """Chance that a uniformly drawn other image shares a uniformly drawn anchor's class."""
    counts = np.bincount(labels).astype(np.float64)
    n = counts.sum()
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def rank_accuracy(
    features: torch.Tensor,
    labels: np.ndarray,
    metric: Metric,
    anchors: np.ndarray,
    progress: Progress = no_progress,
) -> np.ndarray:
    """(N,) mean over ``anchors`` of ``labels[Q(x_i)[r]] == labels[i]``, by chunks of anchors.

    Each row is sorted by (distance, index) with self forced to rank 0, as in ``knn``.
    """
    x = prepare_features(features, metric, "cpu")
    y = torch.from_numpy(labels.astype(np.int64))
    n = x.shape[0]
    chunk = max(1, RANK_BLOCK_BYTES // (12 * n))
    total = torch.zeros(n, dtype=torch.float64)
    x_sq = torch.linalg.vector_norm(x, dim=1).square_() if metric == "euclidean" else None
    parts = [torch.from_numpy(part) for part in np.array_split(anchors, max(1, -(-len(anchors) // chunk)))]
    for part in progress(parts, "neighbour accuracy by rank", len(parts)):
        d = block_distances(x[part], x, metric, x_sq)
        d[torch.arange(len(part)), part] = -1.0  # self first even among exact duplicates
        order = torch.argsort(d, dim=1, stable=True)
        total += (y[order] == y[part, None]).sum(dim=0, dtype=torch.float64)
    return (total / len(anchors)).numpy()


def cleaning_table(neighbors: torch.Tensor, labels: np.ndarray) -> pd.DataFrame:
    """Per distinct union size: anchors, their true/false non-self neighbours, and the curves."""
    tau1 = neighbors.shape[1]
    sizes = union_sizes(neighbors).numpy()
    y = labels.astype(np.int64)
    true = (y[neighbors[:, 1:].numpy()] == y[:, None]).sum(axis=1)
    per = pd.DataFrame({"union_size": sizes, "anchors": 1, "true_neighbors": true, "false_neighbors": (tau1 - 1) - true})
    table = per.groupby("union_size", as_index=False).sum().sort_values("union_size", ignore_index=True)
    kept_true, kept_all = table.true_neighbors.cumsum(), (table.true_neighbors + table.false_neighbors).cumsum()
    table["kept_fraction"] = table.anchors.cumsum() / len(sizes)  # anchors kept with eta = union_size
    table["tp_fraction"] = kept_true / kept_all.where(kept_all > 0, 1) if tau1 > 1 else 1.0
    table["removed"] = len(sizes) - table.anchors.cumsum()
    return table


def paper_eta(tau1: int) -> int:
    """App. A.10: eta = 70 with tau1 = 10 and 1500 with tau1 = 50; otherwise the same share of tau1^2."""
    return {10: 70, 50: 1500}.get(tau1, max(tau1, round(0.7 * tau1 * tau1)))


def analyze_neighbors(
    features: torch.Tensor | np.ndarray,
    labels: np.ndarray,
    tau1s: Sequence[int] = (10, 50),
    metric: Metric = "euclidean",
    anchors: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: Progress = no_progress,
) -> NeighborAnalysis:
    """Everything behind Figs. 4, 8, 9, 10 for one feature set.

    ``anchors``: how many anchors Fig. 8 averages (None = all up to ``EXACT_MAX_N`` images, else
    ``DEFAULT_ANCHORS`` drawn uniformly with ``seed``). One kNN pass (largest tau1) serves every tau1.
    """
    x = torch.as_tensor(features)
    n = x.shape[0]
    labels = np.asarray(labels)
    if labels.shape != (n,) or (labels < 0).any():
        raise BenchError(f"neighbour analysis needs a known label for each of the {n} images")
    bad = [t for t in tau1s if not 2 <= t <= n]
    if bad:
        raise BenchError(f"tau1={bad[0]} must be in [2, N={n}] (self is one of the tau1 neighbours)")
    if anchors is None:
        anchors = n if n <= EXACT_MAX_N else DEFAULT_ANCHORS
    if not 1 <= anchors <= n:
        raise BenchError(f"anchors={anchors} must be in [1, N={n}]")
    rows = np.arange(n) if anchors == n else np.sort(np.random.default_rng(seed).choice(n, anchors, replace=False))
    accuracy = rank_accuracy(x, labels, metric, rows, progress)
    ranks = RankAccuracy(accuracy, anchors, anchors == n, random_level(labels))
    _, neighbors = knn(x, max(tau1s), metric, device)
    cleaning = {t: Cleaning(t, paper_eta(t), cleaning_table(neighbors[:, :t].contiguous(), labels)) for t in tau1s}
    return NeighborAnalysis(n, metric, ranks, cleaning)
