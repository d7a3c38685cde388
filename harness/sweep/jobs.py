"""The units of work every launcher runs: feature extraction per (backbone, dataset), and packs of specs.

Both are plain picklable callables, so the same objects run in this process (``--launcher
local``), in submitit's local executor, or as SLURM jobs. :class:`RunPack` is submitit-
checkpointable: on preemption or at the time limit ``checkpoint()`` returns a
``DelayedSubmission`` of the same pack; the requeued job keeps the runs whose record exists
(only-missing) and the interrupted one resumes from the trainer's per-epoch checkpoint, so the
record it writes equals an uninterrupted run's.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unic_bench.api.backbone import Backbone
from unic_bench.api.dataset import DatasetSplits
from unic_bench.atomic import atomic_write
from unic_bench.plugins.host import PluginHost, get_host
from unic_bench.run.protocol import Runner, RunOptions
from unic_bench.run.spec import RunSpec
from unic_bench.sweep.manifest import JobOptions, RunState, clear_state, write_state


def run_options(options: JobOptions) -> RunOptions:
    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    return RunOptions(
        device=options.device,
        data_root=path(options.data_root),
        results_dir=Path(options.results_dir),
        overwrite="only-missing",
        cache_dir=path(options.cache_dir),
        splits_dir=path(options.splits_dir),
        weights=path(options.weights),
        batch_size=options.batch_size,
        num_workers=options.workers,
    )


def submitit_job() -> tuple[str, Path] | None:
    """(job id, stderr log) inside a submitit job (``"123_4"`` for array task 4), else None."""
    try:
        import submitit

        env = submitit.JobEnvironment()
        return str(env.job_id), Path(env.paths.stderr)
    except (ImportError, RuntimeError):
        return None


@dataclass(frozen=True)
class FeatureUnit:
    """What one extraction job fills the cache for; specs sharing it share their features."""

    backbone: str
    backbone_params: str  # canonical JSON, so units hash and compare by value
    dataset: str
    dataset_params: str
    weights_sha256: str | None

    @classmethod
    def of(cls, spec: RunSpec) -> FeatureUnit:
        return cls(
            spec.backbone,
            json.dumps(spec.backbone_params, sort_keys=True),
            spec.dataset,
            json.dumps(spec.dataset_params, sort_keys=True),
            spec.weights_sha256,
        )

    @property
    def label(self) -> str:
        return f"{self.backbone} x {self.dataset}"


def group_by_features(specs: Sequence[RunSpec]) -> dict[FeatureUnit, list[RunSpec]]:
    groups: dict[FeatureUnit, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(FeatureUnit.of(spec), []).append(spec)
    return groups


def _load(unit: FeatureUnit, opts: RunOptions, host: PluginHost) -> tuple[Backbone, DatasetSplits]:
    """The unit's backbone (not built) and dataset splits (listed, no image decoded)."""
    from unic_bench.datasets.common.split_lists import splits_dir
    from unic_bench.run.protocol import data_root_for

    backbone_cls, dataset_cls = host.backbones.get(unit.backbone), host.datasets.get(unit.dataset)
    weights = opts.weights if unit.weights_sha256 else None
    backbone = backbone_cls(backbone_cls.Params(**json.loads(unit.backbone_params)), weights=weights)
    dataset = dataset_cls(dataset_cls.Params(**json.loads(unit.dataset_params)))
    with splits_dir(opts.splits_dir):
        return backbone, dataset.load(data_root_for(dataset_cls, opts), backbone.input_config())


def uncached_splits(
    unit: FeatureUnit, specs: Sequence[RunSpec], options: JobOptions, host: PluginHost | None = None
) -> list[str]:
    """The splits these specs need whose features are not in the cache yet."""
    from unic_bench.run.features import FeatureCache, cache_key, default_cache_dir

    opts = run_options(options)
    backbone, splits = _load(unit, opts, host or get_host())
    needed: list[str] = []
    for spec in specs:
        needed += list(splits.clustering) if spec.task == "clustering" else [splits.gcd_split or ""]
    cache = FeatureCache(opts.cache_dir or default_cache_dir())
    params = json.loads(unit.dataset_params)
    return [
        name
        for name in dict.fromkeys(needed)
        if not cache.paths(cache_key(backbone, unit.dataset, params, splits.splits[name]))[0].exists()
    ]


@dataclass
class ExtractJob:
    """Fill the feature cache for the given splits of one (backbone, dataset), before the runs that read them."""

    unit: FeatureUnit
    splits: list[str]
    options: JobOptions

    def __call__(self) -> list[str]:
        """The cache keys written (or found: a concurrent job may have written them first)."""
        from unic_bench.run.device import resolve_device
        from unic_bench.run.features import cached_features

        opts = run_options(self.options)
        backbone, splits = _load(self.unit, opts, get_host())
        device = resolve_device(opts.device)
        params = json.loads(self.unit.dataset_params)
        return [
            cached_features(
                backbone, self.unit.dataset, params, splits.splits[name], device, opts.cache_dir,
                batch_size=opts.batch_size, num_workers=opts.num_workers,
            )[1]
            for name in self.splits
        ]  # fmt: skip


@dataclass
class RunPack:
    """Run several specs in one process (``--runs-per-job``), recording each one's state."""

    sweep_dir: str
    specs: list[RunSpec]
    options: JobOptions

    def __call__(self) -> list[str]:
        """Run every spec (keeping finished ones); the job fails when any spec failed."""
        runner = Runner(run_options(self.options), get_host())
        folder, failed, done = Path(self.sweep_dir), [], []
        job = submitit_job()
        for spec in self.specs:
            job_id, log = job if job is not None else (None, folder / "logs" / f"{spec.run_id}.log")
            write_state(folder, spec.run_id, RunState(state="running", job_id=job_id, log=str(log)))
            try:
                runner.run([spec])
            except Exception as exc:  # one bad spec must not take the rest of the pack with it
                text = traceback.format_exc()
                if job is None:  # in a job the traceback goes to the job's stderr log
                    write_text(log, text)
                else:
                    print(text, file=sys.stderr, flush=True)
                last = f"{type(exc).__name__}: {exc}".strip().splitlines()[-1]
                write_state(folder, spec.run_id, RunState(state="failed", job_id=job_id, log=str(log), error=last))
                failed.append(spec.run_id)
                continue
            clear_state(folder, spec.run_id)
            done.append(spec.run_id)
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(self.specs)} runs failed: {', '.join(failed)}")
        return done

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit calls this on preemption/time limit: requeue the same pack (finished runs are kept)."""
        import submitit

        return submitit.helpers.DelayedSubmission(type(self)(self.sweep_dir, self.specs, self.options), *args, **kwargs)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode()))


def packs(specs: Sequence[RunSpec], per_job: int) -> list[list[RunSpec]]:
    """Specs in feature order (one (backbone, dataset) after another), ``per_job`` to a pack."""
    ordered = [s for group in group_by_features(specs).values() for s in group]
    return [ordered[i : i + per_job] for i in range(0, len(ordered), per_job)]
