"""``unic-bench demo``: every registered method on the embedded digits with raw pixels, both tasks.

No downloads and no GPU. Methods join automatically: whatever is registered and supports a task
runs on it. Records go to ``RESULTS/runs/`` like any run; the leaderboards are built from them.
On a CPU the runs go ``jobs`` at a time, each process with its share of the threads
(``run/parallel.py``: tiny training steps run faster on one thread each than on all of them).
"""

from __future__ import annotations

from pathlib import Path

from unic_bench.api.component import Task
from unic_bench.cli.progress import rich_progress
from unic_bench.plugins.host import get_host
from unic_bench.report.tables import Layout, render
from unic_bench.run.parallel import run_parallel
from unic_bench.run.protocol import Outcome, Overwrite, RunOptions, run_specs
from unic_bench.run.records import read_record, record_path
from unic_bench.run.spec import RunRequest, RunSpec, resolve

DEMO_DATASET = "digits"
DEMO_BACKBONE = "pixels"
SECTIONS: tuple[tuple[Task, Layout, str], ...] = (
    ("clustering", "table1", "Clustering"),
    ("gcd", "table2", "GCD (v2, on the unlabelled images)"),
)


def run_demo(
    results: Path, seeds: list[int], overwrite: Overwrite, device: str, jobs: int = 1, threads: int | None = None
) -> str:
    """Run the demo grid (``jobs`` runs at a time, sharing ``threads``) and return both leaderboards as Markdown."""
    host = get_host()
    dataset = host.datasets.get(DEMO_DATASET)
    options = RunOptions(device=device, results_dir=results, overwrite=overwrite, progress=rich_progress)
    grid = {
        task: [
            spec
            for method in host.methods
            if task in method.tasks
            for spec in resolve(
                RunRequest(method=method.name, backbone=DEMO_BACKBONE, dataset=DEMO_DATASET, task=task, seeds=seeds), host
            )
        ]
        for task, _, _ in SECTIONS
        if task in dataset.tasks
    }
    every = [spec for specs in grid.values() for spec in specs]
    if jobs > 1:  # both tasks in one pool, the longest runs first
        done = run_parallel(
            every, options, jobs, rich_progress, cost=lambda spec: previous_seconds(results, spec), threads=threads
        )
    else:
        done = run_specs(every, options, host)
    outcome_of: dict[str, Outcome] = {o.spec.run_id: o for o in done}
    sections = []
    for task, layout, title in SECTIONS:
        if task not in grid:
            continue
        outcomes = [outcome_of[spec.run_id] for spec in grid[task]]
        sections.append(
            f"## {title}: {dataset.label()} / {DEMO_BACKBONE}, seeds {','.join(map(str, seeds))}\n\n"
            + render([o.record for o in outcomes], layout, "md", digits=1).rstrip()
        )
    sections.append(f"Records: {Path(results) / 'runs'}  (render again with `unic-bench table --results {results}`)")
    return "\n\n".join(sections)


def previous_seconds(results: Path, spec: RunSpec) -> float:
    """How long this spec's existing record took (``timings.total_s``); infinity when there is
    none, so an unknown run starts early rather than last."""
    path = record_path(results, spec)
    record = read_record(path) if path.exists() else None
    return float("inf") if record is None else float(record.timings.get("total_s", float("inf")))


def demo_jobs(requested: int | None, device: str) -> int:
    """``--jobs``, else one per available core (at most 4: the demo's runs are small) on a CPU and
    1 on a GPU (one device; the runs are too small to share it usefully)."""
    from unic_bench.errors import BenchError
    from unic_bench.run.device import resolve_device
    from unic_bench.run.threads import available_cores

    if requested is not None:
        if requested < 1:
            raise BenchError(f"--jobs {requested}: must be at least 1")
        return requested
    return 1 if resolve_device(device).startswith("cuda") else min(available_cores(), 4)
