"""Leaderboard rendering: aggregation over seeds, best/second marks, layouts and output formats."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest

from unic_bench.errors import BenchError
from unic_bench.report.tables import render
from unic_bench.run.records import DisplayNames, RunRecord, paper_records

UNIC_ACC = [0.901, 0.912, 0.917]
UNIC_NMI = [0.801, 0.815, 0.822]
KMEANS_ACC = [0.853, 0.861]


def record(
    method: str,
    seed: int | None,
    metrics: dict[str, float],
    *,
    dataset: str = "stl10",
    backbone: str = "dino-vitb16",
    source: str = "measured",
    task: str = "clustering",
    pretraining: str = "",
    params: dict[str, Any] | None = None,
    display_method: str | None = None,
) -> RunRecord:
    displays = {"stl10": "STL-10", "imagenet50": "ImageNet-50", "cub": "CUB-200"}
    return RunRecord(
        run_id=f"{source}-{task}-{method}-{backbone}-{dataset}-{seed}-{sorted((params or {}).items())}",
        source=source,
        task=task,
        method=method,
        backbone=backbone,
        dataset=dataset,
        display=DisplayNames(
            method=display_method or method.upper(),
            backbone="ViT-B/16" if backbone.endswith("vitb16") else "ResNet-50",
            dataset=displays[dataset],
            pretraining=pretraining,
        ),
        seed=seed,
        metric_variant="hungarian" if task == "clustering" else "gcd-v2",
        metrics=metrics,
        params_changed=params or {},
    )


@pytest.fixture
def records() -> list[RunRecord]:
    unic = [record("unic", s, {"acc": a, "nmi": n, "ari": 0.75}) for s, (a, n) in enumerate(zip(UNIC_ACC, UNIC_NMI))]
    kmeans = [record("kmeans", s, {"acc": a, "nmi": 0.80}) for s, a in enumerate(KMEANS_ACC)]  # no ARI
    tuned = [record("kmeans", 0, {"acc": 0.70, "nmi": 0.822, "ari": 0.60}, params={"n_init": 20})]
    paper = [record("unic", None, {"acc": 0.9875, "nmi": 0.9687, "ari": 0.9725}, source="paper")]
    other = [record("unic", 0, {"acc": 0.95, "nmi": 0.90, "ari": 0.88}, dataset="imagenet50")]
    return unic + kmeans + tuned + paper + other


def md_table(text: str) -> pd.DataFrame:
    """The Markdown table back as strings, indexed by (Method, Backbone)."""
    lines = [line for line in text.strip().splitlines() if not line.startswith("|-")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[1:], columns=cells[0]).set_index(cells[0][:2])


def pct(values: list[float]) -> np.ndarray:
    return np.array(values) * 100


def test_mean_and_sample_std_over_seeds(records: list[RunRecord]) -> None:
    table = md_table(render(records, "table1", "md", digits=2))
    acc, nmi = pct(UNIC_ACC), pct(UNIC_NMI)
    assert table.loc[("UNIC", "ViT-B/16"), "STL-10 ACC"] == f"<u>{acc.mean():.2f} ± {acc.std(ddof=1):.2f}</u>"
    assert table.loc[("UNIC", "ViT-B/16"), "STL-10 NMI"] == f"{nmi.mean():.2f} ± {nmi.std(ddof=1):.2f}"
    kmeans = pct(KMEANS_ACC)
    assert table.loc[("KMEANS", "ViT-B/16"), "STL-10 ACC"] == f"{kmeans.mean():.2f} ± {kmeans.std(ddof=1):.2f}"


def test_single_run_and_paper_record_show_no_std(records: list[RunRecord]) -> None:
    table = md_table(render(records, "table1", "md"))
    assert table.loc[("KMEANS (n_init=20)", "ViT-B/16"), "STL-10 ACC"] == "70.0"
    assert table.loc[("UNIC [paper]", "ViT-B/16"), "STL-10 ACC"] == "**98.8**"  # 98.75 rounds half up
    assert table.loc[("UNIC", "ViT-B/16"), "ImageNet-50 ACC"] == "**95.0**"


def test_best_bold_second_underlined_and_ties_share(records: list[RunRecord]) -> None:
    table = md_table(render(records, "table1", "md"))
    assert table.loc[("UNIC [paper]", "ViT-B/16"), "STL-10 ARI"] == "**97.3**"  # 97.25, half up
    assert table.loc[("KMEANS (n_init=20)", "ViT-B/16"), "STL-10 ARI"] == "60.0"  # third after 75.0
    # NMI: paper 96.87 best, tuned kMeans 82.2 second, UNIC's mean 81.27 third.
    assert table.loc[("UNIC [paper]", "ViT-B/16"), "STL-10 NMI"] == "**96.9**"
    assert table.loc[("KMEANS (n_init=20)", "ViT-B/16"), "STL-10 NMI"] == "<u>82.2</u>"
    assert "<u>" not in table.loc[("UNIC", "ViT-B/16"), "STL-10 NMI"]


def test_ties_share_the_mark() -> None:
    tied = [
        record("a", 0, {"acc": 0.80}),
        record("b", 0, {"acc": 0.80}),
        record("c", 0, {"acc": 0.70}),
        record("d", 0, {"acc": 0.70}),
        record("e", 0, {"acc": 0.60}),
    ]
    column = md_table(render(tied, "table1", "md"))["STL-10 ACC"]
    assert list(column) == ["**80.0**", "**80.0**", "<u>70.0</u>", "<u>70.0</u>", "60.0"]


def test_missing_metric_is_a_dash_and_not_ranked(records: list[RunRecord]) -> None:
    table = md_table(render(records, "table1", "md"))
    assert table.loc[("KMEANS", "ViT-B/16"), "STL-10 ARI"] == "-"
    assert table.loc[("KMEANS", "ViT-B/16"), "ImageNet-50 ACC"] == "-"


def test_rows_and_columns_are_ordered(records: list[RunRecord]) -> None:
    table = md_table(render(records, "table1", "md"))
    methods = list(table.index.get_level_values(0))
    assert methods == ["KMEANS", "KMEANS (n_init=20)", "UNIC", "UNIC [paper]"]
    assert list(table.columns)[:3] == ["ImageNet-50 ACC", "ImageNet-50 NMI", "ImageNet-50 ARI"]


def test_latex_booktabs_marks_and_escaping(records: list[RunRecord]) -> None:
    records.append(record("ss_kmeans", 0, {"acc": 0.5}, display_method="ss_kmeans", params={"k#": "50%&"}))
    latex = render(records, "table1", "latex")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in latex
    assert r"\multicolumn{3}{c}{STL-10}" in latex
    assert r"ss\_kmeans (k\#=50\%\&)" in latex
    assert r"\textbf{98.8}" in latex
    acc = pct(UNIC_ACC)
    assert rf"\underline{{{acc.mean():.1f} $\pm$ {acc.std(ddof=1):.1f}}}" in latex
    assert "±" not in latex


def test_csv_round_trips_numbers(records: list[RunRecord]) -> None:
    frame = pd.read_csv(io.StringIO(render(records, "table1", "csv"))).set_index(["Method", "Backbone"])
    unic = frame.loc[("UNIC", "ViT-B/16")]
    assert unic["STL-10 ACC mean"] == pytest.approx(pct(UNIC_ACC).mean(), abs=1e-6)
    assert unic["STL-10 ACC std"] == pytest.approx(pct(UNIC_ACC).std(ddof=1), abs=1e-6)
    assert np.isnan(frame.loc[("UNIC [paper]", "ViT-B/16"), "STL-10 ACC std"])
    assert np.isnan(frame.loc[("KMEANS", "ViT-B/16"), "STL-10 ARI mean"])


def test_table2_uses_gcd_records_only(records: list[RunRecord]) -> None:
    gcd = [record("unic", s, {"all": 0.6, "old": 0.7, "new": 0.5 + s / 10}, dataset="cub", task="gcd") for s in (0, 1)]
    table = md_table(render(records + gcd, "table2", "md"))
    assert list(table.columns) == ["CUB-200 All", "CUB-200 Old", "CUB-200 New"]
    assert table.loc[("UNIC", "ViT-B/16"), "CUB-200 New"] == f"**55.0 ± {np.std([50.0, 60.0], ddof=1):.1f}**"
    with pytest.raises(BenchError, match="no gcd records"):
        render(records, "table2", "md")


def test_table7_selects_one_dataset_by_either_name() -> None:
    runs = [
        record("unic", 0, {"acc": 0.95}, dataset="imagenet50", pretraining="DINOv1"),
        record("kmeans", 0, {"acc": 0.82}, dataset="imagenet50", pretraining="DINOv1"),
        record("unic", 0, {"acc": 0.61}, dataset="imagenet50", backbone="mocov2-resnet50", pretraining="MoCoV2"),
        record("unic", 0, {"acc": 0.99}, dataset="stl10", pretraining="DINOv1"),
    ]
    by_canonical = render(runs, "table7", "md", dataset="imagenet50")
    assert by_canonical == render(runs, "table7", "md", dataset="ImageNet-50")
    table = md_table(by_canonical)
    assert list(table.index) == [("DINOv1", "ViT-B/16"), ("MoCoV2", "ResNet-50")]
    assert list(table.columns) == [f"{m} {k}" for m in ("KMEANS", "UNIC") for k in ("ACC", "NMI", "ARI")]
    assert table.loc[("DINOv1", "ViT-B/16"), "UNIC ACC"] == "**95.0**"
    assert table.loc[("MoCoV2", "ResNet-50"), "UNIC ACC"] == "<u>61.0</u>"


def test_table7_dataset_errors_list_what_is_present() -> None:
    runs = [record("unic", 0, {"acc": 0.9}, dataset=d) for d in ("imagenet50", "stl10")]
    with pytest.raises(BenchError, match="present: imagenet50, stl10"):
        render(runs, "table7", "md")
    with pytest.raises(BenchError, match=r"unknown dataset 'imagenet5'.*imagenet50.*valid: imagenet50, stl10"):
        render(runs, "table7", "md", dataset="imagenet5")


def test_bad_layout_and_empty_input() -> None:
    with pytest.raises(BenchError, match="unknown layout 'table3'"):
        render([], "table3", "md")  # type: ignore[arg-type]
    with pytest.raises(BenchError, match="no clustering records to tabulate"):
        render([], "table1", "md")


def test_configurations_sharing_a_cell_are_refused() -> None:
    runs = [record("unic", 0, {"acc": 0.9}), record("unic", 0, {"acc": 0.8}, backbone="other-vitb16")]
    with pytest.raises(BenchError, match="share the table cell"):
        render(runs, "table1", "md")


def test_rows_differing_in_selection_or_split_get_footnotes() -> None:
    measured = record("kmeans", 0, {"acc": 0.8, "nmi": 0.7, "ari": 0.6}).model_copy(
        update={"model_selection": "lowest inertia of n_init restarts (label-free)", "eval_split": "held-out: the test split"}
    )
    paper = [r for r in paper_records("1") if r.dataset == "stl10" and r.display.method in ("UNIC", "TEMI")]
    assert {r.eval_split for r in paper} == {"held-out: the test split (UNIC: D_e, disjoint from the training set D_t)"}
    text = render([measured, *paper], "table1", "md")
    notes = [line for line in text.splitlines() if line.startswith("Note: ")]
    assert len(notes) == 2 and "rows differ in model selection" in notes[0] and "rows differ in evaluation split" in notes[1]
    assert (
        "last epoch of a fixed 100-epoch schedule (UNIC App. A.10; no selection rule stated) (UNIC [paper] / ViT-B/16 (STL-10))"
        in notes[0]
    )
    assert "lowest inertia of n_init restarts (label-free) (KMEANS / ViT-B/16 (STL-10))" in notes[0]
    # rows that agree need no footnote; LaTeX carries the same notes, escaped
    assert "Note:" not in render([measured], "table1", "md")
    assert r"\par\footnotesize Note: rows differ in model selection" in render([measured, *paper], "table1", "latex")


def test_paper_rows_state_selection_and_split_for_every_table() -> None:
    for r in paper_records():
        assert r.model_selection and r.eval_split
        assert r.eval_split.startswith("transductive" if r.task == "gcd" else "held-out")
