"""Turn the UNIC paper's Tables 1, 2 and 7 (CSV, percent) into ``source: paper`` run records.

One JSON per CSV row goes to ``results/paper/``, which ships as the package data
``unic_bench.paper_records``, so leaderboards can put reported numbers beside measured runs.
The output is deterministic (fixed ``created_at``, no environment): rerunning on unchanged
CSVs rewrites byte-identical files, and files of rows that left the CSVs are removed.

    python scripts/import_paper_numbers.py [PAPER_NUMBERS_DIR] [--out results/paper]
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from unic_bench.api.component import Task
from unic_bench.atomic import write_json
from unic_bench.errors import BenchError
from unic_bench.run.records import DisplayNames, RunRecord

REPO = Path(__file__).resolve().parents[1]
CITATION = (
    'Jayatilaka, Shrivastava, Gwilliam. "Utilization of Neighbor Information for Image Classification '
    'with Different Levels of Supervision" (UNIC), arXiv 2503.14500, Table {number}'
)
CREATED_AT = "2025-03-18T00:00:00+00:00"  # the arXiv date; fixed so reruns are byte-identical


# What the numbers mean, as the UNIC paper states it (arXiv 2503.14500): clustering is trained on
# D_t and evaluated on a disjoint D_e, the datasets' test images (Tables 1, 7); GCD is scored on the
# unlabelled train images D_U (Table 2, "v2"). UNIC trains on a fixed schedule (Adam, cosine over
# 100 epochs; App. A.10) and states no checkpoint or head selection; the other rows are numbers
# of the original papers or UNIC's re-runs (the dagger rows), whose selection UNIC does not state.
HELD_OUT = "held-out: the test split (UNIC: D_e, disjoint from the training set D_t)"
TRANSDUCTIVE = "transductive: the unlabelled train images (D_U)"
UNIC_SELECTION = "last epoch of a fixed 100-epoch schedule (UNIC App. A.10; no selection rule stated)"
OTHER_SELECTION = "not stated by UNIC (the original paper's number or UNIC's re-run)"


@dataclass(frozen=True)
class PaperTable:
    number: int
    file: str
    task: Task
    metric_variant: str
    metrics: tuple[str, ...]
    datasets: dict[str, str]  # the paper's spelling -> canonical dataset name
    eval_split: str


CLUSTERING_DATASETS = {
    "STL-10": "stl10",
    "ImageNet-50": "imagenet50",
    "ImageNet-100": "imagenet100",
    "ImageNet-200": "imagenet200",
}
TABLES = (
    PaperTable(1, "table1_clustering.csv", "clustering", "hungarian", ("acc", "nmi", "ari"), CLUSTERING_DATASETS, HELD_OUT),
    PaperTable(
        2,
        "table2_gcd.csv",
        "gcd",
        "gcd-v2",
        ("all", "old", "new"),
        {
            "ImageNet-100": "imagenet100-gcd",
            "CUB-200": "cub",
            "CIFAR-10": "cifar10",
            "Aircraft": "aircraft",
            "SCars": "scars",
        },
        TRANSDUCTIVE,
    ),
    PaperTable(7, "table7_backbones.csv", "clustering", "hungarian", ("acc", "nmi", "ari"), CLUSTERING_DATASETS, HELD_OUT),
)


def slug(text: str) -> str:
    """Lower-case, '-'-separated; '+' and '*' are spelled out so UNO+ and DINOv1* stay distinct."""
    text = text.replace("+", " plus").replace("*", " star")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def dataset_label(name: str) -> str:
    """The registered dataset's display name (what measured records show)."""
    from unic_bench.plugins.host import get_host

    return get_host().datasets.get(name).label()


def row_record(table: PaperTable, row: pd.Series) -> RunRecord:
    """One CSV row as a record; Table 7 names pretraining + architecture, Tables 1/2 only the latter."""
    method = row["method"]
    pretraining = row.get("pretraining", "")
    dataset = row["dataset"]
    if dataset not in table.datasets:
        raise BenchError(f"{table.file}: unknown dataset '{dataset}' (known: {', '.join(table.datasets)})")
    # The pretraining is part of the backbone's identity: Table 7's DINOv1 and iBOT ViT-B/16 differ.
    backbone = slug(f"{pretraining} {row['backbone']}")
    citation = CITATION.format(number=table.number)
    if row.get("reimplemented_by_unic") == "yes":
        citation += ", reimplemented by UNIC"
    return RunRecord(
        run_id=f"table{table.number}--{slug(method)}--{backbone}--{slug(dataset)}",
        source="paper",
        task=table.task,
        method=slug(method),
        backbone=backbone,
        dataset=table.datasets[dataset],
        # the dataset plugin's display name, not the paper's spelling ("CUB-200"), so a paper row and
        # a measured run of the same dataset share the table's column
        display=DisplayNames(
            method=method, backbone=row["backbone"], dataset=dataset_label(table.datasets[dataset]), pretraining=pretraining
        ),
        seed=None,
        metric_variant=table.metric_variant,
        metrics={key: round(row[key] / 100, 6) for key in table.metrics if not math.isnan(row[key])},
        model_selection=UNIC_SELECTION if method == "UNIC" else OTHER_SELECTION,
        eval_split=table.eval_split,
        environment={},
        citation=citation,
        paper_table=str(table.number),
        created_at=CREATED_AT,
    )


def read_table(folder: Path, table: PaperTable) -> list[RunRecord]:
    """Rows of one table; only an empty metric cell (the paper's '-') is missing, never a name like 'NA'."""
    frame = pd.read_csv(
        folder / table.file,
        dtype={key: float for key in table.metrics},
        keep_default_na=False,
        na_values={key: [""] for key in table.metrics},
    )
    frame = frame.rename(columns={"algorithm": "method"})  # Tables 1/2 say algorithm, Table 7 method
    return [row_record(table, row) for _, row in frame.iterrows()]


def write_records(records: list[RunRecord], out: Path) -> None:
    """Write every record and drop stale ``tableN--*.json`` files of this importer."""
    ids = [r.run_id for r in records]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise BenchError(f"two CSV rows map to the run id '{duplicate}'")
    for record in records:
        write_json(out / f"{record.run_id}.json", record.model_dump(mode="json"))
    for table in TABLES:
        for stale in out.glob(f"table{table.number}--*.json"):
            if stale.stem not in ids:
                stale.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=REPO.parent / "shared" / "paper-numbers",
        help="folder with table1_clustering.csv, table2_gcd.csv, table7_backbones.csv",
    )
    parser.add_argument("--out", type=Path, default=REPO / "results" / "paper", help="where the JSON records go")
    args = parser.parse_args(argv)
    try:
        records = [record for table in TABLES for record in read_table(args.folder, table)]
        write_records(records, args.out)
    except (BenchError, OSError) as exc:
        parser.exit(2, f"import_paper_numbers: error: {exc}\n")
    print(f"wrote {len(records)} paper records to {args.out}")


if __name__ == "__main__":
    main()
