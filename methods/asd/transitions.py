"""ASD stage (c): class-transition tracking of the instance classifier, and grouping its classes.

Tracking follows the first author's released code (NJUyued/PRG4SSL-MNAR ``models/prg/prg.py``,
NJUyued/SoC4SS-FGVC ``models/soc/soc.py``): a bank holds each unlabelled image's last weak-view
argmax; when an image's argmax moves from b to c != b, T[b, c] is incremented in the current
step's slot of a ring buffer of ``window`` steps (a slot is zeroed when it is reused: PRG's
N_b = 128). The similarity of instance classes is the summed counts, symmetrised,
S = (A + A^T) / 2 with A = sum over the slots (SoC ``soc_utils.calcDis``). Grouping is SoC's
k-medoids on S (``soc_utils.kmeans``) or, as an option, spectral clustering of S.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

Grouping = Literal["k-medoids", "spectral"]
NO_PREDICTION = -1


class TransitionTracker(nn.Module):
    """Bank of last argmaxes + a (window, C, C) ring buffer of transition counts.

    A module of buffers only, so the shared Trainer checkpoints it with the run (a ``followers`` entry).
    """

    bank: torch.Tensor
    counts: torch.Tensor
    steps: torch.Tensor

    def __init__(self, n: int, num_classes: int, window: int) -> None:
        super().__init__()
        self.register_buffer("bank", torch.full((n,), NO_PREDICTION, dtype=torch.long))
        self.register_buffer("counts", torch.zeros(window, num_classes, num_classes))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, rows: torch.Tensor, predictions: torch.Tensor) -> None:
        """One step: the argmax ``predictions`` of images ``rows`` (unique within the step)."""
        slot = int(self.steps) % self.counts.shape[0]
        self.counts[slot] = 0  # the ring buffer forgets the step ``window`` steps ago
        previous = self.bank[rows]
        moved = (previous != NO_PREDICTION) & (previous != predictions)
        flat = previous[moved] * self.counts.shape[1] + predictions[moved]
        self.counts[slot].view(-1).index_add_(0, flat, torch.ones_like(flat, dtype=self.counts.dtype))
        self.bank[rows] = predictions
        self.steps += 1

    def transitions(self) -> np.ndarray:
        """A: the counts summed over the window."""
        return self.counts.sum(0).cpu().numpy()


def symmetric_similarity(transitions: np.ndarray) -> np.ndarray:
    """S = (A + A^T) / 2 (SoC's pairwise affinity)."""
    return (transitions + transitions.T) / 2.0


def k_medoids(transitions: np.ndarray, k: int, seed: int, max_iter: int = 2000, restarts: int = 10) -> np.ndarray:
    """SoC's k-medoids (``soc_utils.kmeans``): each class joins the medoid with the largest
    symmetrised similarity S (a medoid stays in its own group); a group's new medoid is the
    member with the largest summed transition count A to the group's members (SoC sums the raw
    rows there); until the medoid set repeats or ``max_iter``. Returns (C,) group ids.

    The initial medoids are k distinct classes drawn at random, as in SoC; SoC runs it once, a
    local search that can end with two medoids in one true group, so here it runs ``restarts``
    times (seeded) and keeps the grouping with the largest within-group similarity.
    """
    similarity = symmetric_similarity(transitions)
    rng = np.random.default_rng(seed)
    best, best_score = np.zeros(len(transitions), dtype=np.int64), -np.inf
    for _ in range(restarts):
        groups = _local_search(transitions, similarity, rng.choice(len(transitions), size=k, replace=False), max_iter)
        score = float(sum(similarity[np.ix_(groups == g, groups == g)].sum() for g in range(k)))
        if score > best_score:
            best, best_score = groups, score
    return best


def _local_search(transitions: np.ndarray, similarity: np.ndarray, medoids: np.ndarray, max_iter: int) -> np.ndarray:
    groups = _assign(similarity, medoids)
    for _ in range(max_iter):
        updated = np.array([_medoid(transitions, np.flatnonzero(groups == g)) for g in range(len(medoids))])
        if set(updated.tolist()) == set(medoids.tolist()):
            break
        medoids, groups = updated, _assign(similarity, updated)
    return groups


def _assign(similarity: np.ndarray, medoids: np.ndarray) -> np.ndarray:
    groups = similarity[:, medoids].argmax(1)
    groups[medoids] = np.arange(len(medoids))
    return groups


def _medoid(transitions: np.ndarray, members: np.ndarray) -> int:
    return int(members[transitions[np.ix_(members, members)].sum(1).argmax()])


def group_classes(
    transitions: np.ndarray, k: int, method: Grouping, seed: int, max_iter: int = 2000, restarts: int = 10
) -> np.ndarray:
    """Instance class -> one of k groups, from the windowed transition counts A."""
    if method == "k-medoids":
        return k_medoids(transitions, k, seed, max_iter, restarts)
    from sklearn.cluster import SpectralClustering

    affinity = symmetric_similarity(transitions) + 1e-6  # a class without transitions stays connected to the graph
    np.fill_diagonal(affinity, 0.0)
    return SpectralClustering(k, affinity="precomputed", random_state=seed).fit_predict(affinity)
