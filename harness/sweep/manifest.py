"""``RESULTS/sweeps/<sweep_id>/``: a sweep's manifest, its jobs' logs and per-run states.

- ``manifest.json``: the specs, how they run (results/cache/data paths, device), the launcher
  and its settings, and every submission (job ids per run, extraction jobs), appended on retry.
- ``logs/``: submitit's job folder (``<job id>_<task>_log.out|err``), or one log per run locally.
- ``state/<run_id>.json``: written by the job running a spec: ``running`` when it starts,
  ``failed`` with the last line of the error and the log path. A finished run is its record.

All writes are atomic (``unic_bench.atomic``); a manifest is never rewritten in place by halves.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unic_bench.atomic import write_json
from unic_bench.errors import BenchError, unknown_choice
from unic_bench.run.spec import RunSpec
from unic_bench.sweep.grid import LauncherSettings

Launcher = Literal["local", "slurm", "submitit-local"]
LAUNCHERS: tuple[Launcher, ...] = ("local", "slurm", "submitit-local")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class JobOptions(BaseModel):
    """How a job runs its specs (the run flags that are not part of a spec); paths are absolute."""

    model_config = ConfigDict(extra="forbid")

    results_dir: str
    device: str = "auto"
    data_root: Optional[str] = None
    cache_dir: Optional[str] = None
    splits_dir: Optional[str] = None
    weights: Optional[str] = None
    batch_size: int = 256
    workers: int = 0


class Submission(BaseModel):
    """One launch of (some of) the sweep's specs."""

    at: str = Field(default_factory=_now)
    launcher: Launcher
    jobs: dict[str, str] = Field(default_factory=dict)  # run_id -> job id ("123_4" for array task 4)
    extraction_jobs: list[str] = Field(default_factory=list)
    retry: bool = False


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep_id: str
    name: str
    source: str
    created_at: str = Field(default_factory=_now)
    launcher: Launcher
    settings: LauncherSettings
    options: JobOptions
    specs: list[RunSpec]
    submissions: list[Submission] = Field(default_factory=list)

    def job_of(self, run_id: str) -> str | None:
        """The latest job id a run was submitted under."""
        for submission in reversed(self.submissions):
            if run_id in submission.jobs:
                return submission.jobs[run_id]
        return None


class RunState(BaseModel):
    state: Literal["running", "failed"]
    job_id: Optional[str] = None
    log: Optional[str] = None
    error: Optional[str] = None  # last line of the error
    at: str = Field(default_factory=_now)


def sweeps_root(results_dir: Path) -> Path:
    return Path(results_dir) / "sweeps"


def sweep_dir(results_dir: Path, sweep_id: str) -> Path:
    return sweeps_root(results_dir) / sweep_id


def write_manifest(folder: Path, manifest: Manifest) -> None:
    write_json(folder / "manifest.json", manifest.model_dump(mode="json"))


def read_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.json"
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        raise BenchError(f"sweep manifest '{path}' cannot be read ({type(exc).__name__})") from None


def find_sweep(results_dir: Path, sweep_id: str) -> Path:
    """The folder of ``--sweep ID``; an unknown id lists the sweeps there are."""
    folder = sweep_dir(results_dir, sweep_id)
    if (folder / "manifest.json").is_file():
        return folder
    root = sweeps_root(results_dir)
    known = sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []
    raise unknown_choice(f"sweep id (under {root})", sweep_id, known)


def state_path(folder: Path, run_id: str) -> Path:
    return Path(folder) / "state" / f"{run_id}.json"


def write_state(folder: Path, run_id: str, state: RunState) -> None:
    write_json(state_path(folder, run_id), state.model_dump(mode="json"))


def read_state(folder: Path, run_id: str) -> RunState | None:
    try:
        return RunState(**json.loads(state_path(folder, run_id).read_text()))
    except (OSError, ValueError, ValidationError):
        return None


def clear_state(folder: Path, run_id: str) -> None:
    state_path(folder, run_id).unlink(missing_ok=True)


def check_launcher(value: str) -> Launcher:
    if value not in LAUNCHERS:
        raise unknown_choice("launcher", value, LAUNCHERS)
    return value
