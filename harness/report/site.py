"""``unic-bench report``: a static HTML site of the results that opens from ``file://``.

No server, no network, no CDN: pages are rendered with jinja2 from the package's templates
(``report/templates``), the table sorter is a few lines of inline JavaScript, and each run's
figures (written by ``unic-bench plot`` beside its record, ``<run_id>.figures/``) are copied
next to its page. Layout of the site:

- ``index.html``: the leaderboards (Tables 1, 2 and 7 of the UNIC paper, one Table 7 per
  clustering dataset measured with more than one backbone), with the paper's rows.
- ``datasets/<task>--<dataset>.html``: that dataset's leaderboard and every run on it.
- ``runs/<run_id>.html`` (+ ``runs/<run_id>/`` figures): spec, metrics, diagnostics, figures,
  epoch log, environment.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unic_bench.atomic import atomic_write
from unic_bench.errors import BenchError
from unic_bench.report.tables import LAYOUT_TASK, METRICS, ROW_NAMES, Layout, leaderboard
from unic_bench.run.records import RunRecord, iter_records, paper_records

TITLES: dict[str, str] = {
    "table1": "Table 1 - clustering",
    "table2": "Table 2 - generalized category discovery",
    "table7": "Table 7 - backbones",
}
FIGURE_ORDER = ("confusion", "embedding", "curves", "cluster_grid")


@dataclass
class Board:
    """A leaderboard as the template draws it."""

    layout: str
    row_names: tuple[str, ...]
    groups: list[tuple[str, str | None, list[str]]]
    rows: list[dict[str, Any]] = field(default_factory=list)


def dataset_page_name(task: str, dataset: str) -> str:
    return f"{task}--{dataset}.html"


def board(
    records: list[RunRecord], layout: Layout, digits: int, hrefs: dict[str, str], dataset: str | None = None
) -> Board | None:
    """The ``layout`` leaderboard of ``records``, column groups linked by ``hrefs`` (display name -> page)."""
    try:
        text, ranks = leaderboard(records, layout, dataset, digits)
    except BenchError:
        return None  # no records of the layout's task
    groups: list[tuple[str, str | None, list[str]]] = []
    for group, metric in text.columns:
        if not groups or groups[-1][0] != group:
            groups.append((group, hrefs.get(group), []))
        groups[-1][2].append(metric)
    out = Board(layout, ROW_NAMES[layout], groups)
    for labels, row in text.iterrows():
        labels = labels if isinstance(labels, tuple) else (labels,)
        cells = [(row[c], int(ranks.loc[labels, c]) if ranks.loc[labels, c] == ranks.loc[labels, c] else 0) for c in text.columns]
        out.rows.append({"labels": labels, "cells": cells, "paper": any("[paper]" in str(x) for x in labels)})
    return out


def delta_section(records: list[RunRecord]) -> str | None:
    """Hook for the sweep issue's deltas (``unic_bench.report.deltas``, built concurrently): when
    that module offers ``render_html(records) -> str``, its HTML is shown on the index."""
    try:
        from unic_bench.report import deltas  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    render_html = getattr(deltas, "render_html", None)
    return render_html(records) if callable(render_html) else None


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("unic_bench.report", "templates"), autoescape=select_autoescape(["html"]))


def _write(path: Path, text: str) -> None:
    data = text.encode()
    atomic_write(path, lambda fh: fh.write(data))


def _copy_figures(record_path: Path, run_id: str, dest: Path) -> list[dict[str, str | None]]:
    """Copy ``<run_id>.figures/`` next to the run page; one entry per PNG (with its SVG and CSV when present)."""
    source = record_path.with_name(f"{run_id}.figures")
    if not source.is_dir():
        return []
    pngs = sorted(source.glob("*.png"), key=lambda p: (FIGURE_ORDER.index(p.stem) if p.stem in FIGURE_ORDER else 99, p.stem))
    if not pngs:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    figures: list[dict[str, str | None]] = []
    for png in pngs:
        entry: dict[str, str | None] = {"name": png.stem.replace("_", " ")}
        for suffix in ("png", "svg", "csv"):
            file = png.with_suffix(f".{suffix}")
            if file.is_file():
                shutil.copy2(file, dest / file.name)
            entry[suffix] = f"{dest.name}/{file.name}" if file.is_file() else None
        figures.append(entry)
    return figures


def _measured(results: Path) -> list[tuple[RunRecord, Path]]:
    runs = results / "runs"
    if not runs.is_dir():
        return []
    paths = sorted(runs.rglob("*.json"))
    return [(record, path) for path in paths for record in iter_records([path]) if record.source == "measured"]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def build_site(results: Path, output: Path, with_paper: bool = True, digits: int = 1) -> Path:
    """Render the whole site into ``output``; returns the index path."""
    measured = _measured(results)
    if not measured:
        raise BenchError(f"no measured records under '{results / 'runs'}' (run `unic-bench run ...` or `unic-bench demo`)")
    env = _environment()
    records = [record for record, _ in measured]
    paper = paper_records() if with_paper else []
    output.mkdir(parents=True, exist_ok=True)

    by_page: dict[tuple[str, str], list[tuple[RunRecord, Path]]] = {}
    labels: dict[tuple[str, str], str] = {}
    for record, path in measured:
        by_page.setdefault((record.task, record.dataset), []).append((record, path))
        labels[(record.task, record.dataset)] = record.display.dataset

    def hrefs(task: str, prefix: str) -> dict[str, str]:
        return {labels[key]: f"{prefix}{dataset_page_name(*key)}" for key in by_page if key[0] == task}

    sections = []
    main_layouts: tuple[Layout, ...] = ("table1", "table2")
    for main_layout in main_layouts:
        main_task = LAYOUT_TASK[main_layout]
        sections.append({"id": main_layout, "title": TITLES[main_layout], "empty": f"no {main_task} runs",
                         "board": board(records + paper, main_layout, digits, hrefs(main_task, "datasets/"))})  # fmt: skip
    for (task, dataset), members in sorted(by_page.items()):
        if task == "clustering" and len({r.backbone for r, _ in members}) > 1:
            table7 = board(records + paper, "table7", digits, {}, dataset)
            sections.append(
                {"id": f"table7-{dataset}", "title": f"{TITLES['table7']}: {labels[(task, dataset)]}", "board": table7}
            )
    pages = [
        {"href": f"datasets/{dataset_page_name(*key)}", "title": f"{labels[key]} ({key[0]})", "n": len(members)}
        for key, members in sorted(by_page.items())
    ]
    _write(
        output / "index.html",
        env.get_template("index.html").render(
            title="Leaderboards", root="", crumbs=[], sections=sections, dataset_pages=pages, n_measured=len(records),
            with_paper=with_paper, deltas=delta_section(records + paper),
        ),
    )  # fmt: skip

    for (task, dataset), members in by_page.items():
        layout: Layout = "table1" if task == "clustering" else "table2"
        page_records = [r for r, _ in members] + [p for p in paper if p.task == task and p.dataset == dataset]
        metric_keys = [key for key, _ in METRICS[task]]
        runs = [
            {
                "href": f"../runs/{r.run_id}.html",
                "run_id": r.run_id,
                "method": r.display.method,
                "backbone": r.display.backbone,
                "seed": r.seed,
                "metrics": [_percent(r.metrics.get(k)) for k in metric_keys],
                "changed": ", ".join(f"{k}={v}" for k, v in sorted(r.params_changed.items())),
                "fit_s": f"{r.timings.get('fit_s', 0):.1f}",
                "created": r.created_at,
            }
            for r, _ in sorted(members, key=lambda m: (m[0].method, m[0].backbone, m[0].seed or 0))
        ]
        title = f"{labels[(task, dataset)]} - {task}"
        _write(
            output / "datasets" / dataset_page_name(task, dataset),
            env.get_template("dataset.html").render(
                title=title, root="../", crumbs=[title], board=board(page_records, layout, digits, {}), runs=runs,
                metric_names=[label for _, label in METRICS[task]],
            ),
        )  # fmt: skip

    for record, path in measured:
        figures = _copy_figures(path, record.run_id, output / "runs" / record.run_id)
        log_keys = list(dict.fromkeys(key for entry in record.epoch_log for key in entry))
        _write(
            output / "runs" / f"{record.run_id}.html",
            env.get_template("run.html").render(
                title=f"Run {record.run_id}", root="../", crumbs=[record.display.dataset, record.run_id], record=record,
                dataset_href=f"../datasets/{dataset_page_name(record.task, record.dataset)}", figures=figures,
                changed=", ".join(f"{k}={v}" for k, v in sorted(record.params_changed.items())),
                spec_json=json.dumps(record.spec.model_dump(mode="json") if record.spec else {}, indent=2),
                environment_json=json.dumps(record.environment, indent=2), log_keys=log_keys,
            ),
        )  # fmt: skip
    return output / "index.html"
