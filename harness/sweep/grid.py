"""Grid files and suites -> validated run specs, before anything runs or is submitted.

A grid file (YAML) names lists of methods, backbones, datasets, tasks and seeds, parameter
lists shared by every method (``set``, keys as for ``--set``) and per-method parameter grids
(``methods: {unic: {lr: [1e-3, 1e-4]}}``); a ``launcher:`` section holds cluster settings.
Every combination goes through :func:`unic_bench.run.spec.resolve`, so a bad name, an unknown
parameter or a bad value is the same one-line error as for ``run``. Combinations that cannot
exist (a GCD-only method in a clustering column, a dataset without the task, a backbone of the
wrong input kind) are skipped and counted, not errors: a grid is a cross product.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unic_bench.api.component import Task, describe_validation_error
from unic_bench.errors import BenchError
from unic_bench.plugins.host import PluginHost
from unic_bench.run.spec import GcdMetric, RunRequest, RunSpec, resolve
from unic_bench.sweep.suites import SUITES, Suite, get_suite

ParamGrid = dict[str, Union[list[Any], Any]]  # key -> values (a scalar is one value)


class LauncherSettings(BaseModel):
    """Cluster settings (``launcher:`` section of a grid file; flags override them)."""

    model_config = ConfigDict(extra="forbid")

    partition: Optional[str] = None
    gpus_per_job: int = Field(default=0, ge=0, description="GPUs per array task (0 = do not ask for GPUs)")
    cpus_per_job: int = Field(default=1, ge=1)
    mem: Optional[str] = Field(default=None, description="memory per job, sbatch syntax (16G)")
    time: int = Field(default=60, ge=1, description="time limit per job, minutes")
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    sbatch: list[str] = Field(default_factory=list, description="extra #SBATCH lines, e.g. --exclusive or --mail-type=END")
    array_parallelism: int = Field(default=64, ge=1, description="array tasks running at once")
    runs_per_job: int = Field(default=1, ge=1, description="specs packed into one array task")
    max_requeues: int = Field(default=3, ge=0, description="requeues after time limits (preemptions do not count)")


class GridFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Optional[str] = None
    methods: Union[list[str], dict[str, Optional[ParamGrid]]]
    backbones: list[str]
    datasets: list[str]
    tasks: list[Task] = ["clustering"]  # pydantic copies list defaults per instance
    seeds: list[int] = [0]
    set: ParamGrid = Field(default_factory=dict)
    gcd_metric: GcdMetric = "v2"
    launcher: LauncherSettings = Field(default_factory=lambda: LauncherSettings())

    def method_grids(self) -> dict[str, ParamGrid]:
        if isinstance(self.methods, list):
            return {m: {} for m in self.methods}
        return {m: grid or {} for m, grid in self.methods.items()}


@dataclass
class Expansion:
    """The specs a grid or suite stands for, plus what was skipped and why."""

    name: str
    source: str  # the grid file's path or "suite NAME"
    specs: list[RunSpec]
    notes: list[str] = field(default_factory=list)
    launcher: LauncherSettings = field(default_factory=lambda: LauncherSettings())

    @property
    def sweep_id(self) -> str:
        """Deterministic: the same grid is the same sweep, so ``status GRID`` finds its folder."""
        digest = hashlib.sha256("\n".join(sorted(s.run_id for s in self.specs)).encode()).hexdigest()[:10]
        return f"{_slug(self.name)}-{digest}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-") or "sweep"


def load_grid(path: Path) -> GridFile:
    """Parse a grid file; not YAML, not a mapping, unknown keys, empty lists: one line each."""
    if not path.is_file():
        raise BenchError(f"grid file '{path}' does not exist (or give a suite: {', '.join(SUITES)})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BenchError(f"grid file '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        raise BenchError(f"grid file '{path}' is empty: it needs methods, backbones and datasets")
    if not isinstance(data, dict):
        raise BenchError(f"grid file '{path}' must hold a mapping (methods: [...], backbones: [...], datasets: [...])")
    try:
        grid = GridFile(**data)
    except ValidationError as exc:
        raise BenchError(f"grid file '{path}': {describe_validation_error(exc, GridFile, 'the grid')}") from None
    for key in ("methods", "backbones", "datasets", "tasks", "seeds"):
        if not getattr(grid, key):
            raise BenchError(f"grid file '{path}': '{key}' is empty, so the grid has no runs")
    return grid


def _values(grid: ParamGrid) -> list[dict[str, Any]]:
    """``{a: [1, 2], b: 3}`` -> ``[{a: 1, b: 3}, {a: 2, b: 3}]``."""
    keys = list(grid)
    lists = [v if isinstance(v, list) else [v] for v in grid.values()]
    for key, values in zip(keys, lists):
        if not values:
            raise BenchError(f"parameter list '{key}' is empty, so the grid has no runs")
    return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]


def _compatible(host: PluginHost, method: str, backbone: str, dataset: str, task: Task) -> str | None:
    """Why this combination cannot run, or None."""
    m, b, d = host.methods.get(method), host.backbones.get(backbone), host.datasets.get(dataset)
    if task not in m.tasks:
        return f"method {m.name} has no task {task}"
    if task not in d.tasks:
        return f"dataset {d.name} has no task {task}"
    if b.accepts != d.modality:
        return f"backbone {b.name} takes {b.accepts} inputs, dataset {d.name} gives {d.modality}"
    return None


def _resolve_all(requests: Sequence[RunRequest], host: PluginHost) -> list[RunSpec]:
    specs: dict[str, RunSpec] = {}
    for request in requests:
        for spec in resolve(request, host):
            specs.setdefault(spec.run_id, spec)  # two spellings of one run (an alias) are one spec
    return list(specs.values())


def expand_grid(
    path: Path, host: PluginHost, seeds: list[int] | None = None, extra_set: Mapping[str, Any] | None = None
) -> Expansion:
    grid = load_grid(path)
    shared = _values({**grid.set, **(extra_set or {})})
    requests, skipped = [], []
    for method, method_grid in grid.method_grids().items():
        own = _values(method_grid)
        for task, dataset, backbone in itertools.product(grid.tasks, grid.datasets, grid.backbones):
            why = _compatible(host, method, backbone, dataset, task)
            if why:
                skipped.append(why)
                continue
            for common, params in itertools.product(shared, own):
                requests.append(
                    RunRequest(
                        method=method,
                        backbone=backbone,
                        dataset=dataset,
                        task=task,
                        seeds=seeds or grid.seeds,
                        set={**common, **params},
                        gcd_metric=grid.gcd_metric,
                    )
                )
    notes = [f"skipped {n} combination(s): {why}" for why, n in _counts(skipped).items()]
    if not requests:
        raise BenchError(f"grid file '{path}' has no runnable combination ({'; '.join(notes) or 'nothing to run'})")
    return Expansion(grid.name or path.stem, str(path), _resolve_all(requests, host), notes, grid.launcher)


def expand_suite(
    suite: Suite,
    host: PluginHost,
    seeds: list[int],
    extra_set: Mapping[str, Any] | None = None,
    methods: Sequence[str] = (),
    backbones: Sequence[str] = (),
    weights: Path | None = None,
) -> Expansion:
    """The suite's specs (optionally only some methods/backbones); unregistered methods become notes."""
    available, notes = suite.available(host)
    wanted_methods = {host.methods.canonical(m) for m in methods}
    wanted_backbones = {host.backbones.canonical(b) for b in backbones}
    requests = []
    for entry in available.entries:
        for variant, backbone in itertools.product(entry.variants, entry.backbones):
            if (wanted_methods and variant.method not in wanted_methods) or (
                wanted_backbones and backbone not in wanted_backbones
            ):
                continue
            requests.append(
                RunRequest(
                    method=variant.method,
                    backbone=backbone,
                    dataset=entry.dataset,
                    task=entry.task,
                    seeds=seeds,
                    set={**variant.params, **(extra_set or {})},
                    weights=weights,
                )
            )
    if not requests:
        raise BenchError(
            f"suite '{suite.name}' has no runs for the methods/backbones asked for "
            f"(its methods: {', '.join(available.methods)}; backbones: {', '.join(available.backbones)})"
        )
    return Expansion(suite.name, f"suite {suite.name}", _resolve_all(requests, host), notes)


def expand(
    target: str, host: PluginHost, seeds: list[int] | None = None, extra_set: Mapping[str, Any] | None = None
) -> Expansion:
    """``target`` is a suite name or a grid file path."""
    if target in SUITES:
        return expand_suite(get_suite(target), host, seeds or [0, 1, 2], extra_set)
    path = Path(target)
    if path.suffix.lower() not in (".yaml", ".yml") and not path.exists():
        get_suite(target)  # neither a suite nor a file: the unknown-suite error lists the suites
    return expand_grid(path, host, seeds, extra_set)


def _counts(items: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts
