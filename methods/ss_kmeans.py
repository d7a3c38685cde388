"""``ss-kmeans``: semi-supervised k-means of the GCD paper (Vaze et al., CVPR 2022, Sec. 3.2).

As in ``methods/clustering/faster_mix_k_means_pytorch.py`` of the official code: features are
L2-normalised; each labelled class starts with a centroid at its labelled mean and the other
centroids are seeded by k-means++ (D^2 sampling) over the unlabelled images, continuing from the
labelled means; labelled images stay assigned to their class; every iteration assigns unlabelled
images to the nearest centroid and recomputes each centroid from all its images; a restart stops
when (sum of centroid shifts)^2 < ``tol`` and keeps its lowest-inertia iteration; the best of
``n_init`` restarts wins. Defaults = ``bash_scripts/k_means.sh`` (max_iter 200, n_init 100, tol 1e-4).

Deviation, named: a centroid left without images keeps its previous position (the official code
takes the mean of an empty set, i.e. NaN).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from unic_bench.api.component import ParamsModel, Task
from unic_bench.api.hookspecs import hookimpl
from unic_bench.api.method import Method
from unic_bench.api.taskdata import Prediction, RunContext, TaskData
from unic_bench.errors import BenchError
from unic_bench.methods.common.normalize import l2_rows
from unic_bench.methods.kmeans import centroid_margin

if TYPE_CHECKING:
    import torch


class SSKMeansParams(ParamsModel):
    n_init: int = Field(100, ge=1)
    max_iter: int = Field(200, ge=1)
    tol: float = Field(1e-4, ge=0)
    normalize: Literal["l2", "none"] = "l2"


def kmeans_pp(x: torch.Tensor, centers: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """Extend ``centers`` to ``k`` rows by D^2 sampling over ``x``."""
    import torch

    while centers.shape[0] < k:
        d2 = torch.cdist(x, centers).pow(2).min(dim=1).values
        probs = d2 if float(d2.sum()) > 0 else torch.ones_like(d2)
        pick = torch.multinomial(probs.cpu(), 1, generator=gen).item()
        centers = torch.cat([centers, x[pick : pick + 1]])
    return centers


def fit_once(
    x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor, k: int, p: SSKMeansParams, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One restart: (labels of [labelled; unlabelled], centroids, inertia) of its best iteration.

    ``y_l`` holds labelled-class positions 0..L-1; centroid c < L belongs to labelled class c.
    """
    import torch

    n_lab = int(y_l.max().item()) + 1 if len(y_l) else 0
    l_means = torch.zeros(n_lab, x_l.shape[1], dtype=x_l.dtype, device=x_l.device).index_add_(0, y_l, x_l)
    l_means /= torch.bincount(y_l, minlength=n_lab).clamp(min=1).unsqueeze(1).to(x_l.dtype)
    centers = kmeans_pp(x_u, l_means, k, gen)
    x_all = torch.cat([x_l, x_u])
    best: tuple[torch.Tensor, torch.Tensor, float] | None = None
    for _ in range(p.max_iter):
        old = centers
        u_dist, u_labels = torch.cdist(x_u, centers).pow(2).min(dim=1)
        labels = torch.cat([y_l, u_labels])
        inertia = float(u_dist.sum() + (x_l - centers[y_l]).pow(2).sum())
        sums = torch.zeros_like(centers).index_add_(0, labels, x_all)
        counts = torch.bincount(labels, minlength=k).unsqueeze(1)
        centers = torch.where(counts > 0, sums / counts.clamp(min=1).to(sums.dtype), old)
        if best is None or inertia < best[2]:
            best = (labels, centers, inertia)
        shift = (centers - old).pow(2).sum(dim=1).sqrt().sum()
        if float(shift) ** 2 < p.tol:
            break
    assert best is not None
    return best


class SSKMeans(Method[SSKMeansParams]):
    name = "ss-kmeans"
    display_name = "SS-kMeans"
    description = "Semi-supervised k-means (labelled images fixed to their class), the GCD paper's inference"
    paper = "Vaze et al., Generalized Category Discovery, CVPR 2022"
    tasks: ClassVar[frozenset[Task]] = frozenset({"gcd"})
    Params = SSKMeansParams
    model_selection = "lowest inertia of n_init restarts (label-free)"

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        import torch

        p = self.params
        feats = data.train.features.numpy()
        feats = l2_rows(feats) if p.normalize == "l2" else feats
        x = torch.from_numpy(np.ascontiguousarray(feats)).to(ctx.device)
        if data.train_labels is None:
            raise BenchError(f"method '{self.name}' needs the labelled subset (task gcd), got task '{data.task}'")
        mask = data.labelled_mask
        classes, y_pos = np.unique(data.train_labels[mask], return_inverse=True)
        x_l, x_u = x[torch.from_numpy(mask).to(ctx.device)], x[torch.from_numpy(~mask).to(ctx.device)]
        y_l = torch.from_numpy(y_pos.astype(np.int64)).to(ctx.device)
        gen = torch.Generator().manual_seed(ctx.seed)

        best: tuple[torch.Tensor, torch.Tensor, float] | None = None
        for _ in ctx.progress(range(p.n_init), "ss-kmeans restarts", p.n_init):
            result = fit_once(x_l, y_l, x_u, data.num_classes, p, gen)
            if best is None or result[2] < best[2]:
                best = result
        assert best is not None
        labels, centers, inertia = best

        # cluster c < L is labelled class classes[c]; the others get the remaining ids
        spare = np.setdiff1d(np.arange(data.num_classes), classes)
        cluster_to_class = np.concatenate([classes, spare])
        train_pred = np.empty(len(x), dtype=np.int64)
        train_pred[mask] = cluster_to_class[labels[: len(y_l)].cpu().numpy()]
        train_pred[~mask] = cluster_to_class[labels[len(y_l) :].cpu().numpy()]
        # GCD is transductive: the eval images (D_U) are rows of the train split
        row_of = np.empty(int(data.train.indices.max()) + 1, dtype=np.int64)
        row_of[data.train.indices] = np.arange(len(data.train.indices))
        eval_rows = row_of[data.eval.indices]
        confidence = centroid_margin(feats[eval_rows].astype(np.float32), centers.cpu().numpy().astype(np.float32))
        return Prediction(
            labels=train_pred[eval_rows], train_assignments=train_pred, diagnostics={"inertia": inertia}, confidence=confidence
        )


@hookimpl
def register_methods(register: Callable[[type], None]) -> None:
    register(SSKMeans)
