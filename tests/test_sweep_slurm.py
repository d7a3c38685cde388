"""Sweeps on a real SLURM cluster (scripts/slurm-cluster.sh start: one node, this machine).

Skipped where ``sinfo`` is absent or no node answers. Digits/pixels runs with few epochs keep the
whole module to a few minutes on 2 cores: a sweep of 2 methods x 2 seeds x both tasks through
submitit (with the features extracted once, before the array), ``status`` on it, a UNIC job
preempted with USR2 mid-training (requeued, resumed from its checkpoint, same assignments as an
uninterrupted run), and a failing run shown by ``status`` and retried.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unic_bench.plugins.host import get_host
from unic_bench.run.records import read_record, record_path
from unic_bench.sweep.grid import expand


def _slurm_reason() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed (sinfo/sbatch absent): run scripts/slurm-cluster.sh start as root"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo does not respond ({type(exc).__name__}): run scripts/slurm-cluster.sh start"
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*") in ("idle", "mix", "alloc") for s in states):
        return f"no SLURM node is up (sinfo: {out.stderr.strip() or ' '.join(states) or 'nothing'}): run scripts/slurm-cluster.sh start"
    return None


REASON = _slurm_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
pytest.importorskip("submitit")

GRID = """
name: slurm-small
methods:
  kmeans: {n_init: [2]}
  unic: {epochs: [3]}
backbones: [pixels]
datasets: [digits]
tasks: [clustering, gcd]
seeds: [0, 1]
"""


def _wait(condition: Any, timeout: float, what: str, poll: float = 0.2) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _manifest(results: Path, sweep_id: str) -> dict[str, Any]:
    return json.loads((results / "sweeps" / sweep_id / "manifest.json").read_text())


def test_sweep_on_slurm_extracts_once_then_runs_the_array(cli: Any, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    results, cache = tmp_path / "r", tmp_path / "cache" / "features"
    expansion = expand(str(grid), get_host())
    out = cli("sweep", str(grid), "--results", str(results), "--launcher", "slurm", "--runs-per-job", "4")
    assert out.code == 0, out.err
    submission = _manifest(results, expansion.sweep_id)["submissions"][-1]
    assert len(submission["extraction_jobs"]) == 1  # one (backbone, dataset)
    assert len(set(submission["jobs"].values())) == 2  # 8 specs, 4 per array task
    assert {j.split("_")[0] for j in submission["jobs"].values()} == {str(int(submission["extraction_jobs"][0]) + 1)}

    # The extraction job writes the cache; no array task writes it again (an atomic rewrite would change the inode).
    logs = results / "sweeps" / expansion.sweep_id / "logs"
    extraction = submission["extraction_jobs"][0]
    _wait(lambda: (logs / f"{extraction}_0_result.pkl").exists(), 120, "the extraction job")
    written = {p.name: p.stat().st_ino for p in cache.glob("*.npy")}
    assert len(written) == 1  # digits has one split

    status = cli("status", str(grid), "--results", str(results))
    assert status.code in (0, 1)  # queued/running or already done
    assert "8 runs:" in status.out

    _wait(lambda: cli("status", "--sweep", expansion.sweep_id, "--results", str(results)).code == 0, 240, "every run")
    assert {p.name: p.stat().st_ino for p in cache.glob("*.npy")} == written
    for spec in expansion.specs:
        record = read_record(record_path(results, spec))
        assert record is not None and record.metrics
        assert record.environment.get("slurm_job_id")  # ran inside a SLURM job
    final = cli("status", "--sweep", expansion.sweep_id, "--results", str(results))
    assert "8 runs: 8 done, 0 queued, 0 running, 0 failed, 0 missing" in final.out


def _epochs_done(path: Path) -> int | None:
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epochs_done"])
    except Exception:  # absent, or replaced between the check and the read
        return None


def test_preempted_unic_job_is_requeued_and_resumes_to_the_same_assignments(cli: Any, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "name: preempt\nmethods:\n  unic: {epochs: [20]}\nbackbones: [pixels]\ndatasets: [digits]\ntasks: [clustering]\n"
    )
    (spec,) = expand(str(grid), get_host()).specs
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    for results in (interrupted, reference):
        assert cli("sweep", str(grid), "--results", str(results), "--launcher", "slurm").code == 0
    sweep_id = expand(str(grid), get_host()).sweep_id
    job = _manifest(interrupted, sweep_id)["submissions"][-1]["jobs"][spec.run_id]

    checkpoint = interrupted / "checkpoints" / spec.run_id / "training.pt"
    at_signal = _wait(lambda: (d := _epochs_done(checkpoint)) is not None and d >= 2 and d, 180, "2 epochs of training")
    assert at_signal < 20
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)

    seen = []  # epochs_done over time: a restart from scratch would show a value below the one at the signal
    record_file = record_path(interrupted, spec)

    def finished() -> bool:
        if (d := _epochs_done(checkpoint)) is not None:
            seen.append(d)
        return record_file.exists()

    _wait(finished, 240, "the requeued job's record", poll=0.05)
    assert seen and min(seen) >= at_signal, seen
    logs = interrupted / "sweeps" / sweep_id / "logs"
    log = (logs / f"{job}_0_log.err").read_text() + (logs / f"{job}_0_log.out").read_text()  # both attempts (append mode)
    assert "this job is preempted" in log and "Requeued job" in log

    _wait(lambda: record_path(reference, spec).exists(), 240, "the uninterrupted run")
    resumed = np.load(record_file.with_suffix(".npz"))["assignments"]
    uninterrupted = np.load(record_path(reference, spec).with_suffix(".npz"))["assignments"]
    assert np.array_equal(resumed, uninterrupted)
    first, second = read_record(record_file), read_record(record_path(reference, spec))
    assert first is not None and second is not None
    assert first.metrics == second.metrics and len(first.epoch_log) == 20


def test_failed_run_on_slurm_is_shown_and_retried(cli: Any, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "name: retry\nmethods:\n  unic: {epochs: [2]}\nbackbones: [pixels]\ndatasets: [digits]\ntasks: [gcd]\nseeds: [0, 1]\n"
    )
    results = tmp_path / "r"
    specs = expand(str(grid), get_host()).specs
    bad = specs[1]
    checkpoint = results / "checkpoints" / bad.run_id / "training.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"not a checkpoint")  # a checkpoint that cannot be resumed: that run fails, the other does not
    assert cli("sweep", str(grid), "--results", str(results), "--launcher", "slurm", "--wait").code == 0

    status = cli("status", str(grid), "--results", str(results))
    assert status.code == 1
    assert "2 runs: 1 done, 0 queued, 0 running, 1 failed, 0 missing" in status.out
    assert "cannot be resumed" in status.out
    log = Path(status.out.split("log: ")[1].split()[0])
    assert log.is_file() and "cannot be resumed" in log.read_text()

    checkpoint.unlink()
    retry = cli("status", str(grid), "--results", str(results), "--retry-failed", "--wait")
    assert retry.code == 0, retry.out
    assert "retried 1 failed run(s) in job(s)" in retry.out
    assert retry.out.rstrip().endswith("2 runs: 2 done, 0 queued, 0 running, 0 failed, 0 missing")
