"""Where every spec of a sweep stands: done / queued / running / failed / missing.

A spec is *done* when its record exists (whatever launched it), *failed* when its job wrote a
failed state (the error's last line and the log path are shown) or its job ended without a
record, *queued* / *running* from ``squeue`` for SLURM jobs (or the job's own ``running``
state elsewhere), and *missing* when nothing has it: never submitted, or lost.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from unic_bench.run.records import read_record, record_path
from unic_bench.run.spec import RunSpec
from unic_bench.sweep.manifest import Manifest, read_state

State = Literal["done", "queued", "running", "failed", "missing"]
STATES: tuple[State, ...] = ("done", "queued", "running", "failed", "missing")
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "SUSPENDED", "RESV_DEL_HOLD"}
RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"}


@dataclass(frozen=True)
class SpecStatus:
    spec: RunSpec
    state: State
    job_id: str | None = None
    error: str | None = None
    log: str | None = None


def slurm_states(job_ids: Iterable[str]) -> dict[str, str]:
    """``squeue`` state per job id (array tasks as ``123_4``); empty when SLURM is not reachable."""
    wanted = set(job_ids)
    if not wanted or shutil.which("squeue") is None:
        return {}
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %T", "--states=all"],  # --jobs fails whole on one purged id
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    states = {}
    for line in out.stdout.splitlines():
        job, _, state = line.strip().partition(" ")
        if job in wanted:
            states[job] = state.strip()
    return states


def spec_statuses(
    specs: Sequence[RunSpec], results_dir: Path, folder: Path | None, manifest: Manifest | None
) -> list[SpecStatus]:
    job_ids = {s.run_id: manifest.job_of(s.run_id) for s in specs} if manifest else {}
    queue = slurm_states(j for j in job_ids.values() if j) if manifest and manifest.launcher == "slurm" else {}
    out = []
    for spec in specs:
        job = job_ids.get(spec.run_id)
        if read_record(record_path(results_dir, spec)) is not None:
            out.append(SpecStatus(spec, "done", job))
            continue
        state = read_state(folder, spec.run_id) if folder is not None else None
        if state is not None and state.state == "failed":
            out.append(SpecStatus(spec, "failed", state.job_id or job, state.error, state.log))
            continue
        in_queue = queue.get(job or "")
        if in_queue in QUEUED:
            out.append(SpecStatus(spec, "queued", job))
        elif in_queue in RUNNING:
            out.append(SpecStatus(spec, "running", job, log=state.log if state else None))
        elif in_queue:  # a terminal state without a record: killed, out of memory, out of time
            out.append(SpecStatus(spec, "failed", job, f"job ended {in_queue} without a record", state.log if state else None))
        elif state is not None:
            out.append(SpecStatus(spec, "running", state.job_id or job, log=state.log))
        else:
            out.append(SpecStatus(spec, "missing", job))
    return out


def summary(statuses: Sequence[SpecStatus]) -> str:
    counts = {s: sum(1 for x in statuses if x.state == s) for s in STATES}
    return f"{len(statuses)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items())
