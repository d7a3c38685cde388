"""Thread policy: where the default comes from, how jobs divide it, and that it is applied."""

from __future__ import annotations

import os
from typing import Any

import pytest

from unic_bench.errors import BenchError
from unic_bench.run import threads


def test_default_comes_from_slurm_then_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert threads.default_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "6")
    assert threads.available_cores() == 6 and threads.default_threads() == 6
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert threads.default_threads() == 3  # the variable wins over the allocation
    assert threads.default_threads(5) == 5  # and --threads over both


def test_jobs_divide_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.THREADS_ENV, "8")
    assert [threads.threads_for(j) for j in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert threads.threads_for(2, total=2) == 1
    with pytest.raises(BenchError, match="--jobs 0"):
        threads.threads_for(0)


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_bad_values_are_one_clear_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(threads.THREADS_ENV, raw)
    with pytest.raises(BenchError, match=f"UNIC_BENCH_THREADS='{raw}' is not a positive number"):
        threads.default_threads()
    with pytest.raises(BenchError, match="--threads 0"):
        threads.default_threads(0)


def test_apply_sizes_torch_and_blas() -> None:
    import torch
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    before = torch.get_num_threads()
    try:
        threads.apply_threads(1)
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        threads.apply_threads(before)


def test_cli_rejects_bad_threads(cli: Any) -> None:
    result = cli("run", "--method", "kmeans", "--backbone", "identity", "--dataset", "synthetic", "--threads", "0")
    assert result.code == 2 and "--threads 0: must be a positive number of threads" in result.err


def test_parallel_runs_split_the_threads_and_keep_the_order(tmp_path: Any) -> None:
    """Two workers with one thread each (of 2) give the sequential run's records, in spec order,
    whatever order ``cost`` starts them in."""
    from pathlib import Path

    from unic_bench.plugins.host import get_host
    from unic_bench.run.parallel import run_parallel
    from unic_bench.run.protocol import RunOptions, run_specs
    from unic_bench.run.spec import RunRequest, resolve

    host = get_host()
    specs = resolve(RunRequest(method="kmeans", backbone="identity", dataset="synthetic", seeds=[0, 1, 2]), host)
    sequential = run_specs(specs, RunOptions(device="cpu", results_dir=Path(tmp_path) / "a", overwrite="always"), host)
    options = RunOptions(device="cpu", results_dir=Path(tmp_path) / "b", overwrite="always")
    parallel = run_parallel(
        specs, options, jobs=2, progress=lambda items, *a, **k: items, cost=lambda spec: float(spec.seed), threads=2
    )
    assert [o.spec.run_id for o in parallel] == [s.run_id for s in specs]
    assert [o.record.metrics for o in parallel] == [o.record.metrics for o in sequential]
    assert {o.record.environment["torch_threads"] for o in parallel} == {1}
    assert all(o.path.is_relative_to(Path(tmp_path) / "b") for o in parallel)


def test_demo_jobs_default_and_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from unic_bench.cli.demo import demo_jobs

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "16")
    assert demo_jobs(None, "cpu") == 4 and demo_jobs(3, "cpu") == 3
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert demo_jobs(None, "cpu") == 1
    with pytest.raises(BenchError, match="--jobs 0: must be at least 1"):
        demo_jobs(0, "cpu")
