"""The method plugin API, shaped like a scikit-learn estimator: ``fit_predict(data, ctx)``."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from unic_bench.api.component import Component, P, Task
from unic_bench.api.taskdata import Prediction, RunContext, TaskData


class Method(Component[P]):
    """Subclass per method; register the class from a ``register_methods`` hook.

    ``Params`` holds the hyperparameters with the paper's defaults; an instance is built with
    validated params (``Method(params)``, or ``Method(n_init=5)`` from Python).
    """

    kind: ClassVar[str] = "method"
    tasks: ClassVar[frozenset[Task]] = frozenset()
    paper: ClassVar[str] = ""
    # How the scored model is chosen (last epoch, lowest-loss head, ...), stored in every record
    # so that numbers chosen differently are never compared unmarked.
    model_selection: ClassVar[str] = "not declared"

    @classmethod
    def defaults_for(cls, dataset: str, task: Task) -> dict[str, Any]:
        """Per-dataset defaults that replace ``Params``' (e.g. a paper's per-dataset settings).

        Applied when a spec is resolved, before the user's ``--set``, so records show the values
        actually used.
        """
        return {}

    @abstractmethod
    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        """Fit on ``data.train`` (and ``data.train_labels`` for GCD); return eval-set clusters."""
