"""Run records: one JSON per run, named by the spec hash, written atomically.

Measured runs and the numbers papers report share this schema (``source: measured|paper``), so
tables can put them side by side. A run's eval-set assignments are saved beside its JSON
(``<run_id>.npz``) so metric variants can be recomputed without rerunning.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Iterator
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from unic_bench.api.component import Task
from unic_bench.atomic import Writer, atomic_write_many, json_bytes, npz_writer
from unic_bench.run.spec import RunSpec

SCHEMA_VERSION = 1
Source = Literal["measured", "paper"]


class DisplayNames(BaseModel):
    """How a record's row and column are labelled in tables (the paper's spellings)."""

    method: str
    backbone: str
    dataset: str
    pretraining: str = ""


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    source: Source
    task: Task
    method: str
    backbone: str
    dataset: str
    display: DisplayNames
    seed: int | None = None
    metric_variant: str  # "hungarian" (clustering) or "gcd-v2" / "gcd-v1"
    metrics: dict[str, float]
    # Other named variants of the same scores, e.g. {"many-to-one": {...}} (clusters read as their majority class)
    metric_variants: dict[str, dict[str, float]] = Field(default_factory=dict)
    # What a number means: how the scored model was chosen (declared by the method, or as the
    # paper states it) and which images were scored (transductive or a held-out split)
    model_selection: str | None = None
    eval_split: str | None = None
    # The K the method was asked for and how it was set: {"chosen_by": "classes" | "given" |
    # "silhouette" | "labelled-acc-brent", ...} (see unic_bench.run.estimate_k)
    num_clusters: int | None = None
    k_selection: dict[str, Any] = Field(default_factory=dict)
    train_metrics: dict[str, float] = Field(default_factory=dict)
    spec: RunSpec | None = None
    params_changed: dict[str, Any] = Field(default_factory=dict)  # method params that differ from defaults
    n_train: int | None = None
    n_eval: int | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    feature_cache_keys: dict[str, str] = Field(default_factory=dict)
    weights: dict[str, str] | None = None  # the backbone's weights file: {"name", "sha256"}
    environment: dict[str, Any] = Field(default_factory=dict)
    labelled_indices: list[int] | None = None  # GCD: positions of D_L in the train split
    epoch_log: list[dict[str, Any]] = Field(default_factory=list)
    resumed_from_epoch: int | None = None  # the run continued a checkpoint with this many epochs done
    diagnostics: dict[str, Any] = Field(default_factory=dict)
    citation: str | None = None
    paper_table: str | None = None  # source "paper": which table of the paper ("1", "2", "7")
    note: str | None = None  # e.g. why metrics are empty (unlabelled images)
    created_at: str = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    @field_validator("metrics", "train_metrics")
    @classmethod
    def _finite(cls, metrics: dict[str, float]) -> dict[str, float]:
        """JSON has no NaN: a metric that could not be computed is left out, never stored as NaN."""
        return check_finite(metrics)

    @field_validator("metric_variants")
    @classmethod
    def _finite_variants(cls, variants: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        return {name: check_finite(metrics) for name, metrics in variants.items()}

    @property
    def config_key(self) -> tuple[str, ...]:
        """Runs that differ only in seed share this key (they aggregate to mean ± std)."""
        params = json.dumps(self.params_changed, sort_keys=True)
        k = "" if self.spec is None or self.spec.num_clusters is None else str(self.spec.num_clusters)
        return (self.source, self.task, self.dataset, self.method, self.backbone, self.metric_variant, params, k)


def check_finite(metrics: dict[str, float]) -> dict[str, float]:
    bad = [k for k, v in metrics.items() if not np.isfinite(v)]
    if bad:
        raise ValueError(f"metrics must be finite numbers; got {', '.join(f'{k}={metrics[k]}' for k in bad)}")
    return metrics


def record_path(results_dir: Path, spec: RunSpec) -> Path:
    """``RESULTS/runs/<task>/<dataset>/<backbone>/<method>/<run_id>.json``."""
    return Path(results_dir) / "runs" / spec.task / spec.dataset / spec.backbone / spec.method / f"{spec.run_id}.json"


def write_record(
    record: RunRecord,
    path: Path,
    eval_indices: np.ndarray,
    assignments: np.ndarray,
    eval_ids: list[str] | None = None,
    confidence: np.ndarray | None = None,
) -> None:
    """Write the assignments (also as ``<run_id>.csv`` of file, cluster when the items have names),
    and the method's per-image confidence when it gave one, then the JSON (the JSON's presence marks a
    finished run). All or nothing: a failed write (full disk) leaves no part of the new record and no
    temp file."""
    arrays = {"eval_indices": eval_indices.astype(np.int64), "assignments": assignments.astype(np.int64)}
    if confidence is not None:
        arrays["confidence"] = np.asarray(confidence, dtype=np.float32)
    files: list[tuple[Path, Writer]] = [(path.with_suffix(".npz"), npz_writer(**arrays))]
    if eval_ids is not None:
        import pandas as pd

        table = pd.DataFrame({"file": eval_ids, "cluster": assignments.astype(np.int64)})
        csv = table.to_csv(index=False).encode()
        files.append((path.with_suffix(".csv"), lambda fh: fh.write(csv)))
    data = json_bytes(record.model_dump(mode="json"))
    files.append((path, lambda fh: fh.write(data)))
    atomic_write_many(files)


def read_record(path: Path) -> RunRecord | None:
    """A valid record, or None for a missing, truncated or foreign file."""
    try:
        return RunRecord.model_validate_json(Path(path).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def iter_records(paths: Iterable[Path]) -> Iterator[RunRecord]:
    """Every valid record under the given files/folders; invalid JSON files are reported and skipped."""
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(root.rglob("*.json"))
        for file in files:
            record = read_record(file)
            if record is None:
                print(f"unic-bench: warning: skipping '{file}': not a valid run record", file=sys.stderr)
                continue
            yield record


def paper_records(table: str | None = None) -> list[RunRecord]:
    """The UNIC paper's Tables 1, 2 and 7 (or one of them), shipped as ``source: paper`` records."""
    folder = resources.files("unic_bench.paper_records")
    records = [
        RunRecord.model_validate_json(item.read_bytes())
        for item in sorted(folder.iterdir(), key=lambda p: p.name)
        if item.name.endswith(".json")
    ]
    return [r for r in records if table is None or r.paper_table == table]


@functools.cache
def _git_state() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return {}
    if sha.returncode != 0:
        return {}
    return {"git_sha": sha.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}


def environment(device: str) -> dict[str, Any]:
    """Library versions, device and provenance stored with every measured record."""
    import torch

    versions = {}
    for dist in ("unic-bench", "torch", "torchvision", "timm", "faiss-cpu", "faiss-gpu", "numpy", "scikit-learn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        **_git_state(),
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    if "SLURM_JOB_ID" in os.environ:
        env["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    return env
