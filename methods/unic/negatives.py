"""UNIC negatives (arXiv 2503.14500, eq. 3): uniform over the images ranked at or beyond tau2.

``N_bar(x_i) = Q(x_i)[tau2:N]`` where ``Q(x_i)`` is the whole training set sorted by distance to
``x_i`` (self at rank 0). Materialising the top-tau2 lists would cost N * tau2 indices (3.2 GB for
ImageNet-100: 128k x 6300 x int32), so each anchor keeps one number instead: its rank-tau2
distance ``r_i``. Then ``j`` is an allowed negative iff ``d(i, j) >= r_i``, and uniform candidates
are accepted or rejected against it, the pair distance computed on the fly. Rejection sampling of
uniform proposals gives exactly the uniform distribution over the accepted set.

``r_i`` comes from
- ``exact``: the (tau2+1)-th smallest distance to all N rows, by chunks of anchors
  (O(N^2 d) time; memory bounded by ``memory_budget``) — for small N;
- ``sampled``: the matching quantile (level tau2/N) of the distances to ``m`` random rows
  (O(N m d) time), see :func:`default_sample_size` for m;
- ``auto``: ``exact`` up to ``EXACT_MAX_N`` rows, else ``sampled``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from unic_bench.errors import BenchError, unknown_choice
from unic_bench.methods.common.neighbors import (
    MEMORY_BUDGET,
    ArrayLike,
    Metric,
    as_tensor,
    block_distances,
    prepare_features,
    squared_norms,
)

ThresholdMode = Literal["auto", "exact", "sampled"]
THRESHOLD_MODES: tuple[str, ...] = ("auto", "exact", "sampled")
EXACT_MAX_N = 16_384  # exact thresholds cost one N x N distance pass: seconds on a CPU up to here
INSIDE_TOLERANCE = 0.005  # target expected fraction of sampled-mode negatives that fall inside top-tau2


def default_sample_size(n: int, tau2: int, tolerance: float = INSIDE_TOLERANCE) -> int:
    """Candidates per anchor for the ``sampled`` threshold: ``max(1024, 0.16 q / ((1-q) tol^2))``.

    With q = tau2/N, the sample quantile of m draws has a population level ``q_hat`` with standard
    deviation ``s = sqrt(q (1-q) / m)``. When ``q_hat < q`` the ranks in ``[q_hat N, tau2)`` are
    wrongly accepted; the expected accepted share of them is ``E[(q - q_hat)+] / (1 - q)
    ~= 0.4 s / (1 - q)``. Requiring that to be <= ``tolerance`` (0.5 %, half the 1 % budget of
    the tests) gives the formula; the floor of 1024 keeps the per-anchor estimate stable for
    small q (ImageNet-100: q = 0.049 -> m = 1024, i.e. m/N = 0.8 % of the cost of the exact kNN pass).
    """
    q = tau2 / n
    return min(n, max(1024, math.ceil(0.16 * q / ((1 - q) * tolerance**2))))


def pair_distances(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, metric: Metric) -> torch.Tensor:
    """Distances between rows ``a[t]`` and ``b[t]`` of prepared features, in :func:`knn` units."""
    if metric == "euclidean":
        diff = x[a]  # a gathered copy: subtract and square in place (two (B, d) blocks at most)
        diff -= x[b]
        return diff.pow_(2).sum(dim=1)
    return 1.0 - (x[a] * x[b]).sum(dim=1)


def rank_thresholds(
    x: torch.Tensor,
    tau2: int,
    metric: Metric,
    sample_size: int | None = None,
    generator: torch.Generator | None = None,
    memory_budget: int = MEMORY_BUDGET,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) rank-tau2 distance of every row (self is rank 0) and (N,) the row at that rank:
    exact when ``sample_size`` is None.

    The rank is found on :func:`block_distances` (one matrix product per chunk), but the distance
    returned is that of the boundary row recomputed by :func:`pair_distances`, the formula the
    accept test uses: the two formulas round differently, and a threshold from the first would
    reject the rank-tau2 image itself for about a third of anchors.

    With ``sample_size=m`` each chunk of anchors draws a fresh uniform subset of m rows and takes
    the ``floor(q m) + 1``-th smallest distance, q = tau2/N: the sample point with the same share
    of the sample below it as ``r_i`` has of the population. Peak extra memory is 16 bytes per
    (chunk, M) entry, M = N or m: the float32 block plus the copy and int64 indices that
    ``torch.kthvalue``'s CPU kernel makes of it; chunk is sized to ``memory_budget``.
    """
    n = x.shape[0]
    columns = n if sample_size is None else sample_size
    kth = tau2 + 1 if sample_size is None else math.floor(tau2 / n * sample_size) + 1
    chunk = max(1, memory_budget // (16 * columns))
    out = torch.empty(n, dtype=torch.float32, device=x.device)
    boundary = torch.empty(n, dtype=torch.int64, device=x.device)
    x_sq = squared_norms(x) if sample_size is None and metric == "euclidean" else None
    everything = torch.arange(n, device=x.device)
    for start in range(0, n, chunk):
        rows = everything
        if sample_size is not None:
            rows = torch.randperm(n, generator=generator, device=x.device)[:sample_size]
        block = block_distances(x[start : start + chunk], x if sample_size is None else x[rows], metric, x_sq)
        anchors = everything[start : start + chunk]
        boundary[anchors] = rows[torch.kthvalue(block, kth, dim=1).indices]
        out[anchors] = pair_distances(x, anchors, boundary[anchors], metric)
    return out, boundary


class NegativeSampler:
    """Draws one eq.-3 negative per anchor, on the features' device, reproducibly.

    ``thresholds[i]`` is anchor i's rank-tau2 distance (exact or estimated, see the module
    docstring). :meth:`sample` draws a uniform candidate for every anchor, keeps those with
    ``d(i, j) >= thresholds[i]`` and redraws only the rejected ones, for at most ``max_rounds``
    rounds (the acceptance rate is 1 - tau2/N, so with the paper's tau2 <= N/5 nothing is left
    after a few rounds). Anchors still left draw exactly: uniformly among all rows allowed by
    their threshold (one (left, N) distance block), so the result is uniform in every case.
    """

    def __init__(
        self,
        features: ArrayLike,
        tau2: int,
        metric: Metric = "euclidean",
        mode: ThresholdMode = "auto",
        sample_size: int | None = None,
        seed: int = 0,
        max_rounds: int = 32,
        device: str | torch.device | None = None,
        memory_budget: int = MEMORY_BUDGET,
    ) -> None:
        if mode not in THRESHOLD_MODES:
            raise unknown_choice("negative threshold mode", mode, THRESHOLD_MODES)
        self.features = prepare_features(features, metric, device)
        n = self.features.shape[0]
        if not 1 <= tau2 < n:
            raise BenchError(f"tau2={tau2} must be in [1, N-1={n - 1}] (ranks >= tau2 are the negatives, self is rank 0)")
        self.metric, self.tau2, self.max_rounds, self.memory_budget = metric, tau2, max_rounds, memory_budget
        self.generator = torch.Generator(device=self.features.device).manual_seed(seed)
        if mode == "auto":
            mode = "exact" if n <= EXACT_MAX_N else "sampled"
        self.mode = mode
        self.sample_size = None if mode == "exact" else (sample_size or default_sample_size(n, tau2))
        with torch.autocast(self.features.device.type, enabled=False):
            self.thresholds, self.boundary = rank_thresholds(
                self.features, tau2, metric, self.sample_size, self.generator, memory_budget
            )

    def __len__(self) -> int:
        return self.features.shape[0]

    @torch.no_grad()
    def sample(self, anchors: ArrayLike, generator: torch.Generator | None = None) -> torch.Tensor:
        """One negative index per anchor (same shape as ``anchors``, int64, features' device).

        Anchors are processed in chunks of ``memory_budget / (12 d)`` (the two gathered feature
        rows and their difference), so drawing for all N anchors at once stays bounded too.
        """
        g = generator or self.generator
        x = self.features
        anchors = as_tensor(anchors).to(device=x.device, dtype=torch.int64)
        chunk = max(1, self.memory_budget // (12 * x.shape[1]))
        with torch.autocast(x.device.type, enabled=False):
            out = torch.cat([self._sample_chunk(part, g) for part in anchors.reshape(-1).split(chunk)])
        return out.reshape(anchors.shape)

    def _sample_chunk(self, anchors: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x, n = self.features, len(self)
        out = torch.empty_like(anchors)
        pending = torch.arange(anchors.numel(), device=x.device)
        for _ in range(self.max_rounds):
            if pending.numel() == 0:
                break
            a = anchors[pending]
            candidates = torch.randint(n, a.shape, generator=g, device=x.device)
            accepted = pair_distances(x, a, candidates, self.metric) >= self.thresholds[a]
            out[pending[accepted]] = candidates[accepted]
            pending = pending[~accepted]
        chunk = max(1, self.memory_budget // (8 * n))
        x_sq = squared_norms(x) if pending.numel() and self.metric == "euclidean" else None
        for left in pending.split(chunk) if pending.numel() else ():
            a = anchors[left]
            block = block_distances(x[a], x, self.metric, x_sq)
            allowed = block >= block.gather(1, self.boundary[a, None])  # the boundary row in this block's own units
            out[left] = torch.multinomial(allowed.float(), 1, generator=g).squeeze(1)
        return out
