"""Exact k-nearest neighbours (faiss) and second-order neighbourhood sizes.

Shared by every neighbour-based method: SCAN mines cosine neighbours with self
(Van Gansbeke et al. 2020, utils/memory.py: faiss ``IndexFlatIP`` on L2-normalised features,
top-(k+1) including self), TEMI reuses them, and UNIC (arXiv 2503.14500, Sec. 3.2) mines
Euclidean neighbours of the raw backbone features where ``N(x_i) = Q(x_i)[0:tau1]`` and "every
image x_i would be the closest neighbor to itself", then cleans them with the union sizes of
eq. 4 (:func:`union_sizes`).

The exact search runs in faiss (``faiss.knn``, or ``faiss.knn_gpu`` when faiss has GPU support),
or in torch (:func:`torch_knn`: chunked fp32 matmul + ``topk`` on the features' device) when the
run is on CUDA and faiss has no GPU support (the PyPI faiss-cpu wheel), or faiss is missing.
Every function accepts a torch tensor or a numpy array and returns torch tensors.
"""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
import torch

from unic_bench.errors import BenchError, unknown_choice

Metric = Literal["euclidean", "cosine"]
METRICS: tuple[str, ...] = ("euclidean", "cosine")
KnnBackend = Literal["auto", "faiss", "torch"]
KNN_BACKENDS: tuple[str, ...] = ("auto", "faiss", "torch")
GPU_MEMORY_BUDGET = 1 << 30  # bytes per distance block of the torch kNN on CUDA (2,048 rows at N = 128k)
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


def has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def faiss_has_gpu() -> bool:
    if not (torch.cuda.is_available() and has_faiss()):
        return False
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def knn_backend(device: str | torch.device, backend: KnnBackend = "auto") -> Literal["faiss", "torch"]:
    """``auto``: torch when the run is on CUDA and faiss cannot search there (or faiss is missing), else faiss."""
    if backend not in KNN_BACKENDS:
        raise unknown_choice("kNN backend", backend, KNN_BACKENDS)
    if backend != "auto":
        return backend
    if not has_faiss():
        return "torch"
    return "torch" if torch.device(device).type == "cuda" and not faiss_has_gpu() else "faiss"


def knn(
    features: ArrayLike, k: int, metric: Metric = "euclidean", device: str | torch.device = "cpu", backend: KnnBackend = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest neighbours of every row among all rows, self included at rank 0.

    Returns ``(distances, indices)``, both ``(N, k)`` tensors on ``device`` (float32, int64), rows
    sorted by increasing distance. Distances are *squared* Euclidean distances for ``euclidean``
    (faiss exhaustive L2, as ``IndexFlatL2``; same ranking as Euclidean) and ``1 - cosine
    similarity`` for ``cosine`` (inner product on L2-normalised rows, as ``IndexFlatIP``). faiss
    searches on the GPU (``faiss.knn_gpu``) when ``device`` is CUDA and it has GPU support; the
    torch backend (:func:`torch_knn`) searches on ``device`` (see :func:`knn_backend`).

    Self is forced to rank 0 with distance 0 even when duplicate points tie with it (or when
    float rounding puts a near-duplicate ahead), as the UNIC paper and SCAN require; the other
    entries of a row are ordered by (distance, index), so ties are deterministic. Which of several
    points tied exactly at the k-th distance gets in is the backend's choice.
    """
    chosen = knn_backend(device, backend)
    x = prepare_features(features, metric, "cpu" if chosen == "faiss" else device)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise BenchError(f"k={k} must be in [1, N={n}]")
    if chosen == "torch":
        dist, idx = torch_knn(x, k, metric)
    else:
        dist, idx = _faiss_knn(x.numpy(), k, metric, device)  # zero-copy for float32 contiguous CPU input
    dist, idx = _self_first(dist.to(device), idx.to(device))
    return dist, idx


def _faiss_knn(x: np.ndarray, k: int, metric: Metric, device: str | torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    import faiss

    # faiss.knn / knn_gpu: exhaustive search without building an index (IndexFlat would copy x).
    faiss_metric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    if torch.device(device).type == "cuda" and faiss_has_gpu():
        gpu = torch.device(device).index
        dist, idx = faiss.knn_gpu(faiss.StandardGpuResources(), x, x, k, metric=faiss_metric, device=-1 if gpu is None else gpu)
    else:
        dist, idx = faiss.knn(x, x, k, metric=faiss_metric)
    if metric == "cosine":
        dist = 1.0 - dist
    return torch.from_numpy(dist), torch.from_numpy(idx)


def squared_norms(x: torch.Tensor) -> torch.Tensor:
    """Row norms squared, as a reduction (``x.pow(2)`` would allocate a copy of ``x``)."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def block_distances(queries: torch.Tensor, x: torch.Tensor, metric: Metric, x_sq: torch.Tensor | None = None) -> torch.Tensor:
    """(c, M) distances from prepared query rows to prepared rows ``x``, in :func:`knn` units.

    ``x_sq``: precomputed :func:`squared_norms` of ``x`` when ``x`` is reused across chunks.
    Squared Euclidean as ``|q|^2 + |x|^2 - 2 q.x`` (faiss's exhaustive L2 does the same).
    """
    if metric == "euclidean":
        sq = squared_norms(queries)[:, None] + (squared_norms(x) if x_sq is None else x_sq)
        return torch.addmm(sq, queries, x.T, alpha=-2.0).clamp_(min=0.0)
    return torch.addmm(torch.ones((), device=x.device), queries, x.T, alpha=-1.0)


def torch_knn(x: torch.Tensor, k: int, metric: Metric, memory_budget: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact kNN of prepared rows ``x`` among themselves on ``x``'s device: fp32 blocks + ``topk``.

    A chunk of c anchors holds its (c, N) float32 distance block and ``topk``'s workspace, about
    12 c N bytes; c fits ``memory_budget`` (default 64 MiB on the CPU, 1 GiB on CUDA, where
    larger blocks keep the matmuls efficient). TF32 is not used: distances are plain fp32, as faiss's.
    """
    n = x.shape[0]
    budget = memory_budget or (GPU_MEMORY_BUDGET if x.device.type == "cuda" else MEMORY_BUDGET)
    chunk = max(1, budget // (12 * n))
    x_sq = squared_norms(x) if metric == "euclidean" else None
    dist = torch.empty((n, k), dtype=torch.float32, device=x.device)
    idx = torch.empty((n, k), dtype=torch.int64, device=x.device)
    with torch.autocast(x.device.type, enabled=False):
        for start in range(0, n, chunk):
            block = block_distances(x[start : start + chunk], x, metric, x_sq)
            dist[start : start + chunk], idx[start : start + chunk] = torch.topk(block, k, dim=1, largest=False, sorted=True)
    return dist, idx


def _self_first(dist: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Put each row's own index at rank 0 (distance 0), the rest ordered by (distance, index)."""
    rows = torch.arange(idx.shape[0], device=idx.device)
    is_self = idx == rows[:, None]
    missing = ~is_self.any(dim=1)  # self pushed out by >= k exact duplicates or by rounding
    idx[missing, -1] = rows[missing]
    is_self[missing, -1] = True
    dist = dist.masked_fill(is_self, 0.0)
    order = torch.arange(idx.shape[1], device=idx.device).expand_as(idx)
    for key in (idx, dist, (~is_self).to(torch.int8)):  # stable sorts, least significant key first
        order = order.gather(1, torch.sort(key.gather(1, order), dim=1, stable=True).indices)
    return dist.gather(1, order), idx.gather(1, order)


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
