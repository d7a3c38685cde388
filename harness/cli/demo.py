"""``unic-bench demo``: every registered method on the embedded digits with raw pixels, both tasks.

No downloads and no GPU. Methods join automatically: whatever is registered and supports a task
runs on it. Records go to ``RESULTS/runs/`` like any run; the leaderboards are built from them.
"""

from __future__ import annotations

from pathlib import Path

from unic_bench.api.component import Task
from unic_bench.cli.progress import rich_progress
from unic_bench.plugins.host import get_host
from unic_bench.report.tables import Layout, render
from unic_bench.run.protocol import Outcome, Overwrite, RunOptions, run_specs
from unic_bench.run.spec import RunRequest, resolve

DEMO_DATASET = "digits"
DEMO_BACKBONE = "pixels"
SECTIONS: tuple[tuple[Task, Layout, str], ...] = (
    ("clustering", "table1", "Clustering"),
    ("gcd", "table2", "GCD (v2, on the unlabelled images)"),
)


def run_demo(results: Path, seeds: list[int], overwrite: Overwrite, device: str) -> str:
    """Run the demo grid and return both leaderboards as Markdown."""
    host = get_host()
    dataset = host.datasets.get(DEMO_DATASET)
    options = RunOptions(device=device, results_dir=results, overwrite=overwrite, progress=rich_progress)
    sections = []
    for task, layout, title in SECTIONS:
        if task not in dataset.tasks:
            continue
        specs = [
            spec
            for method in host.methods
            if task in method.tasks
            for spec in resolve(
                RunRequest(method=method.name, backbone=DEMO_BACKBONE, dataset=DEMO_DATASET, task=task, seeds=seeds), host
            )
        ]
        outcomes: list[Outcome] = run_specs(specs, options, host)
        sections.append(
            f"## {title}: {dataset.label()} / {DEMO_BACKBONE}, seeds {','.join(map(str, seeds))}\n\n"
            + render([o.record for o in outcomes], layout, "md", digits=1).rstrip()
        )
    sections.append(f"Records: {Path(results) / 'runs'}  (render again with `unic-bench table --results {results}`)")
    return "\n\n".join(sections)
