"""CPU thread policy: how many threads a run's torch, BLAS and faiss use, so that jobs sharing cores
don't fight over them.

Why: every library sizes its pool to all the cores it sees, and libgomp (torch's and faiss's
OpenMP) lets idle threads spin before sleeping. Two processes on two cores then run four busy
threads: on tiny training steps (thousands of small kernels, each ending in a barrier) spinning
threads steal the cores the working ones need (benchmarks/contention.py measures it).
The policy: ``--threads N`` or ``$UNIC_BENCH_THREADS``, else the cores this process may use
(``SLURM_CPUS_PER_TASK`` under SLURM, else the CPU affinity mask); a sweep running ``--jobs J``
at once gives each ``threads_for(J)``; idle OpenMP threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``)
unless the user set a policy.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from unic_bench.errors import BenchError

THREADS_ENV = "UNIC_BENCH_THREADS"
POOL_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # read by the native libraries at load
_blas_limits: Any = None  # threadpoolctl's limiter, kept alive for the process


def available_cores() -> int:
    """Cores this process may use: SLURM's allocation, else the affinity mask, else all."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_threads(requested: int | None = None) -> int:
    """``requested`` (``--threads``), else ``$UNIC_BENCH_THREADS``, else :func:`available_cores`."""
    if requested is not None:
        if requested < 1:
            raise BenchError(f"--threads {requested}: must be a positive number of threads")
        return requested
    raw = os.environ.get(THREADS_ENV)
    if raw is None or raw == "":
        return available_cores()
    if not raw.isdigit() or int(raw) < 1:
        raise BenchError(f"{THREADS_ENV}='{raw}' is not a positive number of threads")
    return int(raw)


def threads_for(jobs: int, total: int | None = None) -> int:
    """Threads for each of ``jobs`` runs sharing ``total`` threads (default :func:`default_threads`)."""
    if jobs < 1:
        raise BenchError(f"--jobs {jobs}: must be at least 1")
    return max(1, (total or default_threads()) // jobs)


def use_threads(requested: int | None = None) -> int:
    """Apply the policy for ``--threads`` (None: the default); returns the thread count used."""
    threads = default_threads(requested)
    apply_threads(threads)
    return threads


def apply_threads(threads: int) -> None:
    """Size torch's, faiss's and the BLAS pools to ``threads`` in this process.

    Before torch is imported it also sets the pool variables (``OMP_NUM_THREADS``...; DataLoader
    workers and subprocesses inherit them) and ``OMP_WAIT_POLICY=PASSIVE``, each only when the
    user has not set it: libgomp reads them once, at load.
    """
    if "torch" not in sys.modules:
        for var in POOL_VARS:
            os.environ.setdefault(var, str(threads))
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # allowed once, before any inter-op work; later calls keep the first value
        pass
    try:
        import faiss
    except ImportError:
        pass
    else:
        faiss.omp_set_num_threads(threads)
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    global _blas_limits
    _blas_limits = threadpool_limits(limits=threads)
