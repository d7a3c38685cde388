"""``check_method``: a method plugin against the contract the protocol relies on (run/protocol.py).

Checks, on a few hundred embedded digits (raw pixels) per declared task:

- metadata and params: a name, a ``Params`` model; bad params are one-line ``BenchError``\\ s;
- outputs: ``Prediction.labels`` of shape (n_eval,) and an integer dtype, ``train_assignments``
  (when given) of shape (n_train,), at least two clusters used;
- every task in ``cls.tasks`` runs; the same ``ctx.seed`` gives the same labels;
- inputs are read-only: features and ``train_labels`` are unchanged after ``fit_predict``, and the
  ``Prediction.report`` callback (the one place a method is handed true labels) changes nothing;
- GCD: the labels a method may use are ``train_labels`` alone (-1 outside D_L, old classes inside);
  while the method runs, the dataset it names (``data.dataset``) loads with its labels poisoned,
  and the output must not change (a method that reloads its dataset to read labels is caught);
- trainers: a run interrupted after its first epoch and resumed from ``ctx.checkpoint_dir``
  iterates fewer epochs and gives the labels of an uninterrupted run. A method is treated as a
  trainer when it iterates ``ctx.progress(..., "epochs", ...)`` (``methods.common.training.Trainer``
  does); pass ``params`` with at least 2 epochs so there is something to resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from unic_bench.api.component import Task
from unic_bench.api.dataset import Dataset, DatasetSplits
from unic_bench.api.method import Method
from unic_bench.api.taskdata import Prediction, RunContext, TaskData
from unic_bench.testing.report import CheckReport, fail, start_checks, validated
from unic_bench.testing.taskdata import tiny_task_data

EPOCHS = "epochs"  # the progress description a training loop iterates its epochs under (Trainer.fit)
TASKS: frozenset[Task] = frozenset({"clustering", "gcd"})


def check_tasks(cls: type[Method[Any]] | type[Dataset[Any]]) -> None:
    """A method's or dataset's ``tasks``: a non-empty subset of the protocol's tasks."""
    if not cls.tasks or not set(cls.tasks) <= TASKS:
        raise fail(cls.name, "tasks", f"tasks must be a non-empty subset of {sorted(TASKS)}, got {sorted(cls.tasks)}")


class _Interrupted(Exception):
    """Raised by the interrupting progress callback: the run stops as if killed after an epoch."""


def check_method(cls: type[Method[Any]], params: Mapping[str, Any] | None = None, *, n: int = 300, seed: int = 0) -> CheckReport:
    """Run ``cls`` (with ``params`` overriding its defaults) through every check; raise on the first failure.

    ``n`` digits per task keep it fast; ``params`` should shrink training (``{"epochs": 2}``).
    """
    report = start_checks(cls)
    name = cls.name
    check_tasks(cls)
    method = cls(validated(cls, params))
    trainer_checked = False
    for task in sorted(cls.tasks):
        data, _ = tiny_task_data(task, n, seed)
        first = _run(method, data, RunContext(seed=seed), name, task, report)
        again = method.fit_predict(data, RunContext(seed=seed))
        if not np.array_equal(first.labels, again.labels):
            raise fail(name, f"{task}: same seed, same labels", "two runs with ctx.seed equal gave different labels")
        report.ok(f"{task}: same seed, same labels")
        if task == "gcd":
            _check_gcd_leak(method, data, first, seed, name, report)
        if not trainer_checked:
            trainer_checked = _check_resume(method, data, first, seed, name, task, report)
    if not trainer_checked:
        report.skip("resume", f"no training loop seen: {name} never iterated ctx.progress(..., {EPOCHS!r})")
    return report


def _run(method: Method[Any], data: TaskData, ctx: RunContext, name: str, task: Task, report: CheckReport) -> Prediction:
    """One run with the output and read-only-input checks."""
    features = (data.train.features.clone(), data.eval.features.clone())
    train_labels = None if data.train_labels is None else data.train_labels.copy()
    pred = method.fit_predict(data, ctx)
    if not isinstance(pred, Prediction):
        raise fail(name, f"{task}: output", f"fit_predict must return a Prediction, got {type(pred).__name__}")
    _check_assignments(pred.labels, len(data.eval), "labels", name, task)
    if pred.train_assignments is not None:
        _check_assignments(pred.train_assignments, len(data.train), "train_assignments", name, task)
    if len(np.unique(pred.labels)) < 2:
        raise fail(name, f"{task}: output", "every eval item got the same cluster (a collapsed or unfitted method)")
    report.ok(f"{task}: output shape and dtype")
    unchanged = (
        data.train.features.equal(features[0])
        and data.eval.features.equal(features[1])
        and (train_labels is None or (data.train_labels is not None and np.array_equal(train_labels, data.train_labels)))
    )
    if not unchanged:
        raise fail(name, f"{task}: inputs read-only", "fit_predict modified the features or train_labels it was given")
    if pred.report is not None:
        labels = pred.labels.copy()
        pred.report(np.zeros(len(data.train), dtype=np.int64))
        if not np.array_equal(labels, pred.labels):
            raise fail(name, f"{task}: inputs read-only", "Prediction.report changed the labels (it sees true labels)")
    report.ok(f"{task}: inputs read-only")
    return pred


def _check_assignments(values: Any, n: int, what: str, name: str, task: Task) -> None:
    if not isinstance(values, np.ndarray) or values.shape != (n,):
        shape = getattr(values, "shape", type(values).__name__)
        raise fail(name, f"{task}: output", f"Prediction.{what} must be a numpy array of shape ({n},), got {shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise fail(name, f"{task}: output", f"Prediction.{what} must have an integer dtype, got {values.dtype}")


def _check_gcd_leak(method: Method[Any], data: TaskData, first: Prediction, seed: int, name: str, report: CheckReport) -> None:
    """The labelled subset is all a GCD method sees: ``train_labels`` is -1 outside D_L, and
    labels read from the dataset plugin itself (poisoned here) do not reach the output."""
    assert data.train_labels is not None
    given = data.train_labels[data.train_labels >= 0]
    if not set(np.unique(given).tolist()) <= set(data.old_classes) or (data.train_labels < -1).any():
        raise fail(name, "gcd: labels only for D_L", "train_labels must be -1 outside D_L and an old class inside")
    with _poisoned_labels(data.dataset):
        poisoned = method.fit_predict(data, RunContext(seed=seed))
    if not np.array_equal(first.labels, poisoned.labels):
        raise fail(
            name,
            "gcd: labels only for D_L",
            f"the output changed when dataset '{data.dataset}' held different labels: "
            "the method reads labels beyond data.train_labels",
        )
    report.ok("gcd: labels only for D_L")


@contextlib.contextmanager
def _poisoned_labels(dataset: str) -> Iterator[None]:
    """While active, ``dataset``'s plugin (and every registered dataset class) loads with shuffled labels."""
    from unic_bench.plugins.host import get_host

    classes: list[type[Dataset[Any]]] = list(get_host().datasets)
    originals = {cls: cls.__dict__.get("load") for cls in classes}

    def poisoning(original: Any) -> Any:
        def load(self: Dataset[Any], root: Path | None, input_config: Any) -> DatasetSplits:
            loaded: DatasetSplits = original(self, root, input_config)
            rng = np.random.default_rng(12345)
            splits = {k: dataclasses.replace(s, labels=rng.permutation(s.labels)) for k, s in loaded.splits.items()}
            return dataclasses.replace(loaded, splits=splits)

        return load

    try:
        for cls in classes:
            cls.load = poisoning(cls.load)  # type: ignore[method-assign]  # undone in finally
        yield
    finally:
        for cls, original in originals.items():
            if original is None:
                del cls.load
            else:
                cls.load = original  # type: ignore[method-assign]  # restores the class's own load


def _check_resume(
    method: Method[Any], data: TaskData, first: Prediction, seed: int, name: str, task: Task, report: CheckReport
) -> bool:
    """Interrupt after one epoch, resume from the checkpoint, compare; False when ``cls`` does not train."""
    with tempfile.TemporaryDirectory(prefix="unic-bench-check-") as tmp:
        full_epochs = _EpochCounter()
        full = method.fit_predict(data, RunContext(seed=seed, checkpoint_dir=Path(tmp) / "full", progress=full_epochs))
        if full_epochs.count == 0:
            return False
        if full_epochs.count < 2:
            report.skip("resume", f"the run trained {full_epochs.count} epoch: pass params with epochs >= 2 to check resuming")
            return True
        cut = Path(tmp) / "cut"
        try:
            method.fit_predict(data, RunContext(seed=seed, checkpoint_dir=cut, progress=_EpochCounter(stop_after=1)))
        except _Interrupted:
            pass
        else:
            raise fail(name, f"{task}: resume", "the interrupting progress callback did not stop the run")
        if not cut.is_dir() or not any(cut.rglob("*")):
            raise fail(name, f"{task}: resume", f"a run stopped after one epoch left nothing in ctx.checkpoint_dir ({cut})")
        resumed_epochs = _EpochCounter()
        resumed = method.fit_predict(data, RunContext(seed=seed, checkpoint_dir=cut, progress=resumed_epochs))
    if resumed_epochs.count >= full_epochs.count:
        raise fail(name, f"{task}: resume", f"the resumed run trained all {resumed_epochs.count} epochs again (no resume)")
    if not (np.array_equal(full.labels, resumed.labels) and np.array_equal(full.labels, first.labels)):
        raise fail(name, f"{task}: resume", "interrupted-then-resumed labels differ from an uninterrupted run's")
    report.ok(f"{task}: resume")
    return True


class _EpochCounter:
    """A ``RunContext.progress`` that counts the epochs a method iterates, and can stop it after ``stop_after``."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.count = 0
        self.stop_after = stop_after

    def __call__(self, items: Iterable[Any], description: str = "", total: int | None = None) -> Iterator[Any]:
        for item in items:
            if description == EPOCHS:
                if self.count == self.stop_after:
                    raise _Interrupted
                self.count += 1
            yield item
