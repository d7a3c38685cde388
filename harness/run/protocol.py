"""The shared protocol: RunSpec -> dataset -> features -> method -> metrics -> record.

Clustering: fit on the train split, score ACC/NMI/ARI on the eval split (plus train-split
metrics when the method returns train assignments). GCD: fit on labelled + unlabelled train
images, score All/Old/New on the unlabelled ones (v2 by default; the variant is recorded).
Every spec is validated before anything runs, and a record is written only for a finished run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_type_hints

import numpy as np

from unic_bench.api.backbone import Backbone, file_sha256
from unic_bench.api.dataset import Dataset, DatasetSplits, Split
from unic_bench.api.taskdata import FeatureSet, ImageAccess, Prediction, Progress, RunContext, TaskData, no_progress
from unic_bench.api.views import ViewProvider
from unic_bench.datasets.common.split_lists import splits_dir
from unic_bench.errors import BenchError, unknown_choice
from unic_bench.plugins.host import PluginHost, get_host
from unic_bench.run.device import resolve_device
from unic_bench.run.estimate_k import resolve_num_clusters
from unic_bench.run.features import cached_features, default_cache_dir
from unic_bench.run.gcd_split import labelled_indices
from unic_bench.run.metrics import MANY_TO_ONE, clustering_metrics, gcd_metrics, many_to_one_metrics
from unic_bench.run.paths import check_writable_dir
from unic_bench.run.records import DisplayNames, RunRecord, environment, read_record, record_path, write_record
from unic_bench.run.seeding import seed_everything
from unic_bench.run.spec import RunSpec

if TYPE_CHECKING:
    import torch.utils.data

    from unic_bench.run.views import ViewCache

Overwrite = Literal["never", "only-missing", "always"]
OVERWRITE_CHOICES: tuple[Overwrite, ...] = ("never", "only-missing", "always")
DATA_ENV = "UNIC_BENCH_DATA"
UNLABELLED_NOTE = "labels unknown (unlabelled images): assignments written, no metrics"


@dataclass(kw_only=True)
class RunOptions:
    """How to run (never part of a record's identity)."""

    device: str = "auto"
    data_root: Path | None = None
    results_dir: Path = field(default=Path("results"), metadata={"flag": "results"})
    overwrite: Overwrite = "only-missing"
    cache_dir: Path | None = None
    progress: Progress = no_progress
    splits_dir: Path | None = None  # local copies of downloaded class lists (--splits-dir)
    weights: Path | None = None  # --weights FILE (its checksum is in the spec: RunSpec.weights_sha256)
    batch_size: int = 256  # feature extraction
    num_workers: int = field(default=0, metadata={"flag": "workers"})
    figures: bool = field(default=False, metadata={"flag": "with_figures"})  # run --figures: each run's figures after it
    threads: int | None = None  # --threads: CPU threads (run.threads.use_threads, applied before torch loads)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], **given: Any) -> RunOptions:
        """The options among merged ``run`` flags and config keys: each field reads the key of its
        own name (or its ``flag`` metadata); unset keys (None, "") keep the default; YAML strings
        become paths for path fields. ``given`` sets fields directly (e.g. ``progress``)."""
        hints = get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = values.get(f.metadata.get("flag", f.name))
            if value is not None and value != "":
                kwargs[f.name] = Path(value) if Path in (hints[f.name], *get_args(hints[f.name])) else value
        return cls(**{**kwargs, **given})

    def __post_init__(self) -> None:
        """Checked here, not at extraction, so a warm cache does not let a bad value through."""
        if self.batch_size < 1:
            raise BenchError(f"invalid --batch-size {self.batch_size}: must be an integer >= 1")
        if self.num_workers < 0:
            raise BenchError(f"invalid --workers {self.num_workers}: must be an integer >= 0 (0 = load in the main process)")
        if self.splits_dir is not None and not Path(self.splits_dir).is_dir():
            raise BenchError(f"--splits-dir '{self.splits_dir}' does not exist or is not a folder")

    def check_outputs(self, results: bool = True) -> None:
        """The results folder (when this job writes records) and the feature cache must be writable."""
        if results:
            check_writable_dir(self.results_dir, "results folder")
        check_writable_dir(self.cache_dir or default_cache_dir(), "feature cache folder")


@dataclass
class Outcome:
    spec: RunSpec
    path: Path
    record: RunRecord
    reused: bool  # True when an existing record was kept (--overwrite only-missing)


def data_root_for(dataset: type[Dataset], options: RunOptions) -> Path | None:
    """``--data-root`` or ``$UNIC_BENCH_DATA``; must exist when given, and when the dataset needs one."""
    raw = options.data_root or os.environ.get(DATA_ENV)
    root = Path(raw).expanduser() if raw else None
    if root is not None and not root.is_dir():
        raise BenchError(f"data root '{root}' does not exist or is not a folder")
    if root is None and dataset.needs_root:
        raise BenchError(f"dataset '{dataset.name}' reads files: pass --data-root DIR or set {DATA_ENV}")
    return root


@dataclass
class _Loaded:
    backbone: Backbone
    splits: DatasetSplits
    features: dict[str, np.ndarray] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    views: dict[str, ViewCache] = field(default_factory=dict)  # split -> its augmented views (image datasets)


class Runner:
    """Runs validated specs; seeds of one configuration share the loaded dataset and features."""

    def __init__(self, options: RunOptions, host: PluginHost | None = None) -> None:
        self.options = options
        self.host = host or get_host()
        self._loaded: dict[str, _Loaded] = {}

    def plan(self, specs: Sequence[RunSpec]) -> list[tuple[RunSpec, Path, RunRecord | None]]:
        """Check data roots, output folders and the overwrite policy for every spec before running any."""
        if self.options.overwrite not in OVERWRITE_CHOICES:
            raise unknown_choice("--overwrite value", self.options.overwrite, OVERWRITE_CHOICES)
        self.options.check_outputs()
        planned = []
        for spec in map(self.identified, specs):
            path = record_path(self.options.results_dir, spec)
            existing = read_record(path) if path.exists() else None
            if path.exists() and existing is None:
                if self.options.overwrite == "never":
                    raise BenchError(
                        f"record '{path}' exists but is not a valid run record (corrupt?) and --overwrite is 'never': "
                        "delete it, or pass --overwrite only-missing or always to replace it"
                    )
                print(
                    f"unic-bench: warning: record '{path}' is not a valid run record (corrupt?); running again to replace it",
                    file=sys.stderr,
                )
            if existing is not None and self.options.overwrite == "never":
                raise BenchError(f"record '{path}' exists and --overwrite is 'never' (valid: never, only-missing, always)")
            keep = existing if self.options.overwrite == "only-missing" else None
            planned.append((spec, path, keep))
        return planned

    def identified(self, spec: RunSpec) -> RunSpec:
        """``spec`` with the identity of its data when that comes from the user's path (``folder``):
        another folder, or the same one with other images, is another run with its own record."""
        dataset_cls = self.host.datasets.get(spec.dataset)
        root = data_root_for(dataset_cls, self.options)
        identity = dataset_cls(dataset_cls.Params(**spec.dataset_params)).data_identity(root)
        if identity is None or identity == spec.data_fingerprint:
            return spec
        if spec.data_fingerprint is not None:
            raise BenchError(
                f"run {spec.run_id} was specified for other data than '{root}' holds now (its files changed); specify it again"
            )
        return spec.model_copy(update={"data_fingerprint": identity})

    def run(self, specs: Sequence[RunSpec], on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Run (or keep) each planned spec in order; ``on_outcome`` hears of each as it finishes,
        so a later failure does not hide the finished ones."""
        outcomes = []
        for spec, path, existing in self.plan(specs):
            if existing is not None:
                outcome = Outcome(spec, path, existing, reused=True)
            else:
                record, eval_indices, assignments, eval_ids, confidence = self.execute(spec)
                write_record(record, path, eval_indices, assignments, eval_ids, confidence)
                shutil.rmtree(self.checkpoint_dir(spec), ignore_errors=True)  # only an unfinished run resumes
                outcome = Outcome(spec, path, record, reused=False)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        return outcomes

    def checkpoint_dir(self, spec: RunSpec) -> Path:
        """Where a training method checkpoints each epoch; a rerun of the same spec resumes from it."""
        return Path(self.options.results_dir) / "checkpoints" / spec.run_id

    def _load(self, spec: RunSpec, device: str) -> tuple[_Loaded, list[str]]:
        backbone_cls = self.host.backbones.get(spec.backbone)
        dataset_cls = self.host.datasets.get(spec.dataset)
        backbone = backbone_cls(backbone_cls.Params(**spec.backbone_params), weights=self._weights_for(spec))
        dataset = dataset_cls(dataset_cls.Params(**spec.dataset_params))
        memo_key = f"{backbone.identity()}|{spec.dataset}|{spec.dataset_params}"
        if memo_key not in self._loaded:
            with splits_dir(self.options.splits_dir):
                splits = dataset.load(data_root_for(dataset_cls, self.options), backbone.input_config())
            check_clusterable(spec.dataset, splits)
            self._loaded[memo_key] = _Loaded(backbone, splits)
        loaded = self._loaded[memo_key]
        needed = list(dict.fromkeys(loaded.splits.clustering if spec.task == "clustering" else [self._gcd_split(spec, loaded)]))
        for name in needed:
            if name not in loaded.features:
                loaded.features[name], loaded.keys[name] = cached_features(
                    backbone,
                    spec.dataset,
                    spec.dataset_params,
                    loaded.splits.splits[name],
                    device,
                    self.options.cache_dir,
                    self.options.progress,
                    self.options.batch_size,
                    self.options.num_workers,
                )
        return loaded, needed

    @staticmethod
    def _gcd_split(spec: RunSpec, loaded: _Loaded) -> str:
        if loaded.splits.gcd_split is None:
            raise BenchError(f"dataset '{spec.dataset}' loaded without a GCD split, so task 'gcd' cannot run on it")
        return loaded.splits.gcd_split

    def _views(self, spec: RunSpec, loaded: _Loaded, device: str) -> ViewCache:
        """The fit split's views; extracted only if the method asks (``TaskData.views``)."""
        from unic_bench.run.views import ViewCache  # torch: imported when a run starts, not with the CLI

        name = loaded.splits.clustering[0] if spec.task == "clustering" else loaded.splits.gcd_split
        assert name is not None
        if name not in loaded.views:
            o = self.options
            loaded.views[name] = ViewCache(
                loaded.backbone,
                spec.dataset,
                spec.dataset_params,
                loaded.splits.splits[name],
                device,
                o.cache_dir,
                o.progress,
                o.batch_size,
                o.num_workers,
            )
        return loaded.views[name]

    def view_provider(self, spec: RunSpec) -> ViewCache:
        """The views a run of ``spec`` would get, e.g. to extract them ahead (scripts/extract_views.py)."""
        device = resolve_device(self.options.device)
        return self._views(spec, self._load(spec, device)[0], device)

    def _weights_for(self, spec: RunSpec) -> Path | None:
        """The ``--weights`` file a spec was resolved with; it must still be the same file."""
        if spec.weights_sha256 is None:
            return None
        path = self.options.weights
        if path is None or not Path(path).is_file() or file_sha256(Path(path)) != spec.weights_sha256:
            raise BenchError(
                f"run {spec.run_id} needs the weights file with sha256 {spec.weights_sha256}; pass it with --weights"
            )
        return Path(path)

    def execute(self, spec: RunSpec) -> tuple[RunRecord, np.ndarray, np.ndarray, list[str] | None, np.ndarray | None]:
        """Run one spec; returns its record, the eval-set dataset indices and assignments, the
        eval items' names when the dataset gives them (``folder``: assignments are written by file)
        and the method's per-image confidence when it gave one."""
        start = time.perf_counter()
        device = resolve_device(self.options.device)
        loaded, needed = self._load(spec, device)
        backbone = loaded.backbone if self.host.datasets.get(spec.dataset).modality == "image" else None
        views = self._views(spec, loaded, device) if backbone is not None else None
        inputs = task_inputs(spec, loaded.splits, loaded.features, device.startswith("cuda"), backbone, views)
        features_done = time.perf_counter()
        num_clusters, k_selection = resolve_num_clusters(spec.num_clusters, spec.estimate_k, inputs.data, spec.seed)
        inputs.data = dataclasses.replace(inputs.data, num_classes=num_clusters)  # the K every method produces
        k_done = time.perf_counter()

        method_cls = self.host.methods.get(spec.method)
        method = method_cls(method_cls.Params(**spec.method_params))
        seed_everything(spec.seed)
        ctx = RunContext(
            device=device,
            seed=spec.seed,
            checkpoint_dir=self.checkpoint_dir(spec),
            progress=self.options.progress,
            probe_score=probe_scorer(inputs.fit_truth),
        )
        prediction = method.fit_predict(inputs.data, ctx)
        fit_done = time.perf_counter()
        assignments = _check_prediction(prediction, len(inputs.data.eval), spec.method)
        metrics, variant, train_metrics = score(spec, inputs, assignments, prediction.train_assignments)
        variants = score_variants(spec, inputs, assignments) if metrics else {}
        diagnostics = dict(prediction.diagnostics)
        if prediction.report is not None and (inputs.fit_truth >= 0).all():
            diagnostics.update(prediction.report(inputs.fit_truth))
        served_views = views.drain() if views is not None else []
        if served_views:
            diagnostics["views"] = served_views

        defaults = method_cls.validate_params(method_cls.defaults_for(spec.dataset, spec.task)).model_dump(mode="json")
        backbone_cls, dataset_cls = self.host.backbones.get(spec.backbone), self.host.datasets.get(spec.dataset)
        record = RunRecord(
            run_id=spec.run_id,
            source="measured",
            task=spec.task,
            method=spec.method,
            backbone=spec.backbone,
            dataset=spec.dataset,
            display=DisplayNames(
                method=method_cls.label(),
                backbone=backbone_cls.label(),
                dataset=dataset_cls.label(),
                pretraining=backbone_cls.pretraining,
            ),
            seed=spec.seed,
            metric_variant=variant,
            metrics=metrics,
            metric_variants=variants,
            model_selection=method_cls.model_selection,
            eval_split=eval_split_of(inputs),
            num_clusters=num_clusters,
            k_selection=k_selection,
            train_metrics=train_metrics,
            spec=spec,
            params_changed={k: v for k, v in spec.method_params.items() if defaults.get(k) != v},
            n_train=len(inputs.data.train),
            n_eval=len(inputs.data.eval),
            timings={
                "features_s": features_done - start,
                **({"estimate_k_s": k_done - features_done} if spec.num_clusters == "auto" else {}),
                "fit_s": fit_done - k_done,
                "total_s": time.perf_counter() - start,
            },
            feature_cache_keys={name: loaded.keys[name] for name in needed}
            | {f"views/{v['transform']}/seed{v['seed']}/draw{d}": key for v in served_views for d, key in enumerate(v["keys"])},
            weights=weights_info(loaded.backbone),
            environment=environment(device),
            labelled_indices=inputs.labelled.tolist() if inputs.labelled is not None else None,
            epoch_log=ctx.log,
            resumed_from_epoch=ctx.resumed_from_epoch,
            diagnostics=diagnostics,
            note=None if metrics else UNLABELLED_NOTE,
        )
        ids = loaded.splits.splits[inputs.eval_split].ids
        eval_ids = None if ids is None else [ids[i] for i in inputs.data.eval.indices]
        return (
            record,
            inputs.data.eval.indices,
            assignments,
            eval_ids,
            _check_confidence(prediction, len(assignments), spec.method),
        )


def check_clusterable(dataset: str, splits: DatasetSplits) -> None:
    """At least two clusters, and no more clusters than images to put in them."""
    if splits.num_classes < 2:
        raise BenchError(f"dataset '{dataset}' has {splits.num_classes} class: a clustering of one class measures nothing")
    for name, split in splits.splits.items():
        if len(split) < splits.num_classes:
            raise BenchError(
                f"dataset '{dataset}': split '{name}' has {len(split)} images for {splits.num_classes} clusters (need at least one image per cluster)"
            )


@dataclass(kw_only=True)
class TaskInputs:
    """What the method sees (``data``) and what the protocol keeps back to score it."""

    data: TaskData
    fit_truth: np.ndarray
    eval_truth: np.ndarray
    fit_split: str
    eval_split: str
    labelled: np.ndarray | None = None  # GCD: positions of D_L in the fit split


def task_inputs(
    spec: RunSpec,
    splits: DatasetSplits,
    features: dict[str, np.ndarray],
    pin: bool = False,
    backbone: Backbone | None = None,
    views: ViewProvider | None = None,
) -> TaskInputs:
    """Clustering: train split -> eval split. GCD: all train images, eval = the unlabelled ones.

    With a ``backbone`` (image datasets), the method also gets the images, for finetuning, and
    ``views`` of the train rows (cached augmented views, extracted when first asked for).
    """
    import torch
    from torch.utils.data import Subset

    def images(fit_name: str, eval_name: str, eval_rows: np.ndarray | None = None) -> ImageAccess | None:
        if backbone is None:
            return None
        fit, evaluated = splits.splits[fit_name], splits.splits[eval_name]
        eval_samples = evaluated.samples if eval_rows is None else Subset(evaluated.samples, eval_rows.tolist())
        return ImageAccess(backbone, fit.train_samples or fit.samples, fit.samples, eval_samples, strong_samples(fit))

    def feature_set(name: str, rows: np.ndarray | None = None) -> FeatureSet:
        feats = features[name] if rows is None else features[name][rows]
        tensor = torch.from_numpy(feats)
        indices = np.arange(len(features[name])) if rows is None else rows
        return FeatureSet(tensor.pin_memory() if pin else tensor, indices.astype(np.int64))

    if spec.task == "clustering":
        fit_name, eval_name = splits.clustering
        data = TaskData(
            task="clustering",
            num_classes=splits.num_classes,
            train=feature_set(fit_name),
            eval=feature_set(eval_name),
            images=images(fit_name, eval_name),
            dataset=spec.dataset,
            views=views,
        )
        return TaskInputs(
            data=data,
            fit_truth=splits.splits[fit_name].labels,
            eval_truth=splits.splits[eval_name].labels,
            fit_split=fit_name,
            eval_split=eval_name,
        )
    name = splits.gcd_split
    assert name is not None  # guaranteed by the dataset declaring the gcd task
    truth = splits.splits[name].labels
    labelled = labelled_indices(truth, splits.gcd_old_classes)
    train_labels = np.full(len(truth), -1, dtype=np.int64)
    train_labels[labelled] = truth[labelled]
    unlabelled = np.flatnonzero(train_labels < 0)
    data = TaskData(
        task="gcd",
        num_classes=splits.num_classes,
        train=feature_set(name),
        eval=feature_set(name, unlabelled),
        train_labels=train_labels,
        old_classes=tuple(splits.gcd_old_classes),
        images=images(name, name, unlabelled),
        dataset=spec.dataset,
        views=views,
    )
    return TaskInputs(
        data=data, fit_truth=truth, eval_truth=truth[unlabelled], fit_split=name, eval_split=name, labelled=labelled
    )


def strong_samples(split: Split) -> torch.utils.data.Dataset | None:
    """``split``'s train images under the views cache's strong transform (a wrapper, nothing is
    decoded here); None for samples the views machinery cannot augment (a method asking for
    them then says so)."""
    from unic_bench.datasets.common.views import view_samples

    try:
        return view_samples(split, "strong")[0]
    except BenchError:
        return None


def score(
    spec: RunSpec, inputs: TaskInputs, assignments: np.ndarray, train_assignments: np.ndarray | None
) -> tuple[dict[str, float], str, dict[str, float]]:
    """(eval metrics, metric variant, train-split metrics when the method gave them and they differ).

    Train items labelled -1 (unknown: STL-10's unlabeled images) are left out of the train metrics;
    an eval split without any known label (the user's unlabelled images) gets no metrics.
    """
    if not (inputs.eval_truth >= 0).any():
        return {}, "hungarian", {}
    if spec.task == "gcd":
        old = inputs.data.old_classes
        return gcd_metrics(inputs.eval_truth, assignments, old, spec.gcd_metric), f"gcd-{spec.gcd_metric}", {}
    train_metrics: dict[str, float] = {}
    if train_assignments is not None and inputs.fit_split != inputs.eval_split:
        known = inputs.fit_truth >= 0
        train_metrics = clustering_metrics(inputs.fit_truth[known], np.asarray(train_assignments)[known])
    return clustering_metrics(inputs.eval_truth, assignments), "hungarian", train_metrics


def probe_scorer(truth: np.ndarray) -> Callable[[np.ndarray], dict[str, float]] | None:
    """``RunContext.probe_score`` for a fully labelled fit split: Hungarian ACC/NMI/ARI, prefixed ``probe_``."""
    if not (truth >= 0).all():
        return None
    return lambda assignments: {f"probe_{k}": v for k, v in clustering_metrics(truth, assignments).items()}


def _check_confidence(prediction: Prediction, n_eval: int, method: str) -> np.ndarray | None:
    if prediction.confidence is None:
        return None
    confidence = np.asarray(prediction.confidence, dtype=np.float32)
    if confidence.shape != (n_eval,):
        raise RuntimeError(f"method '{method}' returned confidence of shape {confidence.shape}; expected ({n_eval},)")
    return confidence


def score_variants(spec: RunSpec, inputs: TaskInputs, assignments: np.ndarray) -> dict[str, dict[str, float]]:
    """The named metric variants stored beside the default ones (many-to-one: overclustering)."""
    known = inputs.eval_truth >= 0
    old = inputs.data.old_classes if spec.task == "gcd" else None
    return {MANY_TO_ONE: many_to_one_metrics(inputs.eval_truth[known], assignments[known], old)}


def eval_split_of(inputs: TaskInputs) -> str:
    """Which images the metrics are computed on, in words a table footnote can quote."""
    if inputs.data.task == "gcd":
        return "transductive: the unlabelled train images (D_U)"
    if inputs.fit_split == inputs.eval_split:
        return f"transductive: the {inputs.eval_split} split the method was fitted on"
    return f"held-out: the {inputs.eval_split} split"


def _check_prediction(prediction: Prediction, n_eval: int, method: str) -> np.ndarray:
    labels = np.asarray(prediction.labels)
    if labels.shape != (n_eval,) or not np.issubdtype(labels.dtype, np.integer):
        raise RuntimeError(
            f"method '{method}' returned labels of shape {labels.shape} and dtype {labels.dtype}; expected ({n_eval},) integers"
        )
    return labels.astype(np.int64)


def extract_features(backbone: Backbone, dataset: Dataset, options: RunOptions) -> dict[str, tuple[tuple[int, ...], str]]:
    """Fill the feature cache for every split of ``dataset`` (``unic-bench extract``): split -> (shape, key)."""
    options.check_outputs(results=False)
    device = resolve_device(options.device)
    splits = dataset.load(data_root_for(type(dataset), options), backbone.input_config())
    dataset_params = dataset.params.model_dump(mode="json")
    out = {}
    for name, split in splits.splits.items():
        array, key = cached_features(
            backbone,
            dataset.name,
            dataset_params,
            split,
            device,
            options.cache_dir,
            options.progress,
            options.batch_size,
            options.num_workers,
        )
        out[name] = (tuple(array.shape), key)
    return out


def weights_info(backbone: Backbone) -> dict[str, str] | None:
    path, digest = backbone.weights_file(), backbone.weights_sha256()
    return None if path is None or digest is None else {"name": Path(path).name, "sha256": digest}


def run_specs(
    specs: Sequence[RunSpec],
    options: RunOptions,
    host: PluginHost | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Validate, then run every spec (skipping finished ones under ``only-missing``)."""
    return Runner(options, host).run(specs, on_outcome)
