"""What a run's figures need, rebuilt from its record: assignments, confidence, truth, features, images.

Nothing is recomputed from the method: the assignments and confidence are the run's ``.npz``;
eval features come from the feature cache under the record's ``feature_cache_keys``; labels
and raw images from the dataset, loaded without any backbone transform (native ``(C, H, W)``
tensors in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unic_bench.errors import BenchError
from unic_bench.run.records import RunRecord, read_record


@dataclass(frozen=True)
class RunArrays:
    record: RunRecord
    path: Path  # the record's JSON
    eval_indices: np.ndarray
    assignments: np.ndarray
    confidence: np.ndarray | None


@dataclass(frozen=True)
class RunTruth:
    """Dataset-side inputs: the eval images' classes, names of classes, and access to the raw images."""

    labels: np.ndarray  # (n_eval,) ground truth of the eval rows (-1 = unknown)
    class_names: tuple[str, ...]
    old_classes: tuple[int, ...]
    images: object | None  # the eval split's native samples (indexable by dataset position)
    features: np.ndarray | None  # (n_eval, d) cached backbone features, None when not cached


def find_record(target: str, results: Path) -> Path:
    """A record's JSON from a path, or from a run id searched under ``RESULTS/runs``."""
    path = Path(target)
    if path.suffix == ".json" and path.is_file():
        return path
    matches = sorted((Path(results) / "runs").rglob(f"{target}.json")) if (Path(results) / "runs").is_dir() else []
    if not matches:
        raise BenchError(f"no run record '{target}': give a record's .json path or a run id under '{results}/runs'")
    return matches[0]


def load_run(path: Path) -> RunArrays:
    record = read_record(path)
    if record is None or record.source != "measured":
        raise BenchError(f"'{path}' is not a measured run record")
    npz = path.with_suffix(".npz")
    if not npz.is_file():
        raise BenchError(f"run '{record.run_id}' has no assignments file '{npz}'")
    with np.load(npz) as saved:
        confidence = saved["confidence"] if "confidence" in saved.files else None
        return RunArrays(record, path, saved["eval_indices"], saved["assignments"], confidence)


def load_truth(run: RunArrays, data_root: Path | None = None, cache_dir: Path | None = None) -> RunTruth:
    """Reload the run's dataset (same params, no transform) and its cached eval features."""
    from unic_bench.plugins.host import get_host
    from unic_bench.run.features import FeatureCache, default_cache_dir
    from unic_bench.run.protocol import RunOptions, data_root_for

    record = run.record
    if record.spec is None:
        raise BenchError(f"run '{record.run_id}' has no spec to reload its dataset from")
    dataset_cls = get_host().datasets.get(record.dataset)
    dataset = dataset_cls(dataset_cls.Params(**record.spec.dataset_params))
    splits = dataset.load(data_root_for(dataset_cls, RunOptions(data_root=data_root)), None)
    eval_split = splits.clustering[1] if record.task == "clustering" else splits.gcd_split
    assert eval_split is not None
    split = splits.splits[eval_split]
    key = record.feature_cache_keys.get(eval_split)
    features = FeatureCache(cache_dir or default_cache_dir()).load(key) if key else None
    return RunTruth(
        labels=split.labels[run.eval_indices],
        class_names=splits.class_names,
        old_classes=tuple(splits.gcd_old_classes) if record.task == "gcd" else (),
        images=split.samples if dataset_cls.modality == "image" else None,
        features=None if features is None else features[run.eval_indices],
    )
