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
