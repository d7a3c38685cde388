"""Several runs at once on one machine: a pool of worker processes that split the CPU threads.

Why: the demo's and small sweeps' runs train tiny heads, thousands of small steps each. One
process with every core's thread loses to synchronisation on such steps (TEMI's digits run takes
107 s on 2 threads and 57 s on one: ``docs/performance.md``), so J processes with
``threads_for(J)`` threads each finish the same runs much sooner. Workers are spawned (a forked
copy of a process that already ran torch/faiss threads can deadlock) and size their pools before
they import torch (``apply_threads`` in the initializer).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from unic_bench.api.taskdata import Progress, no_progress
from unic_bench.run.threads import POOL_VARS, apply_threads, threads_for

if TYPE_CHECKING:
    from unic_bench.run.protocol import Outcome, RunOptions
    from unic_bench.run.spec import RunSpec

_worker_state: dict[str, Any] = {}  # this worker's Runner: seeds of a configuration share its loaded data


def worker_pool(jobs: int, threads: int | None = None) -> ProcessPoolExecutor:
    """``jobs`` spawned workers, each with ``threads_for(jobs, threads)`` CPU threads."""
    per_job = threads_for(jobs, threads)
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(per_job,))


def _start_worker(threads: int) -> None:
    """The worker's share, also for the native pools: the parent's ``OMP_NUM_THREADS`` (its own
    count, inherited through the environment) would otherwise win, as libgomp reads it at load."""
    for var in POOL_VARS:
        os.environ[var] = str(threads)
    apply_threads(threads)


def _run_one(spec: RunSpec, options: RunOptions) -> Outcome:
    from unic_bench.plugins.host import get_host
    from unic_bench.run.protocol import Runner

    runner = _worker_state.get("runner")
    if runner is None or runner.options != options:
        runner = _worker_state["runner"] = Runner(options, get_host())
    return runner.run([spec])[0]


def run_parallel(
    specs: Sequence[RunSpec],
    options: RunOptions,
    jobs: int,
    progress: Progress,
    cost: Callable[[RunSpec], float] | None = None,
    threads: int | None = None,
) -> list[Outcome]:
    """Run ``specs`` (RunSpec) under ``options`` (RunOptions) in ``jobs`` workers; outcomes in
    ``specs`` order. ``cost(spec)`` (e.g. a previous record's run time) starts the longest runs
    first, so the last one to finish is short; a failed run raises once the others finished.
    The per-epoch bars of the workers are off (interleaved bars are unreadable): ``progress``
    counts finished runs."""
    order = sorted(range(len(specs)), key=lambda i: -cost(specs[i])) if cost is not None else list(range(len(specs)))
    quiet = replace(options, progress=no_progress)
    outcomes: dict[int, Outcome] = {}
    with worker_pool(jobs, threads) as pool:
        futures: dict[Future[Outcome], int] = {pool.submit(_run_one, specs[i], quiet): i for i in order}
        for future in progress(as_completed(futures), "runs", len(futures)):
            outcomes[futures[future]] = future.result()
    return [outcomes[i] for i in range(len(specs))]
