"""Choosing the number of clusters K when it is not given (``--set num_clusters=auto``).

The protocol resolves K once, before a method fits, so every method gets the same K the same
way (methods only ever see ``TaskData.num_classes`` = the K to produce):

- **GCD**: the estimate of Vaze et al. (CVPR 2022, Sec. 3.3; sgvaze/generalized-category-discovery
  ``methods/estimate_k/estimate_k.py``): k-means (labels ignored) on the L2-normalised features of
  all train images (D_L and D_U) for a candidate K, scored by the Hungarian accuracy of the
  *labelled* images alone; Brent's bounded search (``scipy.optimize.minimize_scalar(...,
  method="bounded")``, as ``scipy_optimise``) between the number of labelled classes and
  ``--max_classes`` (1000), each candidate truncated to an integer (``K = int(K)``). The official
  code clusters with plain k-means, not SS-k-means: SS-k-means fixes labelled images to their
  class, so their accuracy would be 1 for every K.
- **Clustering** (no labels at all): the K of the highest silhouette score (scikit-learn, on a
  seeded subsample) among k-means clusterings of the L2-normalised train features, every K of
  ``[k_min, k_max]`` tried (the silhouette is not unimodal in K, so no bracketing search).

Deviation, named: the chosen K is the best *evaluated* candidate, ties going to the smaller K,
rather than the point where Brent's search stops (``res.x``): the labelled accuracy is flat for
every K that splits only New classes, and the stopping point inside such a plateau is arbitrary.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from unic_bench.api.component import ParamsModel
from unic_bench.api.taskdata import TaskData
from unic_bench.errors import BenchError

AUTO: Literal["auto"] = "auto"
GCD_MAX_CLASSES = 1000  # estimate_k.py: --max_classes default
CLUSTERING_K_MAX = 50


class EstimateKParams(ParamsModel):
    """How ``num_clusters=auto`` searches (``--set estimate_k.k_max=300`` ...)."""

    k_min: int | Literal["auto"] = Field(AUTO, description="auto = the number of labelled classes (GCD) / 2 (clustering)")
    k_max: int | Literal["auto"] = Field(
        AUTO, description="auto = 1000 (GCD, estimate_k.py's --max_classes) / 50 (clustering); capped at N - 1"
    )
    n_init: int = Field(
        10, ge=1, description="k-means restarts per candidate (scikit-learn's default when estimate_k.py was written)"
    )
    subsample: int = Field(2000, ge=10, description="clustering: images the silhouette is computed on")


def bounds(params: EstimateKParams, data: TaskData) -> tuple[int, int]:
    """The search range; one-line errors for an empty or impossible one."""
    n = len(data.train)
    labelled = len(np.unique(data.train_labels[data.labelled_mask])) if data.task == "gcd" else 0  # type: ignore[index]
    k_min = (labelled if data.task == "gcd" else 2) if params.k_min == AUTO else params.k_min
    k_max = (GCD_MAX_CLASSES if data.task == "gcd" else CLUSTERING_K_MAX) if params.k_max == AUTO else params.k_max
    k_max = min(k_max, n - 1)
    if data.task == "gcd" and k_min < labelled:
        raise BenchError(f"estimate_k.k_min={k_min} is below the {labelled} labelled classes (valid: >= {labelled})")
    if k_min < 2 or k_min > k_max:
        raise BenchError(f"estimate_k range [{k_min}, {k_max}] is empty (valid: 2 <= k_min <= k_max <= N - 1 = {n - 1})")
    return k_min, k_max


def _kmeans_labels(x: np.ndarray, k: int, n_init: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x).labels_


def estimate_k(data: TaskData, params: EstimateKParams, seed: int) -> tuple[int, dict[str, Any]]:
    """(K, how it was chosen): the criterion, the range and every candidate's score."""
    from unic_bench.methods.common.normalize import l2_rows

    x = np.ascontiguousarray(l2_rows(data.train.features.numpy()), dtype=np.float64)
    k_min, k_max = bounds(params, data)
    scores: dict[int, float] = {}
    if data.task == "gcd":
        criterion = "labelled-acc-brent"
        _brent(x, data, params, seed, k_min, k_max, scores)
    else:
        criterion = "silhouette"
        _silhouette_scan(x, params, seed, k_min, k_max, scores)
    if not scores:
        raise BenchError(f"num_clusters=auto: no K in [{k_min}, {k_max}] could be scored; widen estimate_k.subsample")
    best = max(scores, key=lambda k: (scores[k], -k))
    info = {
        "chosen_by": criterion,
        "range": [k_min, k_max],
        "n_init": params.n_init,
        "scores": {str(k): round(v, 6) for k, v in sorted(scores.items())},
    }
    return best, info


def _brent(
    x: np.ndarray, data: TaskData, params: EstimateKParams, seed: int, k_min: int, k_max: int, scores: dict[int, float]
) -> None:
    """estimate_k.py:scipy_optimise: Brent's bounded search of -(labelled Hungarian ACC) over K."""
    from scipy.optimize import minimize_scalar

    from unic_bench.run.metrics import cluster_acc

    mask = data.labelled_mask
    truth = data.train_labels[mask]  # type: ignore[index]

    def negative_acc(k: float) -> float:
        k_int = int(k)  # test_kmeans_for_scipy: K = int(K)
        if k_int not in scores:
            scores[k_int] = cluster_acc(truth, _kmeans_labels(x, k_int, params.n_init, seed)[mask])
        return -scores[k_int]

    if k_min == k_max:
        negative_acc(k_min)
        return
    minimize_scalar(negative_acc, bounds=(k_min, k_max), method="bounded")
    negative_acc(k_max)  # int() truncation never reaches the upper bound itself otherwise


def _silhouette_scan(x: np.ndarray, params: EstimateKParams, seed: int, k_min: int, k_max: int, scores: dict[int, float]) -> None:
    from sklearn.metrics import silhouette_score

    rng = np.random.RandomState(seed)
    rows = rng.choice(len(x), size=min(params.subsample, len(x)), replace=False)
    for k in range(k_min, k_max + 1):
        labels = _kmeans_labels(x, k, params.n_init, seed)
        if len(np.unique(labels[rows])) >= 2:  # the silhouette needs two clusters in the sample
            scores[k] = float(silhouette_score(x[rows], labels[rows]))


def resolve_num_clusters(
    num_clusters: int | Literal["auto"] | None, estimate: dict[str, Any], data: TaskData, seed: int
) -> tuple[int, dict[str, Any]]:
    """The K a run asks its method for, and the record's account of it (``k_selection``)."""
    if num_clusters is None:
        return data.num_classes, {"chosen_by": "classes"}
    if num_clusters != AUTO:
        return int(num_clusters), {"chosen_by": "given", "num_classes": data.num_classes}
    k, info = estimate_k(data, EstimateKParams(**estimate), seed)
    return k, {**info, "num_classes": data.num_classes}
