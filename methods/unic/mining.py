"""UNIC neighbour mining in one call: positives, cleaning (eq. 4), negatives (eq. 3).

Definitions from the paper (arXiv 2503.14500, Sec. 3.2-3.3, eqs. 2-4, App. A.10):
Euclidean distances between the raw backbone embeddings; ``N(x_i) = Q(x_i)[0:tau1]`` includes
``x_i`` itself; ``N_clean(x_i) = N(x_i)`` if ``|U_{x_j in N(x_i)} N(x_j)| <= eta`` else ``{x_i}``;
negatives are uniform over ``Q(x_i)[tau2:N]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unic_bench.methods.common.neighbors import ArrayLike, Metric, as_tensor, knn, union_sizes
from unic_bench.methods.unic.negatives import NegativeSampler, ThresholdMode


@dataclass(frozen=True)
class MiningParams:
    """tau1 (positives incl. self), tau2 (first negative rank), eta (cleaning bound), and where
    they came from (``UNIC``'s per-dataset table and ``resolve_mining``)."""

    tau1: int
    tau2: int
    eta: int
    source: str


@dataclass(frozen=True)
class MinedNeighbors:
    """Everything UNIC's sampler needs, mined once from frozen features (labels never used).

    ``neighbors[i]`` is N(x_i) (tau1 indices, self first); ``keep[i]`` is True when anchor i
    passed the cleaning, else its only positive is itself.
    """

    neighbors: torch.Tensor  # (N, tau1) int64, rank order, self at column 0
    distances: torch.Tensor  # (N, tau1) float32, knn() units
    union_sizes: torch.Tensor  # (N,) int64, |U_{j in N(i)} N(j)|
    keep: torch.Tensor  # (N,) bool, union_sizes <= eta
    negatives: NegativeSampler
    params: MiningParams

    def sample_positives(self, anchors: ArrayLike, generator: torch.Generator | None = None) -> torch.Tensor:
        """One positive per anchor, uniform over N_clean(anchor) (eq. 4; self included)."""
        g = generator or self.negatives.generator
        anchors = as_tensor(anchors).to(device=self.neighbors.device, dtype=torch.int64)
        column = torch.randint(self.neighbors.shape[1], anchors.shape, generator=g, device=anchors.device)
        return torch.where(self.keep[anchors], self.neighbors[anchors, column], anchors)


def mine(
    features: ArrayLike,
    tau1: int,
    tau2: int,
    eta: int,
    metric: Metric = "euclidean",
    device: str | torch.device = "cpu",
    seed: int = 0,
    threshold_mode: ThresholdMode = "auto",
    sample_size: int | None = None,
) -> MinedNeighbors:
    """Mine positives (exact kNN), clean them (eq. 4) and prepare the eq.-3 negative sampler.

    All of it runs on ``device`` (the training device) except a faiss-cpu search; every returned
    tensor lives there. ``seed`` seeds the sampler's generator (threshold estimation and draws).
    """
    distances, neighbors = knn(features, tau1, metric, device)  # on the device: torch kNN when faiss cannot use it
    sizes = union_sizes(neighbors)
    sampler = NegativeSampler(features, tau2, metric, threshold_mode, sample_size, seed, device=device)
    return MinedNeighbors(
        neighbors=neighbors.to(device),
        distances=distances.to(device),
        union_sizes=sizes.to(device),
        keep=(sizes <= eta).to(device),
        negatives=sampler,
        params=MiningParams(tau1, tau2, eta, "given"),
    )


def diagnostics(
    mined: MinedNeighbors, labels: ArrayLike, anchors: ArrayLike | None = None, negatives: ArrayLike | None = None
) -> dict[str, float]:
    """Quality of the mined pairs against ground truth, for the run record only (never training).

    - ``kept_fraction``: anchors that pass the cleaning.
    - ``positive_purity_before`` / ``_after``: mean over anchors of the share of the positive set
      (self included, as it is sampled) with the anchor's label, before and after cleaning (a
      rejected anchor keeps only itself, purity 1).
    - ``negative_false_rate``: share of sampled negatives with the anchor's label; ``negatives``
      drawn for ``anchors`` (default: one fresh draw for every anchor).
    """
    labels_t = as_tensor(labels).to(mined.neighbors.device)
    same = (labels_t[mined.neighbors] == labels_t[:, None]).float().mean(dim=1)
    if anchors is None:
        anchors = torch.arange(len(labels_t), device=labels_t.device)
    anchors = as_tensor(anchors).to(labels_t.device)
    if negatives is None:
        negatives = mined.negatives.sample(anchors)
    negatives = as_tensor(negatives).to(labels_t.device)
    return {
        "kept_fraction": mined.keep.float().mean().item(),
        "positive_purity_before": same.mean().item(),
        "positive_purity_after": torch.where(mined.keep, same, torch.ones_like(same)).mean().item(),
        "negative_false_rate": (labels_t[negatives] == labels_t[anchors]).float().mean().item(),
    }
