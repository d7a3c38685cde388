"""Exact k-nearest neighbours (faiss) and second-order neighbourhood sizes.

Shared by every neighbour-based method: SCAN mines cosine neighbours with self
(Van Gansbeke et al. 2020, utils/memory.py: faiss ``IndexFlatIP`` on L2-normalised features,
top-(k+1) including self), TEMI reuses them, and UNIC (arXiv 2503.14500, Sec. 3.2) mines
Euclidean neighbours of the raw backbone features where ``N(x_i) = Q(x_i)[0:tau1]`` and "every
image x_i would be the closest neighbor to itself", then cleans them with the union sizes of
eq. 4 (:func:`union_sizes`).

Every function accepts a torch tensor or a numpy array and returns torch tensors.
"""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
import torch

from unic_bench.errors import BenchError, unknown_choice

Metric = Literal["euclidean", "cosine"]
METRICS: tuple[str, ...] = ("euclidean", "cosine")
ArrayLike = Union[torch.Tensor, np.ndarray]
MEMORY_BUDGET = 64 * 2**20  # bytes of temporary blocks per chunk (union sizes, negative thresholds and draws)


def check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise unknown_choice("neighbour metric", metric, METRICS)


def as_tensor(x: ArrayLike) -> torch.Tensor:
    """Zero-copy view of a numpy array as a tensor; tensors pass through unchanged."""
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def prepare_features(features: ArrayLike, metric: Metric, device: str | torch.device | None = None) -> torch.Tensor:
    """Float32 contiguous rows on ``device``; L2-normalised for ``cosine``.

    Copies only when needed: a float32 contiguous tensor already on ``device`` is returned as is
    for the Euclidean metric (the UNIC paper mines on the raw, unnormalised features).
    """
    check_metric(metric)
    x = as_tensor(features)
    if x.ndim != 2:
        raise BenchError(f"features must be a 2-d (N, d) array, got shape {tuple(x.shape)}")
    x = x.to(device=device if device is not None else x.device, dtype=torch.float32).contiguous()
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    return x


def faiss_has_gpu() -> bool:
    import faiss

    return torch.cuda.is_available() and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def knn(
    features: ArrayLike, k: int, metric: Metric = "euclidean", device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest neighbours of every row among all rows, self included at rank 0.

    Returns ``(distances, indices)``, both ``(N, k)`` CPU tensors (float32, int64), rows sorted by
    increasing distance. Distances are *squared* Euclidean distances for ``euclidean`` (faiss
    exhaustive L2, as ``IndexFlatL2``; same ranking as Euclidean) and ``1 - cosine similarity`` for
    ``cosine`` (inner product on L2-normalised rows, as ``IndexFlatIP``). The search runs on the
    GPU (``faiss.knn_gpu``) when ``device`` is CUDA and faiss has GPU support, else on the CPU.

    Self is forced to rank 0 with distance 0 even when duplicate points tie with it (or when
    float rounding puts a near-duplicate ahead), as the UNIC paper and SCAN require; the other
    entries of a row are ordered by (distance, index), so ties are deterministic. Which of several
    points tied exactly at the k-th distance gets in is faiss's choice.
    """
    import faiss

    x = prepare_features(features, metric, "cpu").numpy()  # zero-copy for float32 contiguous CPU input
    n = x.shape[0]
    if not 1 <= k <= n:
        raise BenchError(f"k={k} must be in [1, N={n}]")
    # faiss.knn / knn_gpu: exhaustive search without building an index (IndexFlat would copy x).
    faiss_metric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    if torch.device(device).type == "cuda" and faiss_has_gpu():
        gpu = torch.device(device).index
        dist, idx = faiss.knn_gpu(faiss.StandardGpuResources(), x, x, k, metric=faiss_metric, device=-1 if gpu is None else gpu)
    else:
        dist, idx = faiss.knn(x, x, k, metric=faiss_metric)
    if metric == "cosine":
        dist = 1.0 - dist
    dist, idx = _self_first(dist, idx)
    return torch.from_numpy(dist), torch.from_numpy(idx)


def _self_first(dist: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put each row's own index at rank 0 (distance 0), the rest ordered by (distance, index)."""
    rows = np.arange(idx.shape[0])
    is_self = idx == rows[:, None]
    missing = ~is_self.any(axis=1)  # self pushed out by >= k exact duplicates or by rounding
    idx[missing, -1] = rows[missing]
    is_self[missing, -1] = True
    dist[is_self] = 0.0
    order = np.lexsort((idx, dist, ~is_self), axis=1)  # last key is the primary one
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)


def union_sizes(neighbors: ArrayLike, chunk: int | None = None, memory_budget: int = MEMORY_BUDGET) -> torch.Tensor:
    """``|U_{j in N(i)} N(j)|`` for every anchor i (UNIC eq. 4), as an ``(N,)`` int64 tensor.

    ``neighbors`` is the ``(N, k)`` first-order neighbour table (self included, as in the paper,
    so the union contains N(i) itself). Per chunk of anchors the k x k second-order indices are
    gathered, sorted per row and the distinct values counted (1 + number of changes) — all
    vectorised, on the tensor's device.

    Memory bound: a chunk of c anchors holds the gathered (c, k*k) indices (int32 when N < 2^31),
    their sorted copy and sort indices (int64) and a (c, k*k - 1) bool mask, about 21*c*k*k bytes;
    ``chunk`` defaults to the largest c within ``memory_budget`` (64 MiB: c = 1,278 for k = 50).
    """
    nb = as_tensor(neighbors)
    n, k = nb.shape
    small = nb.to(torch.int32) if n < 2**31 else nb
    if chunk is None:
        chunk = max(1, memory_budget // (21 * k * k))
    out = torch.empty(n, dtype=torch.int64, device=nb.device)
    for start in range(0, n, chunk):
        second = small[small[start : start + chunk].reshape(-1).long()].reshape(-1, k * k)
        ordered = torch.sort(second, dim=1).values
        out[start : start + chunk] = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(dim=1)
    return out
