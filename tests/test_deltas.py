"""``table --with-paper --delta``: measured minus paper under each matching cell, and the summary line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unic_bench.report.tables import render
from unic_bench.run.records import DisplayNames, RunRecord, paper_records, write_record

UNIC_CUB_ALL = [0.80, 0.82, 0.83]  # paper: UNIC DINOv2 CUB All 81.36, Old 84.52, New 79.78


def measured(method: str, backbone: str, dataset: str, seed: int, metrics: dict[str, float], **extra: Any) -> RunRecord:
    labels = {"dinov2-vit-b-14": ("ViT-B/14", "DINOv2"), "dinov1-vit-b-16": ("ViT-B/16", "DINOv1")}
    arch, pretraining = labels[backbone]
    return RunRecord(
        run_id=f"{method}-{backbone}-{dataset}-{seed}-{sorted(extra.get('params_changed', {}).items())}",
        source="measured",
        task="gcd",
        method=method,
        backbone=backbone,
        dataset=dataset,
        display=DisplayNames(method=method.upper(), backbone=arch, dataset=dataset.upper(), pretraining=pretraining),
        seed=seed,
        metric_variant="gcd-v2",
        metrics=metrics,
        **extra,
    )


@pytest.fixture
def records() -> list[RunRecord]:
    unic = [
        measured("unic", "dinov2-vit-b-14", "cub", s, {"all": a, "old": 0.85, "new": 0.79 + s / 100})
        for s, a in enumerate(UNIC_CUB_ALL)
    ]
    kmeans = [measured("kmeans", "dinov1-vit-b-16", "cifar10", 0, {"all": 0.84, "old": 0.86, "new": 0.80})]
    tuned = [
        measured("kmeans", "dinov1-vit-b-16", "cifar10", 0, {"all": 0.5, "old": 0.5, "new": 0.5}, params_changed={"n_init": 1})
    ]
    return [*unic, *kmeans, *tuned, *paper_records(table="2")]


def rows_of(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("|")]


def test_delta_rows_sit_under_the_measured_rows_with_paper_counterparts(records: list[RunRecord]) -> None:
    table = render(records, "table2", "md", delta=True, digits=2)
    rows = rows_of(table)
    header = rows[0]
    labels = [(r[0], r[1]) for r in rows[2:]]
    unic = labels.index(("UNIC", "ViT-B/14 (DINOv2)"))
    assert labels[unic + 1] == ("Δ vs paper", "ViT-B/14 (DINOv2)")
    delta_row = rows[2 + unic + 1]
    cub_all = header.index("CUB All")
    assert delta_row[cub_all] == f"{np.mean(UNIC_CUB_ALL) * 100 - 81.36:+.2f}"  # 81.67 - 81.36 = +0.31
    assert delta_row[header.index("CUB Old")] == f"{85 - 84.52:+.2f}"
    assert delta_row[header.index("CUB New")] == f"{80 - 79.78:+.2f}"
    assert all(cell == "" for i, cell in enumerate(delta_row[2:], 2) if not header[i].startswith("CUB "))

    kmeans = labels.index(("KMEANS", "ViT-B/16 (DINOv1)"))
    assert labels[kmeans + 1] == ("Δ vs paper", "ViT-B/16 (DINOv1)")
    assert rows[2 + kmeans + 1][header.index("CIFAR10 All")] == f"{84 - 83.6:+.2f}"
    tuned = labels.index(("KMEANS (n_init=1)", "ViT-B/16 (DINOv1)"))
    assert labels[tuned + 1] != ("Δ vs paper", "ViT-B/16 (DINOv1)")  # changed params: no paper counterpart
    assert labels.count(("Δ vs paper", "ViT-B/16 (DINOv1)")) == 1

    # UNIC's 3 seeds: std of All 1.53 > 0.31 (within), Old std 0 < 0.48 (not), New std 1.0 > 0.22 (within)
    assert table.splitlines()[-1] == (
        "paper deltas (measured - paper, points): 6 cells compared, 2 within the seed std "
        "(3 from a single seed, no std: give --tolerance PTS to judge them)"
    )


def test_tolerance_counts_cells_within_that_many_points(records: list[RunRecord]) -> None:
    table = render(records, "table2", "md", delta=True, tolerance=0.45)
    # |deltas|: UNIC 0.31, 0.48, 0.22; kMeans 0.4, 0.3, 2.5 (paper 82.5)
    assert table.splitlines()[-1] == "paper deltas (measured - paper, points): 6 cells compared, 4 within ±0.45 points"


def test_latex_delta_summary_is_a_comment(records: list[RunRecord]) -> None:
    table = render(records, "table2", "latex", delta=True)
    assert "Δ vs paper" in table
    assert table.splitlines()[-1].startswith("% paper deltas (measured - paper, points): 6 cells compared")


def test_no_matching_row_says_so(records: list[RunRecord]) -> None:
    only_paper = [r for r in records if r.source == "paper"]
    assert render(only_paper, "table2", "md", delta=True).splitlines()[-1].startswith("paper deltas: no measured row matches")


def test_cli_delta_from_records_on_disk(cli: Any, tmp_path: Path, records: list[RunRecord]) -> None:
    for r in records:
        if r.source == "measured":
            path = tmp_path / "runs" / r.task / r.dataset / r.backbone / r.method / f"{abs(hash(r.run_id))}.json"
            write_record(r, path, np.arange(2), np.zeros(2, dtype=np.int64))
    out = cli("table", "--layout", "table2", "--with-paper", "--delta", "--results", str(tmp_path))
    assert out.code == 0, out.err
    assert "| Δ vs paper" in out.out and "6 cells compared" in out.out
    assert cli("table", "--layout", "table2", "--delta", "--results", str(tmp_path)).code == 2
    bad = cli("table", "--layout", "table2", "--with-paper", "--delta", "--format", "csv", "--results", str(tmp_path))
    assert bad.code == 2 and "--delta renders md or latex" in bad.err
