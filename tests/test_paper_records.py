"""The shipped paper records: loadable, faithful to the paper's CSVs, and rendered like the paper."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from unic_bench.report.tables import render
from unic_bench.run.records import RunRecord, paper_records

PAPER_NUMBERS = Path(__file__).resolve().parent / "fixtures" / "paper-numbers"  # the paper's tables, as printed
TABLES = {  # CSV -> (table number, metric columns)
    "table1_clustering.csv": (1, ("acc", "nmi", "ari")),
    "table2_gcd.csv": (2, ("all", "old", "new")),
    "table7_backbones.csv": (7, ("acc", "nmi", "ari")),
}
# Table 2 spells two datasets otherwise than their plugins' display names, which the records carry
PLUGIN_LABEL = {2: {"CUB-200": "CUB", "ImageNet-100": "ImageNet-100 (GCD)"}}


@pytest.fixture(scope="module")
def records() -> list[RunRecord]:
    return paper_records()


@pytest.fixture(scope="module")
def paper_numbers() -> Path:
    return PAPER_NUMBERS


def md_table(text: str) -> pd.DataFrame:
    lines = [line for line in text.strip().splitlines() if not line.startswith("|-")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[1:], columns=cells[0]).set_index(cells[0][:2])


def test_paper_records_load(records: list[RunRecord]) -> None:
    assert len(records) >= 100
    assert {r.source for r in records} == {"paper"}
    assert all(r.citation and "arXiv 2503.14500" in r.citation for r in records)
    assert len({r.config_key for r in records}) == len(records)  # paper numbers never aggregate


@pytest.mark.parametrize("csv", sorted(TABLES))
def test_every_csv_row_has_an_equal_record(records: list[RunRecord], paper_numbers: Path, csv: str) -> None:
    number, metrics = TABLES[csv]
    by_cell = {
        (r.display.pretraining, r.display.method, r.display.backbone, r.display.dataset): r
        for r in records
        if r.paper_table == str(number)
    }
    frame = pd.read_csv(paper_numbers / csv).rename(columns={"algorithm": "method"})
    assert len(by_cell) == len(frame)
    for row in frame.itertuples(index=False):
        dataset = PLUGIN_LABEL.get(number, {}).get(row.dataset, row.dataset)
        record = by_cell[(getattr(row, "pretraining", ""), row.method, row.backbone, dataset)]
        expected = {key: getattr(row, key) / 100 for key in metrics if pd.notna(getattr(row, key))}
        assert record.metrics.keys() == expected.keys()
        for key, value in expected.items():
            assert record.metrics[key] == pytest.approx(value, abs=1e-9)
        assert ("reimplemented by UNIC" in record.citation) == (getattr(row, "reimplemented_by_unic", "no") == "yes")


def test_paper_and_measured_records_share_the_dataset_column(records: list[RunRecord]) -> None:
    """A paper record names its dataset as the plugin does, so ``--with-paper`` puts the paper's
    number and a measured run of that dataset in one column (not "CUB-200" beside "CUB")."""
    from unic_bench.plugins.host import get_host

    host = get_host()
    assert {r.display.dataset for r in records if r.dataset == "cub"} == {"CUB"}
    for record in records:
        assert record.display.dataset == host.datasets.get(record.dataset).label(), record.run_id


def test_table1_reproduces_the_paper_marks() -> None:
    table = md_table(render(paper_records("1"), "table1", "md", digits=1))
    assert table.loc[("UNIC [paper]", "ViT-B/16"), "ImageNet-50 ACC"] == "**90.8**"
    assert table.loc[("SCAN [paper]", "ViT-B/16"), "ImageNet-50 ACC"] == "<u>85.5</u>"
    assert table.loc[("UNIC [paper]", "ViT-B/16"), "STL-10 ACC"] == "**98.8**"  # 98.75, half up
    assert table.loc[("TEMI [paper]", "ViT-B/16 (Tune)"), "STL-10 ACC"] == "<u>98.7</u>"  # 98.65
    assert table.loc[("ProPos [paper]", "ResNet-50"), "ImageNet-50 ACC"] == "-"


def test_all_paper_records_in_one_table1(records: list[RunRecord]) -> None:
    """Table 7's rows join Table 1's under their pretraining; its supervised ViT tops ImageNet-50."""
    table = md_table(render(records, "table1", "md"))
    assert table.loc[("UNIC [paper]", "ViT-B/16 (Supervised)"), "ImageNet-50 ACC"] == "**96.4**"
    assert table.loc[("UNIC [paper]", "ViT-B/14 (DINOv2)"), "ImageNet-50 ACC"] == "<u>94.6</u>"
    assert table.loc[("UNIC [paper]", "ViT-B/16"), "ImageNet-50 ACC"] == "90.8"


def test_table2_and_table7_render(records: list[RunRecord]) -> None:
    gcd = md_table(render(records, "table2", "md"))
    assert gcd.loc[("UNIC [paper]", "DINOv2"), "ImageNet-100 (GCD) All"] == "**90.9**"  # 90.86
    assert gcd.loc[("DCCL [paper]", "DINOv1"), "Aircraft All"] == "-"
    backbones = md_table(render(paper_records("7"), "table7", "md", dataset="ImageNet-50"))
    assert backbones.loc[("Supervised", "ViT-B/16"), "UNIC [paper] ACC"] == "**96.4**"
    assert backbones.loc[("DINOv2", "ViT-B/14"), "kMeans [paper] ARI"] == "60.4"
