"""``--launcher slurm``: a sweep as SLURM jobs through submitit (facebookresearch/dino's launcher).

Feature extraction first, one job per (backbone, dataset) the cache lacks; then every pending
spec in one job array that depends on them (``afterok``; ``--kill-on-invalid-dep`` so a failed
extraction cancels the array instead of leaving it pending forever), ``--runs-per-job`` specs
per array task, at most ``--array-parallelism`` tasks at once. A preempted or timed-out task is
requeued by submitit (``RunPack.checkpoint``) and resumes from the trainer's checkpoint.
``submitit-local`` is the same path on submitit's local executor (no SLURM; extraction jobs are
waited for instead of depended on), for developers without a cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unic_bench.errors import BenchError
from unic_bench.run.spec import RunSpec
from unic_bench.sweep.grid import LauncherSettings
from unic_bench.sweep.jobs import ExtractJob, RunPack, group_by_features, packs, uncached_splits
from unic_bench.sweep.manifest import JobOptions, Submission


def check_available(cluster: str) -> None:
    """``--launcher slurm`` needs submitit (the ``slurm`` extra) and ``sbatch`` on PATH."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise BenchError(f"--launcher {cluster} needs submitit: pip install 'unic-bench[slurm]'") from None
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise BenchError("--launcher slurm needs SLURM's sbatch on PATH (not found); use --launcher local")


def sbatch_lines(lines: Sequence[str]) -> dict[str, Any]:
    """``["--exclusive", "--mail-type=END"]`` -> submitit's ``slurm_additional_parameters``."""
    extra: dict[str, Any] = {}
    for line in lines:
        text = line.strip().removeprefix("#SBATCH").strip()
        if not text.startswith("--"):
            raise BenchError(f"invalid sbatch line '{line}': expected --key=value or --flag (e.g. --exclusive)")
        key, sep, value = text[2:].partition("=")
        extra[key.replace("-", "_")] = value if sep else True
    return extra


def executor(folder: Path, settings: LauncherSettings, cluster: str) -> Any:
    import submitit

    ex = submitit.AutoExecutor(folder=folder / "logs", cluster=cluster, slurm_max_num_timeout=settings.max_requeues)
    params: dict[str, Any] = {
        "timeout_min": settings.time,
        "cpus_per_task": settings.cpus_per_job,
        "slurm_array_parallelism": settings.array_parallelism,
        "slurm_additional_parameters": sbatch_lines(settings.sbatch),
        "name": f"unic-bench-{folder.name}",
    }
    if settings.gpus_per_job:
        params["gpus_per_node"] = settings.gpus_per_job
    optional = {
        "slurm_partition": settings.partition,
        "slurm_mem": settings.mem,
        "slurm_account": settings.account,
        "slurm_qos": settings.qos,
        "slurm_constraint": settings.constraint,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    ex.update_parameters(**params)
    return ex


def submit(
    folder: Path,
    specs: Sequence[RunSpec],
    options: JobOptions,
    settings: LauncherSettings,
    cluster: str = "slurm",
    wait: bool = False,
) -> Submission:
    """Submit extraction jobs and the run array; ``wait`` blocks on a local executor's jobs
    (SLURM jobs are waited for through ``squeue``, which sees requeues: cli/sweep.py ``wait_for``)."""
    check_available(cluster)
    ex = executor(folder, settings, cluster)
    extraction = [
        ex.submit(ExtractJob(unit, splits, options))
        for unit, group in group_by_features(specs).items()
        if (splits := uncached_splits(unit, group, options))
    ]
    if extraction and cluster == "slurm":
        extra = {
            **sbatch_lines(settings.sbatch),
            "dependency": "afterok:" + ":".join(str(job.job_id) for job in extraction),
            "kill_on_invalid_dep": "yes",
        }
        ex.update_parameters(slurm_additional_parameters=extra)
    else:
        for job in extraction:
            job.result()  # the local executor has no dependencies: wait, raising an extraction failure
    grouped = packs(specs, settings.runs_per_job)
    with ex.batch():
        jobs = [ex.submit(RunPack(str(folder), pack, options)) for pack in grouped]
    if wait and cluster != "slurm":
        for job in jobs:
            job.wait()  # a failed pack's runs have their failed states; status shows them
    return Submission(
        launcher="slurm" if cluster == "slurm" else "submitit-local",
        jobs={spec.run_id: str(job.job_id) for pack, job in zip(grouped, jobs) for spec in pack},
        extraction_jobs=[str(job.job_id) for job in extraction],
    )
