"""Measured minus paper, per cell: does a reproduction hold? (``table --with-paper --delta``).

A measured configuration is compared with the paper row of the same task, method, dataset and
backbone; the paper records name backbones as the paper's tables do ("ViT-B/16" in Table 1,
"DINOv1"/"DINOv2" in Table 2), mapped here to the registry's names. Only configurations at the
method's defaults (no changed parameters) and in the table's metric variant are compared: an
ablation or a v1 score has no paper counterpart. DINOv1* (Table 2's further-pretrained ViT) has
no registry backbone, so its rows are never matched.

The summary counts the compared cells within the seed spread (``|delta| <= std`` of the measured
seeds) or, with ``--tolerance``, within that many points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from unic_bench.run.records import RunRecord

PAPER_BACKBONES = {"vit-b-16": "dinov1-vit-b-16", "dinov1": "dinov1-vit-b-16", "dinov2": "dinov2-vit-b-14"}
DELTA_LABEL = "Δ vs paper"

Key = tuple[str, str, str, str]  # task, method, dataset, backbone (registry names)
Position = Callable[[RunRecord], tuple[tuple[str, str], str]]  # record -> (row labels, column label)


def _paper_key(record: RunRecord) -> Key:
    return (record.task, record.method, record.dataset, PAPER_BACKBONES.get(record.backbone, record.backbone))


def _measured_key(record: RunRecord) -> Key:
    return (record.task, record.method, record.dataset, record.backbone)


def paper_deltas(
    records: Iterable[RunRecord], metrics: Iterable[tuple[str, str]], position: Position, default_variant: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(delta, std) in points, indexed by the measured row labels, columns (dataset, metric); NaN where no pair."""
    records = list(records)
    paper = {_paper_key(r): r for r in records if r.source == "paper"}
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    for r in records:
        if r.source == "measured" and not r.params_changed and r.metric_variant == default_variant:
            groups.setdefault(r.config_key, []).append(r)
    rows = []
    for members in groups.values():
        counterpart = paper.get(_measured_key(members[0]))
        if counterpart is None:
            continue
        row, column = position(members[0])
        for key, label in metrics:
            values = np.array([m.metrics[key] for m in members if key in m.metrics], dtype=float) * 100
            reference = counterpart.metrics.get(key)
            if values.size == 0 or reference is None:
                continue
            std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
            rows.append((*row, column, label, float(values.mean()) - reference * 100, std))
    if not rows:
        empty = pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["row0", "row1"]))
        return empty, empty
    frame = pd.DataFrame(rows, columns=["row0", "row1", "column", "metric", "delta", "std"])
    wide = frame.set_index(["row0", "row1", "column", "metric"]).unstack(["column", "metric"])
    return wide["delta"], wide["std"]


def summary(delta: pd.DataFrame, std: pd.DataFrame, tolerance: float | None) -> str:
    """One line: how many cells were compared and how many hold."""
    pairs = [(d, s) for d, s in zip(delta.to_numpy().ravel(), std.to_numpy().ravel()) if not math.isnan(d)]
    if not pairs:
        return "paper deltas: no measured row matches a paper row (same method, backbone, dataset, default parameters)"
    if tolerance is not None:
        within = sum(abs(d) <= tolerance for d, _ in pairs)
        return f"paper deltas (measured - paper, points): {len(pairs)} cells compared, {within} within ±{tolerance:g} points"
    with_std = [(d, s) for d, s in pairs if not math.isnan(s)]
    within = sum(abs(d) <= s for d, s in with_std)
    single = len(pairs) - len(with_std)
    note = f" ({single} from a single seed, no std: give --tolerance PTS to judge them)" if single else ""
    return f"paper deltas (measured - paper, points): {len(pairs)} cells compared, {within} within the seed std{note}"


def signed(value: float, digits: int) -> str:
    return "" if math.isnan(value) else f"{value:+.{digits}f}"


def interleave(text: pd.DataFrame, ranks: pd.DataFrame, delta_text: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Put a ``Δ vs paper`` row under each measured row that has deltas (no rank: never bold)."""
    rows, rank_rows, index = [], [], []
    for label in text.index:
        rows.append(text.loc[label])
        rank_rows.append(ranks.loc[label])
        index.append(label)
        if label in delta_text.index:
            rows.append(delta_text.loc[label].reindex(text.columns).fillna(""))
            rank_rows.append(pd.Series(np.nan, index=text.columns))
            index.append((DELTA_LABEL, label[1]))
    names = text.index.names
    out = pd.DataFrame(rows, columns=text.columns)
    out.index = pd.MultiIndex.from_tuples(index, names=names)
    out_ranks = pd.DataFrame(rank_rows, columns=text.columns)
    out_ranks.index = out.index
    return out, out_ranks
