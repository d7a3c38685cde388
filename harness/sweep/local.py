"""``--launcher local``: the sweep in this machine's processes, features first, then the runs.

Each (backbone, dataset) is extracted once before any run; the runs then go one (backbone,
dataset) group after another, so a group's features are read from the cache once per process.
``--jobs N`` runs N packs at a time in worker processes (a machine with several GPUs or cores),
each with ``threads_for(N)`` CPU threads so that they do not fight over the cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unic_bench.run.parallel import worker_pool
from unic_bench.run.spec import RunSpec
from unic_bench.sweep.jobs import ExtractJob, RunPack, group_by_features, packs, uncached_splits
from unic_bench.sweep.manifest import JobOptions, Submission


def extract_missing(specs: Sequence[RunSpec], options: JobOptions) -> None:
    """Fill the cache for every (backbone, dataset) whose needed splits it lacks."""
    for unit, group in group_by_features(specs).items():
        if splits := uncached_splits(unit, group, options):
            ExtractJob(unit, splits, options)()


def _run_pack(pack: RunPack) -> None:
    try:
        pack()
    except RuntimeError:
        pass  # each failed run has its state file (error line, log): `unic-bench status` shows it


def run_local(folder: Path, specs: Sequence[RunSpec], options: JobOptions, jobs: int = 1) -> Submission:
    extract_missing(specs, options)
    if jobs <= 1:
        for pack in packs(specs, len(specs) or 1):
            _run_pack(RunPack(str(folder), pack, options))
    else:
        with worker_pool(jobs) as pool:  # spawned, each with threads_for(jobs) CPU threads
            list(pool.map(_run_pack, [RunPack(str(folder), pack, options) for pack in packs(specs, 1)]))
    return Submission(launcher="local")
