"""A kMeans probe on the current train embeddings while a method trains (UNIC paper, Fig. 6).

Fig. 6 of the UNIC paper (arXiv 2503.14500) shows that kMeans on the finetuned backbone's
features improves over training. ``--set probe_every=N`` runs faiss kMeans (K = the task's
number of classes) on ``Encoder.embed("train")`` at the end of every N-th epoch and of the
last one, and logs what ``RunContext.probe_score`` returns (``probe_acc``, ``probe_nmi``,
``probe_ari``). The labels stay with the protocol: the method hands over cluster ids and gets
numbers back, which only reach the epoch log, never the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from unic_bench.api.taskdata import RunContext

if TYPE_CHECKING:
    from unic_bench.methods.common.training import Encoder

# Cheaper than the kmeans method's defaults (10 restarts x 300 iterations): the probe tracks a
# trend over epochs, and 3 restarts of 100 Lloyd iterations keep it a small share of an epoch.
PROBE_RESTARTS = 3
PROBE_ITERATIONS = 100


def kmeans_probe(encoder: Encoder, ctx: RunContext, every: int, epochs: int) -> Callable[[int], dict[str, float]] | None:
    """Epoch-end callback for :class:`Trainer`: ``{}`` on most epochs, the probe's scores on probed ones.

    None when ``every`` is 0 or the protocol gave no scorer (a fit split with unknown labels).
    """
    score = ctx.probe_score
    if every <= 0 or score is None:
        return None
    from unic_bench.methods.kmeans import KMeansParams, assign, faiss_kmeans

    params = KMeansParams.model_validate({"n_init": PROBE_RESTARTS, "max_iter": PROBE_ITERATIONS})
    k = encoder.data.num_classes

    def probe(epoch: int) -> dict[str, float]:
        if (epoch + 1) % every and epoch + 1 != epochs:
            return {}
        x = np.ascontiguousarray(encoder.embed("train").float().cpu().numpy())
        # the run's seed at every probe: on unchanged embeddings the probe gives the same number,
        # so the curve moves only when the embeddings do, not with kMeans' restart noise
        centroids, _ = faiss_kmeans(x, k, params, ctx.seed, use_gpu=False)
        return score(assign(x, centroids))

    return probe
