"""A complete third-party unic-bench plugin: agglomerative clustering (scikit-learn).

Install with ``pip install ./examples/unic-bench-agglo``; then ``unic-bench run --method agglo ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field

from unic_bench import BenchError, Method, ParamsModel, Prediction, RunContext, TaskData, hookimpl


class AggloParams(ParamsModel):
    linkage: Literal["ward", "complete", "average", "single"] = "ward"
    max_train: int = Field(20000, ge=2, description="agglomerative clustering is O(n^2) in memory")


class Agglomerative(Method[AggloParams]):
    name = "agglo"
    display_name = "Agglomerative"
    description = "Agglomerative clustering (scikit-learn); eval images go to the nearest cluster mean"
    paper = "Ward 1963"
    tasks = frozenset({"clustering"})
    Params = AggloParams

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        from sklearn.cluster import AgglomerativeClustering

        train = data.train.features.numpy()
        if len(train) > self.params.max_train:
            raise BenchError(f"agglo: {len(train)} training images > max_train={self.params.max_train}")
        labels = AgglomerativeClustering(n_clusters=data.num_classes, linkage=self.params.linkage).fit_predict(train)
        means = np.stack([train[labels == c].mean(axis=0) for c in range(data.num_classes)])
        evaluation = data.eval.features.numpy()
        nearest = ((evaluation[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
        return Prediction(labels=nearest.astype(np.int64), train_assignments=labels.astype(np.int64))


@hookimpl
def register_methods(register: Callable[[type], None]) -> None:
    register(Agglomerative)
