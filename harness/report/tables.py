"""Leaderboards in the layout of the UNIC paper's Tables 1, 2 and 7, from run records.

Measured runs and paper records go through the same path: records that differ only in seed
(same ``config_key``) become one cell of mean ± sample std, shown in percent. The best value
of every column is bold and the second best underlined, as in the paper; ranking uses the mean
*as printed*, so two cells that read the same always carry the same mark.

The table is assembled as a pandas DataFrame and written by pandas (tabulate for Markdown,
``Styler.to_latex`` for booktabs LaTeX, ``to_csv``), never by hand-built strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, get_args

import numpy as np
import pandas as pd

from unic_bench.api.component import Task
from unic_bench.errors import BenchError, unknown_choice
from unic_bench.run.metrics import MANY_TO_ONE
from unic_bench.run.records import RunRecord

Layout = Literal["table1", "table2", "table7"]
Format = Literal["md", "latex", "csv"]

LAYOUT_TASK: dict[str, Task] = {"table1": "clustering", "table2": "gcd", "table7": "clustering"}
METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "clustering": (("acc", "ACC"), ("nmi", "NMI"), ("ari", "ARI")),
    "gcd": (("all", "All"), ("old", "Old"), ("new", "New")),
}
# The variant a table assumes; any other one is named on the row so v1 and v2 never share a cell.
DEFAULT_VARIANT: dict[str, str] = {"clustering": "hungarian", "gcd": "gcd-v2"}
ROW_NAMES: dict[str, tuple[str, str]] = {
    "table1": ("Method", "Backbone"),
    "table2": ("Method", "Backbone"),
    "table7": ("Pretraining", "Backbone"),
}
COLUMN_NAMES: dict[str, tuple[str, str]] = {
    "table1": ("Dataset", "Metric"),
    "table2": ("Dataset", "Metric"),
    "table7": ("Method", "Metric"),
}
PLUS_MINUS = {"md": "±", "latex": r"$\pm$"}
MISSING = "-"


def render(
    records: Iterable[RunRecord],
    layout: Layout,
    fmt: Format,
    dataset: str | None = None,
    digits: int = 1,
    delta: bool = False,
    tolerance: float | None = None,
    show_n: bool = False,
    variant: str | None = None,
) -> str:
    """Render ``records`` as ``layout`` in ``fmt``; ``dataset`` picks Table 7's one dataset;
    ``variant`` (e.g. ``"many-to-one"``) scores the records that store it by that metric variant
    (named on their rows; the others keep their own). Markdown and LaTeX end with footnotes when
    rows differ in model selection or evaluation split, or when K was estimated.

    ``show_n`` appends ``(n=K)`` to each measured cell, the number of seeds its mean is over (a
    seed whose record is missing or unreadable then shows; CSV always has an ``n`` column per cell).

    Raises :class:`BenchError` (one line) for an unknown layout/format, a missing or unknown
    Table 7 dataset, no records of the layout's task, or two configurations that would land
    in the same cell.
    """
    if layout not in LAYOUT_TASK:
        raise unknown_choice("layout", layout, LAYOUT_TASK)
    if fmt not in get_args(Format):
        raise unknown_choice("format", fmt, get_args(Format))
    if digits < 0:
        raise BenchError(f"digits must be >= 0, got {digits}")
    task = LAYOUT_TASK[layout]
    selected = _selected(records, layout, dataset)
    if variant is not None:
        selected = [_scored_by(r, variant) for r in selected]
    mean, std, count = _aggregate(selected, layout)
    if fmt == "csv":
        if delta:
            raise BenchError("--delta renders md or latex tables (csv holds the numbers: subtract the [paper] rows)")
        return _to_csv(mean, std, count if show_n else None)
    text = _cell_text(mean, std, digits, PLUS_MINUS[fmt], count if show_n else None)
    ranks = _ranks(mean, digits)
    footer = ""
    if delta:  # a "Δ vs paper" row under each measured row with a paper counterpart (report/deltas.py)
        from unic_bench.report import deltas

        diff, spread = deltas.paper_deltas(selected, METRICS[task], lambda r: _position(r, layout), DEFAULT_VARIANT[task])
        text, ranks = deltas.interleave(text, ranks, diff.map(lambda v: deltas.signed(v, digits)))
        footer = ("" if fmt == "md" else "% ") + deltas.summary(diff, spread, tolerance) + "\n"
    table = _to_markdown(text, ranks) if fmt == "md" else _to_latex(text, ranks)
    notes = footnotes(selected, layout)
    if notes and fmt == "md":
        table += "\n" + "\n".join(f"Note: {note}  " for note in notes) + "\n"
    elif notes:
        table += "".join(f"\\par\\footnotesize Note: {_latex_escape(note)}\n" for note in notes)
    return table + footer  # the delta summary stays the last line


def _scored_by(record: RunRecord, variant: str) -> RunRecord:
    """The record with ``variant``'s metrics in place of the default ones, when it stores them."""
    if variant not in record.metric_variants:
        return record
    return record.model_copy(update={"metrics": record.metric_variants[variant], "metric_variant": variant})


def _row_name(record: RunRecord, layout: str) -> str:
    row, column = _position(record, layout)
    return f"{' / '.join(part for part in row if part)} ({column})"


def footnotes(records: list[RunRecord], layout: str) -> list[str]:
    """What a reader must know to compare the rows: differing model-selection policies and
    evaluation splits (each row's, as its record or the paper states it), estimated K, and
    what the many-to-one variant means."""
    notes = []
    for field, what in (("model_selection", "model selection"), ("eval_split", "evaluation split")):
        rows_of: dict[str, dict[str, None]] = {}
        for r in records:
            rows_of.setdefault(getattr(r, field) or "not recorded", {})[_row_name(r, layout)] = None
        if len(rows_of) > 1:
            parts = [f"{value} ({', '.join(rows)})" for value, rows in rows_of.items()]
            notes.append(f"rows differ in {what}: " + "; ".join(parts) + ".")
    estimated: dict[str, list[str]] = {}
    for r in records:
        if r.spec is not None and r.spec.num_clusters == "auto":
            how = r.k_selection.get("chosen_by", "estimated")
            estimated.setdefault(_row_name(r, layout), []).append(f"{r.num_clusters} ({how})")
    if estimated:
        notes.append(
            "[K=auto]: K estimated per run, " + "; ".join(f"{row}: {', '.join(ks)}" for row, ks in estimated.items()) + "."
        )
    if any(r.metric_variant == MANY_TO_ONE for r in records):
        notes.append(f"[{MANY_TO_ONE}]: each cluster counts as its majority class (several clusters may share one).")
    return notes


def _latex_escape(text: str) -> str:
    return re.sub(r"([&%$#_{}])", r"\\\1", text)


def _selected(records: Iterable[RunRecord], layout: Layout, dataset: str | None) -> list[RunRecord]:
    """The records ``layout`` tabulates. A record read twice (overlapping paths) must not count as
    an extra seed; runs on unlabelled images have no metrics and no place in a leaderboard."""
    task = LAYOUT_TASK[layout]
    selected = [r for r in {r.run_id: r for r in records}.values() if r.task == task and r.metrics]
    if not selected:
        raise BenchError(f"no {task} records to tabulate under layout '{layout}'")
    return _select_dataset(selected, dataset) if layout == "table7" else selected


def _select_dataset(records: list[RunRecord], dataset: str | None) -> list[RunRecord]:
    """Table 7 compares backbones on one dataset; accept its canonical or its display name."""
    present = sorted({r.dataset for r in records})
    if dataset is None:
        raise BenchError(f"layout 'table7' needs a dataset (present: {', '.join(present)})")
    chosen = [r for r in records if dataset in (r.dataset, r.display.dataset)]
    if not chosen:
        raise unknown_choice("dataset", dataset, present)
    return chosen


def _method_label(record: RunRecord) -> str:
    """The display name plus whatever makes this configuration differ from the default one."""
    label = record.display.method
    if record.params_changed:
        label += " (" + ", ".join(f"{k}={_param(v)}" for k, v in sorted(record.params_changed.items())) + ")"
    if record.spec is not None and record.spec.num_clusters is not None:
        label += f" [K={record.spec.num_clusters}]"
    if record.metric_variant != DEFAULT_VARIANT[record.task]:
        label += f" [{record.metric_variant}]"
    if record.source == "paper":
        label += " [paper]"
    return label


def _param(value: object) -> str:
    """Strings bare, everything else as JSON (so lists and bools read the same as in a spec)."""
    return value if isinstance(value, str) else json.dumps(value)


def _backbone_label(record: RunRecord) -> str:
    """Tables 1/2 name the pretraining too: the same architecture with other weights is another row."""
    pretraining = record.display.pretraining
    return f"{record.display.backbone} ({pretraining})" if pretraining else record.display.backbone


def _position(record: RunRecord, layout: str) -> tuple[tuple[str, str], str]:
    """(row labels, column group label) of a record's cell block."""
    if layout == "table7":
        return (record.display.pretraining, record.display.backbone), _method_label(record)
    return (_method_label(record), _backbone_label(record)), record.display.dataset


def _aggregate(records: list[RunRecord], layout: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Mean, std (percent) and seed count per cell, rows and columns in display order; NaN where
    missing (the count also for paper numbers, which are not seeds of ours)."""
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    for record in records:
        groups.setdefault(record.config_key, []).append(record)
    metrics = METRICS[LAYOUT_TASK[layout]]
    rows = []
    for members in groups.values():
        row, column = _position(members[0], layout)
        for key, label in metrics:
            values = [m.metrics.get(key, math.nan) for m in members]
            mean, std = _mean_std(values, members[0].source == "paper")
            count = math.nan if members[0].source == "paper" else float(sum(math.isfinite(v) for v in values))
            rows.append((*row, column, label, mean, std, count))
    long = pd.DataFrame(rows, columns=[*ROW_NAMES[layout], *COLUMN_NAMES[layout], "mean", "std", "n"])
    long = long.set_index([*ROW_NAMES[layout], *COLUMN_NAMES[layout]])
    _check_unique_cells(long.index)
    columns = pd.MultiIndex.from_product(
        # Unnamed: the labels speak for themselves, and Styler would print the names in the corner.
        [sorted(long.index.unique(2), key=_natural), [label for _, label in metrics]]
    )
    index = pd.MultiIndex.from_tuples(
        sorted(long.index.droplevel([2, 3]).unique(), key=lambda row: tuple(map(_natural, row))),
        names=ROW_NAMES[layout],
    )
    wide = long.unstack(list(COLUMN_NAMES[layout]))
    mean, std, count = (wide[part].reindex(index=index, columns=columns) for part in ("mean", "std", "n"))
    return mean, std, count


def _mean_std(values: list[float], paper: bool) -> tuple[float, float]:
    """Percent mean and sample std (ddof=1) of the finite values; no std for one value or a paper number."""
    finite = np.array([v for v in values if math.isfinite(v)], dtype=float) * 100
    if finite.size == 0:
        return math.nan, math.nan
    std = float(np.std(finite, ddof=1)) if finite.size > 1 and not paper else math.nan
    return float(np.mean(finite)), std


def _check_unique_cells(index: pd.MultiIndex) -> None:
    """Two configurations under one label would silently overwrite each other; refuse instead."""
    duplicated = index[index.duplicated()]
    if len(duplicated):
        *row, column, _ = duplicated[0]
        raise BenchError(
            f"two configurations would share the table cell ({' / '.join(row)}, {column}); give them distinct display names"
        )


def _natural(label: str) -> tuple[str | int, ...]:
    """Sort key reading digit runs as numbers, so ImageNet-50 comes before ImageNet-100."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", label))


def _shown(value: float, digits: int) -> str:
    """Round half up, as papers do: 84.25 -> 84.3.

    ``f"{x:.1f}"`` alone rounds the binary value, so 84.25 (exact) gives 84.2 by half-to-even and
    0.4135 * 100 = 41.349999.. gives 41.3. Cutting the float noise first (six extra decimals) and
    then rounding the decimal half up prints what the paper prints.
    """
    if math.isnan(value):
        return MISSING
    exact = Decimal(f"{value:.{digits + 6}f}")
    return str(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def _cell_text(
    mean: pd.DataFrame, std: pd.DataFrame, digits: int, plus_minus: str, count: pd.DataFrame | None = None
) -> pd.DataFrame:
    """'mean ± std' as printed (and ' (n=K)' when ``count`` is given), '-' for a missing value."""
    text = mean.map(lambda m: _shown(m, digits))
    spread = std.map(lambda s: "" if math.isnan(s) else f" {plus_minus} {_shown(s, digits)}")
    if count is not None:
        spread = spread + count.map(lambda k: "" if math.isnan(k) else f" (n={int(k)})")
    return text.where(mean.isna(), text + spread)


def _ranks(mean: pd.DataFrame, digits: int) -> pd.DataFrame:
    """Dense rank per column (1 = best, 2 = second; higher is better) of the mean as printed."""
    printed = mean.map(lambda m: float(_shown(m, digits)) if not math.isnan(m) else math.nan)
    return printed.rank(axis=0, method="dense", ascending=False)


def _decorate(text: pd.DataFrame, ranks: pd.DataFrame, marks: dict[int, Callable[[str], str]]) -> pd.DataFrame:
    result = text.copy()
    for rank, mark in marks.items():
        result = result.where(ranks != rank, text.map(mark))
    return result


def _flat_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """One header row ("STL-10 ACC") and the row labels as ordinary columns."""
    flat = frame.copy()
    flat.columns = [" ".join(column) for column in flat.columns]
    return flat.reset_index()


def _to_markdown(text: pd.DataFrame, ranks: pd.DataFrame) -> str:
    marked = _decorate(text, ranks, {1: lambda t: f"**{t}**", 2: lambda t: f"<u>{t}</u>"})
    # disable_numparse keeps "90.80" from being reparsed and reformatted by tabulate.
    return _flat_columns(marked).to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n"


def _to_latex(text: pd.DataFrame, ranks: pd.DataFrame) -> str:
    props = ranks.map(lambda r: {1: "textbf:--rwrap;", 2: "underline:--rwrap;"}.get(r, ""))
    styler = text.style.apply(lambda _: props, axis=None)
    styler = styler.format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    column_format = "l" * text.index.nlevels + "c" * text.shape[1]
    return styler.to_latex(hrules=True, multicol_align="c", column_format=column_format, sparse_index=False)


def _to_csv(mean: pd.DataFrame, std: pd.DataFrame, count: pd.DataFrame | None = None) -> str:
    """Wide, numeric, percent: "<column> <metric> mean" and "... std" per cell block, std empty for
    one run; with ``count``, also "... n" (seeds)."""
    parts = {"mean": mean, "std": std} if count is None else {"mean": mean, "std": std, "n": count.astype("Int64")}
    both = pd.concat(parts, axis=1).reorder_levels([1, 2, 0], axis=1)
    both = both[[(*column, stat) for column in mean.columns for stat in parts]]
    return _flat_columns(both.round(6)).to_csv(index=False)


def leaderboard(
    records: Iterable[RunRecord], layout: Layout, dataset: str | None = None, digits: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cell text, dense rank per column) of ``layout``, for renderers other than :func:`render` (the HTML report)."""
    mean, std, _ = _aggregate(_selected(records, layout, dataset), layout)
    return _cell_text(mean, std, digits, PLUS_MINUS["md"]), _ranks(mean, digits)
