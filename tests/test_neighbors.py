"""Neighbour mining against brute-force references: kNN, union sizes, cleaning, eq.-3 negatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from unic_bench.errors import BenchError
from unic_bench.methods.common import neighbors as nb
from unic_bench.methods.common.neighbors import knn, knn_backend, torch_knn, union_sizes
from unic_bench.methods.unic.mining import diagnostics, mine
from unic_bench.methods.unic.negatives import NegativeSampler, default_sample_size


def blobs(n: int, k: int = 10, dim: int = 16, spread: float = 3.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, dim, generator=g) * spread
    labels = torch.randint(k, (n,), generator=g)
    return centers[labels] + torch.randn(n, dim, generator=g), labels


def exact_distances(x: np.ndarray, rows: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """float64 reference distances (knn units) from ``x[rows]`` to every row."""
    x = x.astype(np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return 1.0 - x[rows] @ x.T
    sq = (x**2).sum(1)
    return np.maximum(sq[rows, None] + sq[None, :] - 2.0 * x[rows] @ x.T, 0.0)  # float64: exact enough for ranks


BACKENDS = ["faiss", "torch"]  # the torch path (the one CUDA runs use without faiss-gpu) runs here on CPU tensors


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_matches_brute_force(metric: nb.Metric, backend: nb.KnnBackend) -> None:
    x, _ = blobs(300)
    dist, idx = knn(x.numpy(), 7, metric=metric, backend=backend)
    ref = exact_distances(x.numpy(), np.arange(300), metric)
    ref_idx = np.argsort(ref, axis=1, kind="stable")[:, :7]
    assert idx.dtype == torch.int64 and dist.dtype == torch.float32 and idx.shape == (300, 7)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    np.testing.assert_allclose(dist.numpy(), np.take_along_axis(ref, ref_idx, 1), atol=1e-3)
    assert (idx[:, 0] == torch.arange(300)).all() and (dist[:, 0] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_knn_self_first_and_deterministic_ties_with_duplicates(backend: nb.KnnBackend) -> None:
    x, _ = blobs(40)
    x[10:16] = x[3]  # seven identical points: 3 and 10..15
    dist, idx = knn(torch.cat([x, x[3:4]]), 4, backend=backend)  # and an eighth, row 40
    for row in (3, 10, 15, 40):
        assert idx[row, 0] == row and dist[row, 0] == 0
        assert dist[row, 1:].max() == 0  # the other slots hold duplicates at distance 0 ...
        others = idx[row, 1:].tolist()
        assert others == sorted(others)  # ... in index order
    # Same result from a torch tensor and a numpy array.
    assert torch.equal(knn(x, 5, backend=backend)[1], knn(x.numpy(), 5, backend=backend)[1])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_torch_knn_finds_faiss_neighbours(metric: nb.Metric) -> None:
    """Same neighbours as faiss, ties aside: a differing index must sit at (nearly) the same distance."""
    x = torch.randn(2000, 48, generator=torch.Generator().manual_seed(1))
    d_faiss, i_faiss = knn(x, 20, metric, backend="faiss")
    d_torch, i_torch = knn(x, 20, metric, backend="torch")
    torch.testing.assert_close(d_torch, d_faiss, atol=1e-4, rtol=1e-5)
    differ = i_torch != i_faiss
    assert differ.float().mean() < 1e-3
    assert torch.allclose(d_torch[differ], d_faiss[differ], atol=1e-4)
    # chunking does not change the answer (7 rows per block), rounding aside
    prepared = nb.prepare_features(x, metric)
    (d_small, i_small), (d_big, i_big) = (
        torch_knn(prepared, 20, metric, memory_budget=12 * 2000 * 7),
        torch_knn(prepared, 20, metric),
    )
    torch.testing.assert_close(d_small, d_big, atol=1e-4, rtol=1e-5)  # matmul blocking changes the rounding only
    assert (i_small == i_big).float().mean() > 0.995


def test_knn_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert knn_backend("cpu") == "faiss"
    monkeypatch.setattr(nb, "faiss_has_gpu", lambda: False)
    assert knn_backend("cuda") == "torch"  # faiss-cpu cannot search on the run's GPU
    monkeypatch.setattr(nb, "has_faiss", lambda: False)
    assert knn_backend("cpu") == "torch"  # no faiss at all (the GPU machine's environment)
    with pytest.raises(BenchError, match="unknown kNN backend 'annoy'"):
        knn_backend("cpu", "annoy")  # type: ignore[arg-type]


def brute_union_sizes(neighbors: np.ndarray) -> list[int]:
    return [len(set().union(*(set(neighbors[j]) for j in row))) for row in neighbors]


def test_union_sizes_match_python_sets() -> None:
    rng = np.random.default_rng(0)
    table = rng.integers(0, 500, size=(500, 6))
    table[:, 0] = np.arange(500)
    for chunk in (None, 1, 37):
        assert union_sizes(table, chunk=chunk).tolist() == brute_union_sizes(table)
    _, idx = knn(blobs(400)[0], 10)
    assert union_sizes(idx).tolist() == brute_union_sizes(idx.numpy())


def test_cleaning_keeps_only_self_for_rejected_anchors() -> None:
    x, _ = blobs(600)
    eta = int(union_sizes(knn(x, 10)[1]).median())  # half the anchors rejected
    mined = mine(x, tau1=10, tau2=200, eta=eta)
    assert torch.equal(mined.keep, mined.union_sizes <= eta)
    assert 0 < mined.keep.sum() < 600  # both branches exercised
    anchors = torch.arange(600).repeat(20)
    positives = mined.sample_positives(anchors, torch.Generator().manual_seed(1))
    rejected = ~mined.keep[anchors]
    assert torch.equal(positives[rejected], anchors[rejected])
    kept = ~rejected
    assert (mined.neighbors[anchors[kept]] == positives[kept, None]).any(dim=1).all()
    assert len(set(positives[kept].tolist()) - set(anchors[kept].tolist())) > 0  # not only self


def exact_ranks(x: np.ndarray, anchors: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Rank of each negative in its anchor's sorted list (self is rank 0), float64."""
    ranks = np.empty(len(anchors), dtype=np.int64)
    for s in range(0, len(anchors), 500):
        d = exact_distances(x, anchors[s : s + 500])
        ranks[s : s + 500] = (d < d[np.arange(len(d)), negatives[s : s + 500]][:, None]).sum(1)
    return ranks


@pytest.mark.parametrize("mode", ["exact", "sampled"])
def test_negatives_respect_tau2_on_5k_points(mode: str) -> None:
    x, _ = blobs(5000, dim=32)
    tau2 = 1000
    sampler = NegativeSampler(x, tau2, mode=mode, seed=0)
    assert sampler.mode == mode
    if mode == "sampled":
        assert sampler.sample_size == default_sample_size(5000, tau2) < 5000
    anchors = torch.arange(5000)
    negatives = sampler.sample(anchors)
    ranks = exact_ranks(x.numpy(), anchors.numpy(), negatives.numpy())
    share = (ranks >= tau2).mean()
    assert share == 1.0 if mode == "exact" else share >= 0.99, share


@pytest.mark.parametrize("max_rounds", [32, 0])  # 0: every anchor takes the exact fallback
def test_negatives_uniform_over_allowed_set(max_rounds: int) -> None:
    x, _ = blobs(60, dim=4)
    tau2, anchor = 20, 7
    sampler = NegativeSampler(x, tau2, mode="exact", max_rounds=max_rounds, seed=3)
    allowed = set(np.argsort(exact_distances(x.numpy(), np.array([anchor]))[0], kind="stable")[tau2:].tolist())
    draws = sampler.sample(torch.full((16_000,), anchor)).numpy()
    assert set(draws.tolist()) == allowed  # nothing outside, everything inside reached
    counts = np.bincount(draws, minlength=60)[sorted(allowed)]
    assert chisquare(counts).pvalue > 1e-3


def test_negatives_reproducible_shape_preserving_and_never_self() -> None:
    x, _ = blobs(500)
    anchors = torch.arange(500).reshape(50, 10)
    a = NegativeSampler(x, 100, seed=5).sample(anchors)
    b = NegativeSampler(x, 100, seed=5).sample(anchors)
    assert a.shape == (50, 10) and torch.equal(a, b)
    assert not (a == anchors).any()


def test_tiny_memory_budget_gives_the_same_thresholds_and_valid_draws() -> None:
    x, _ = blobs(500)
    tiny = NegativeSampler(x, 100, memory_budget=64_000, max_rounds=1)  # 8-row threshold blocks, 333-anchor draws
    torch.testing.assert_close(tiny.thresholds, NegativeSampler(x, 100).thresholds)
    anchors = torch.arange(500).repeat(3)
    negatives = tiny.sample(anchors)  # one round, then the exact fallback for the rejected ones
    ranks = exact_ranks(x.numpy(), anchors.numpy(), negatives.numpy())
    assert (ranks >= 100).all()


def test_diagnostics_match_brute_force() -> None:
    x, labels = blobs(800, spread=1.0)  # overlapping classes: purity and false rate below 1 / above 0
    mined = mine(x, tau1=10, tau2=100, eta=70)
    anchors = torch.arange(800)
    negatives = mined.negatives.sample(anchors)
    got = diagnostics(mined, labels.numpy(), anchors, negatives)
    y, nb, keep = labels.numpy(), mined.neighbors.numpy(), mined.keep.numpy()
    before = [np.mean(y[row] == y[i]) for i, row in enumerate(nb)]
    after = [p if k else 1.0 for p, k in zip(before, keep)]
    assert got["kept_fraction"] == pytest.approx(keep.mean())
    assert got["positive_purity_before"] == pytest.approx(np.mean(before))
    assert got["positive_purity_after"] == pytest.approx(np.mean(after))
    assert got["negative_false_rate"] == pytest.approx(np.mean(y[negatives.numpy()] == y))
    assert got["positive_purity_before"] < got["positive_purity_after"] < 1
    assert 0 < got["negative_false_rate"] < 0.1  # ~1/10 would be chance


def test_bad_input_is_one_clear_error() -> None:
    x, _ = blobs(50)
    with pytest.raises(BenchError, match="valid: cosine, euclidean"):
        knn(x, 3, metric="l2")  # type: ignore[arg-type]
    with pytest.raises(BenchError, match="tau2=50"):
        NegativeSampler(x, 50)
    with pytest.raises(BenchError, match="valid: auto, exact, sampled"):
        NegativeSampler(x, 10, mode="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["exact", "sampled"])
def test_the_rank_tau2_image_is_an_accepted_negative(mode: str) -> None:
    """eq. 3 takes ranks >= tau2: the image at rank tau2 itself must pass the accept test (with a
    threshold from the matrix-product formula and a test by the pair formula, a third failed)."""
    from unic_bench.methods.unic.negatives import pair_distances

    x, _ = blobs(600)
    sampler = NegativeSampler(x, 150, mode=mode, sample_size=300)  # type: ignore[arg-type]
    anchors = torch.arange(600)
    boundary_distance = pair_distances(sampler.features, anchors, sampler.boundary, sampler.metric)
    assert bool((boundary_distance >= sampler.thresholds).all())
    if mode == "exact":  # the boundary is the rank-tau2 image of the float64 reference
        ref = exact_distances(x.numpy(), np.arange(600))
        rank_of_boundary = (ref < ref[np.arange(600), sampler.boundary.numpy()][:, None]).sum(1)
        assert (np.abs(rank_of_boundary - 150) <= 1).all()  # ties in float32 rounding at most one apart
