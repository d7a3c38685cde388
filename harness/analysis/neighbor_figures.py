"""Figures 8, 4, 9 and 10 of the UNIC paper from a :class:`NeighborAnalysis` (PNG + SVG + CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unic_bench.analysis.neighbors import Cleaning, NeighborAnalysis
from unic_bench.analysis.plotting import pyplot, save_figure

RANK_BINS = 1000  # Fig. 8's full-range curve: mean accuracy per bin of N / 1000 ranks


def _sample_note(analysis: NeighborAnalysis) -> str:
    ranks = analysis.ranks
    anchors = f"all {ranks.anchors:,} anchors (exact)" if ranks.exact else f"{ranks.anchors:,} sampled anchors"
    return f"N = {analysis.n:,}, {analysis.metric}, {anchors}"


def binned(accuracy: np.ndarray, bins: int = RANK_BINS) -> pd.DataFrame:
    """Mean accuracy over equal bins of ranks (rank 0, self, left out), by the bins' centre rank / N."""
    n = len(accuracy)
    edges = np.unique(np.linspace(1, n, min(bins, n - 1) + 1).astype(int))
    sums = np.add.reduceat(accuracy[1:], edges[:-1] - 1)
    counts = np.diff(edges)
    centres = (edges[:-1] + edges[1:] - 1) / 2
    return pd.DataFrame({"normalized_rank": centres / n, "accuracy": sums / counts})


def figure8(analysis: NeighborAnalysis, out: Path, tau2: int | None = None, positive_ranks: int = 200) -> list[Path]:
    """Neighbour accuracy by normalised rank: full range, positive zoom, negative zoom vs random level."""
    plt = pyplot()
    ranks, n = analysis.ranks, analysis.n
    level = ranks.random_level
    at_random = ranks.first_rank_at_random()
    curve = binned(ranks.accuracy)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(curve.normalized_rank, curve.accuracy, lw=1.2)
    axes[0].set_title("all ranks")
    top = min(positive_ranks, n - 1)
    axes[1].plot(np.arange(1, top + 1), ranks.accuracy[1 : top + 1], lw=1.2)
    for tau1, colour in zip(analysis.cleaning, ("C1", "C2", "C3")):
        axes[1].axvline(tau1 - 1, color=colour, ls="--", lw=1, label=f"tau1 = {tau1}")
    axes[1].set_title(f"positive range (ranks 1-{top})")
    axes[1].set_xlabel("rank")
    tail = curve[curve.normalized_rank >= min(0.5 * at_random / n, 0.9)]
    axes[2].plot(tail.normalized_rank, tail.accuracy, lw=1.2)
    axes[2].set_title("negative range")
    axes[2].set_ylim(0, min(1.0, 4 * level))
    for ax in (axes[0], axes[2]):
        ax.axhline(level, color="k", ls=":", lw=1, label=f"random sampling ({level:.3f})")
        ax.axvline(at_random / n, color="C3", ls="-.", lw=1, label=f"reaches random at rank {at_random:,}")
        if tau2 is not None:
            ax.axvline(tau2 / n, color="C2", ls="--", lw=1, label=f"tau2 = {tau2:,}")
        ax.set_xlabel("normalised rank r / N")
    for ax in axes:
        ax.set_ylabel("neighbour accuracy")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Neighbour accuracy by rank (UNIC Fig. 8) - {_sample_note(analysis)}")
    numbers = ranks.frame().assign(random_level=level)
    return save_figure(fig, out / "fig8_rank_accuracy", numbers)


def _log_x(ax: Any) -> None:
    """Log x axis with plain numbers (matplotlib's 3x10^2 minor labels collide)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _panels(cleaning: dict[int, Cleaning], width: float = 5.5) -> tuple[Any, list[Any]]:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(cleaning), figsize=(width * len(cleaning), 4), squeeze=False)
    return fig, list(axes[0])


def _long(cleaning: dict[int, Cleaning]) -> pd.DataFrame:
    return pd.concat([c.table.assign(tau1=t, paper_eta=c.eta) for t, c in cleaning.items()], ignore_index=True)


def figure4(analysis: NeighborAnalysis, out: Path) -> list[Path]:
    """True-positive fraction of kept neighbours and kept fraction of anchors against eta."""
    fig, axes = _panels(analysis.cleaning)
    for ax, (tau1, c) in zip(axes, analysis.cleaning.items()):
        t = c.table
        ax.step(t.union_size, t.tp_fraction, where="post", label="true-positive fraction (kept)")
        ax.step(t.union_size, t.kept_fraction, where="post", label="kept fraction of anchors")
        ax.axvline(c.eta, color="k", ls="--", lw=1, label=f"paper eta = {c.eta}")
        _log_x(ax)
        ax.set_xlabel("cleaning threshold eta (max union size)")
        ax.set_title(f"tau1 = {tau1}")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Cleaning threshold (UNIC Fig. 4) - N = {analysis.n:,}, all anchors (exact)")
    return save_figure(fig, out / "fig4_cleaning_threshold", _long(analysis.cleaning))


def figure9(analysis: NeighborAnalysis, out: Path, bins: int = 40) -> list[Path]:
    """True and false neighbours held by anchors of each union size (removed when eta < size)."""
    fig, axes = _panels(analysis.cleaning)
    for ax, (tau1, c) in zip(axes, analysis.cleaning.items()):
        t = c.table
        low, high = int(t.union_size.min()), int(t.union_size.max()) + 1
        if high - low <= 4 * bins:  # one bar per integer size: log-spaced integer bins would have uneven widths
            edges = np.arange(low, high + 1)
        else:
            edges = np.unique(np.geomspace(low, high, bins + 1).astype(int))
        which = np.clip(np.searchsorted(edges, t.union_size, side="right") - 1, 0, len(edges) - 2)
        true = np.bincount(which, t.true_neighbors, len(edges) - 1)
        false = np.bincount(which, t.false_neighbors, len(edges) - 1)
        widths = np.diff(edges)
        ax.bar(edges[:-1], true, widths, align="edge", label="true neighbours", color="C2")
        ax.bar(edges[:-1], false, widths, bottom=true, align="edge", label="false neighbours", color="C3")
        ax.axvline(c.eta, color="k", ls="--", lw=1, label=f"paper eta = {c.eta}")
        _log_x(ax)
        ax.set_xlabel("second-order union size")
        ax.set_ylabel("neighbours (self excluded)")
        ax.set_title(f"tau1 = {tau1}")
        ax.legend(fontsize=8)
    fig.suptitle(f"Neighbours removed by union size (UNIC Fig. 9) - N = {analysis.n:,}")
    return save_figure(fig, out / "fig9_removed_by_union_size", _long(analysis.cleaning))


def figure10(analysis: NeighborAnalysis, out: Path) -> list[Path]:
    """Purity of the kept neighbour sets against the number of anchors whose positives are removed."""
    fig, axes = _panels(analysis.cleaning)
    for ax, (tau1, c) in zip(axes, analysis.cleaning.items()):
        t = c.table
        ax.plot(t.removed / analysis.n, t.tp_fraction, lw=1.2)
        at_eta = t[t.union_size <= c.eta]
        if len(at_eta):
            row = at_eta.iloc[-1]
            ax.scatter([row.removed / analysis.n], [row.tp_fraction], color="k", zorder=3, label=f"paper eta = {c.eta}")
        ax.axhline(c.unfiltered_purity, color="C3", ls=":", lw=1, label=f"no cleaning ({c.unfiltered_purity:.3f})")
        ax.set_xlabel("fraction of anchors removed")
        ax.set_ylabel("purity of kept neighbours")
        ax.set_title(f"tau1 = {tau1}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Purity by samples removed (UNIC Fig. 10) - N = {analysis.n:,}")
    return save_figure(fig, out / "fig10_purity_by_removed", _long(analysis.cleaning))


def write_neighbor_figures(analysis: NeighborAnalysis, out: Path, tau2: int | None = None) -> list[Path]:
    """All four figures into ``out``; returns every file written."""
    out.mkdir(parents=True, exist_ok=True)
    return [*figure8(analysis, out, tau2), *figure4(analysis, out), *figure9(analysis, out), *figure10(analysis, out)]
