"""Per-run figures: Hungarian-reordered confusion matrix, 2-D embedding, training curves, and the
UNIC paper's Fig. 12 cluster grid. Each is PNG + SVG with its numbers as CSV (``plotting``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix

from unic_bench.analysis.plotting import pyplot, save_figure
from unic_bench.analysis.run_inputs import RunArrays, RunTruth

EMBED_MAX_POINTS = 3_000  # t-SNE is O(n log n) with a large constant: a uniform sample beyond this
GRID_PER_GROUP = 5  # images per group (most confident TPs, least confident TPs, random FPs)
GRID_MAX_CLUSTERS = 20


def figures_dir(run: RunArrays) -> Path:
    """Beside the record: ``<run_id>.figures/`` (no JSON inside, so record scans ignore it)."""
    return run.path.with_name(f"{run.record.run_id}.figures")


def matched_classes(truth: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, clusters, matched class of each cluster or -1): the Hungarian map behind ACC."""
    classes, true_idx = np.unique(truth, return_inverse=True)
    ids, pred_idx = np.unique(clusters, return_inverse=True)
    counts = contingency_matrix(true_idx, pred_idx)  # (classes, clusters)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    match = np.full(len(ids), -1)
    match[cols] = classes[rows]
    return classes, ids, match


def confusion(run: RunArrays, truth: RunTruth, out: Path) -> list[Path]:
    """Classes x clusters counts, clusters reordered so the matched one sits on the diagonal.

    GCD: Old classes first, then New, with a line between and the groups named on the axis.
    """
    plt = pyplot()
    known = truth.labels >= 0
    y, c = truth.labels[known], run.assignments[known]
    classes, ids, match = matched_classes(y, c)
    old = set(truth.old_classes)
    class_order = sorted(classes, key=lambda k: (k not in old, k)) if old else list(classes)
    cluster_of_class = {m: i for i, m in zip(ids, match) if m >= 0}
    cluster_order = [cluster_of_class[k] for k in class_order if k in cluster_of_class]
    cluster_order += [i for i in ids if i not in cluster_order]
    table = pd.crosstab(pd.Series(y, name="class"), pd.Series(c, name="cluster")).reindex(
        index=class_order, columns=cluster_order, fill_value=0
    )
    share = table.div(table.sum(axis=1).clip(lower=1), axis=0)
    size = max(5.0, 0.35 * max(table.shape))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, label="share of the class")
    names = [truth.class_names[k] if k < len(truth.class_names) else str(k) for k in class_order]
    if old:
        names = [f"{'Old' if k in old else 'New'}: {n}" for k, n in zip(class_order, names)]
        boundary = sum(k in old for k in class_order) - 0.5
        ax.axhline(boundary, color="C3", lw=1.5)
    if len(names) <= 60:
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_xticks(range(len(cluster_order)), [str(i) for i in cluster_order], fontsize=7, rotation=90)
    ax.set_xlabel("cluster (Hungarian-matched to the class on the diagonal)")
    ax.set_ylabel("class")
    ax.set_title(f"{run.record.display.method} - {run.record.display.dataset}: confusion (ACC {_acc(run)})")
    numbers = table.reset_index().melt(id_vars="class", var_name="cluster", value_name="count")
    return save_figure(fig, out / "confusion", numbers)


def _acc(run: RunArrays) -> str:
    m = run.record.metrics
    value = m.get("acc", m.get("all"))
    return "-" if value is None else f"{100 * value:.1f}"


def embedding_2d(features: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """UMAP when ``umap-learn`` is installed, else scikit-learn t-SNE (PCA to 50 dimensions first)."""
    try:
        import umap  # type: ignore[import-not-found,unused-ignore]

        return np.asarray(umap.UMAP(random_state=seed).fit_transform(features)), "UMAP"
    except ImportError:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        x = features if features.shape[1] <= 50 else PCA(50, random_state=seed).fit_transform(features)
        perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x), "t-SNE"


def embedding(run: RunArrays, truth: RunTruth, out: Path) -> list[Path]:
    """The eval features in 2-D, coloured by cluster and by class (a stated sample beyond 3,000)."""
    plt = pyplot()
    assert truth.features is not None
    n = len(truth.features)
    rows = np.arange(n)
    if n > EMBED_MAX_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(n, EMBED_MAX_POINTS, replace=False))
    xy, how = embedding_2d(np.asarray(truth.features[rows], dtype=np.float32), seed=0)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    for ax, values, title in ((axes[0], run.assignments[rows], "cluster"), (axes[1], truth.labels[rows], "class")):
        ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap="tab20", s=4, linewidths=0)
        ax.set_title(f"coloured by {title}")
        ax.set_xticks([])
        ax.set_yticks([])
    sample = f"{len(rows):,} of {n:,} eval images" if len(rows) < n else f"all {n:,} eval images"
    fig.suptitle(f"{run.record.display.method} - {run.record.display.dataset}: {how} of the backbone features ({sample})")
    numbers = pd.DataFrame(
        {"eval_row": rows, "x": xy[:, 0], "y": xy[:, 1], "cluster": run.assignments[rows], "class": truth.labels[rows]}
    )
    return save_figure(fig, out / "embedding", numbers)


def curves(run: RunArrays, out: Path) -> list[Path]:
    """Every logged term of the epoch log against the epoch: loss terms, lr, kMeans probe."""
    plt = pyplot()
    log = pd.DataFrame(run.record.epoch_log)
    terms = [c for c in log.columns if c != "epoch" and pd.api.types.is_numeric_dtype(log[c])]
    probes = [c for c in terms if c.startswith("probe_")]
    panels = [c for c in terms if c not in probes] + (["probe"] if probes else [])
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, panels):
        if name == "probe":
            for probe in probes:
                points = log[["epoch", probe]].dropna()
                ax.plot(points.epoch, points[probe], marker="o", label=probe.removeprefix("probe_"))
            ax.set_title("kMeans probe on the train embeddings")
            ax.legend(fontsize=8)
        else:
            ax.plot(log.epoch, log[name])
            ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{run.record.display.method} - {run.record.display.dataset}: training (seed {run.record.seed})")
    fig.tight_layout()
    return save_figure(fig, out / "curves", log)


def _as_picture(sample: object) -> np.ndarray:
    """A native sample as an (H, W) or (H, W, 3) array in [0, 1]; flat vectors of square length too."""
    x = np.asarray(sample, dtype=np.float32)
    if x.ndim == 1:
        side = int(round(np.sqrt(x.size)))
        x = x.reshape(side, side)
    elif x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else np.transpose(x[:3], (1, 2, 0))
    lo, hi = float(x.min()), float(x.max())
    return np.clip((x - lo) / (hi - lo), 0, 1) if hi > 1 or lo < 0 else x


def grid_rows(run: RunArrays, truth: RunTruth, seed: int = 0) -> pd.DataFrame:
    """Fig. 12's picks per cluster: most and least confident true positives, random false positives."""
    assert run.confidence is not None
    _, ids, match = matched_classes(truth.labels, run.assignments)
    rng = np.random.default_rng(seed)
    sizes = pd.Series(run.assignments).value_counts()
    picks = []
    for cluster in sizes.index[:GRID_MAX_CLUSTERS]:
        matched = int(match[np.searchsorted(ids, cluster)])
        members = np.flatnonzero(run.assignments == cluster)
        tp = members[truth.labels[members] == matched]
        fp = members[truth.labels[members] != matched]
        by_conf = tp[np.argsort(-run.confidence[tp], kind="stable")]
        groups = {
            "most confident TP": by_conf[:GRID_PER_GROUP],
            "least confident TP": by_conf[::-1][:GRID_PER_GROUP],
            "random FP": rng.choice(fp, min(GRID_PER_GROUP, len(fp)), replace=False) if len(fp) else fp,
        }
        for group, rows in groups.items():
            for slot, row in enumerate(rows):
                picks.append((int(cluster), matched, group, slot, int(row), int(run.eval_indices[row]), int(truth.labels[row]),
                              float(run.confidence[row])))  # fmt: skip
    columns = ["cluster", "matched_class", "group", "slot", "eval_row", "dataset_index", "class", "confidence"]
    return pd.DataFrame(picks, columns=columns)


def cluster_grid(run: RunArrays, truth: RunTruth, out: Path) -> list[Path]:
    """UNIC Fig. 12: one row per cluster (largest first, at most 20), three groups of 5 images."""
    plt = pyplot()
    picks = grid_rows(run, truth)
    clusters = list(dict.fromkeys(picks.cluster))
    groups = ("most confident TP", "least confident TP", "random FP")
    cols = GRID_PER_GROUP * len(groups)
    fig, axes = plt.subplots(len(clusters), cols, figsize=(cols * 0.75, len(clusters) * 0.8 + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, cluster in enumerate(clusters):
        mine = picks[picks.cluster == cluster]
        for g, group in enumerate(groups):
            for _, pick in mine[mine.group == group].iterrows():
                ax = axes[r, g * GRID_PER_GROUP + int(pick.slot)]
                ax.imshow(_as_picture(truth.images[int(pick.dataset_index)]), cmap="gray", vmin=0, vmax=1)  # type: ignore[index]
                ax.set_title(f"{pick.confidence:.2f}", fontsize=6, pad=1, color="C3" if group == "random FP" else "k")
        name = truth.class_names[int(mine.matched_class.iloc[0])] if int(mine.matched_class.iloc[0]) >= 0 else "-"
        axes[r, 0].text(-0.15, 0.5, f"{cluster}\n({name})", transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=7)
    for g, group in enumerate(groups):
        axes[0, g * GRID_PER_GROUP + 2].text(0.5, 1.8, group, transform=axes[0, g * GRID_PER_GROUP + 2].transAxes,
                                             ha="center", fontsize=8, weight="bold")  # fmt: skip
    fig.suptitle(
        f"{run.record.display.method} - {run.record.display.dataset}: clusters (UNIC Fig. 12; number = confidence)", y=1.0
    )
    return save_figure(fig, out / "cluster_grid", picks)


def write_run_figures(run: RunArrays, truth: RunTruth, out: Path | None = None) -> tuple[list[Path], list[str]]:
    """Every figure the run's data allows; returns (files written, one line per figure skipped and why)."""
    out = out or figures_dir(run)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: list[str] = []
    if (truth.labels >= 0).any():
        written += confusion(run, truth, out)
    else:
        skipped.append("confusion: no eval labels")
    if truth.features is not None:
        written += embedding(run, truth, out)
    else:
        skipped.append("embedding: the eval features are not in the feature cache (run `unic-bench extract` first)")
    if run.record.epoch_log:
        written += curves(run, out)
    else:
        skipped.append("curves: the method logs no epochs")
    if truth.images is None:
        skipped.append("cluster grid: not an image dataset")
    elif run.confidence is None:
        skipped.append("cluster grid: the run's .npz has no confidence (rerun with this version)")
    elif (truth.labels >= 0).any():
        written += cluster_grid(run, truth, out)
    return written, skipped
