"""``unic-bench analyze neighbors``, ``plot`` and ``report``: figures and the static HTML site.

Registered from ``cli/app.py``; like every command module it imports nothing heavy at start-up
(matplotlib, torch and the plugins load inside the commands).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from unic_bench.errors import BenchError

analyze_app = typer.Typer(
    help="Analysis figures (the UNIC paper's neighbour figures).", no_args_is_help=True, rich_markup_mode=None
)


def parse_tau1(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"invalid --tau1 '{text}': expected integers separated by commas, e.g. 10,50") from None
    if not values or min(values) < 2:
        raise BenchError(f"invalid --tau1 '{text}': expected integers >= 2 (self is one of the tau1 neighbours)")
    return sorted(set(values))


@analyze_app.command("neighbors")
def analyze_neighbors_command(
    backbone: Annotated[str, typer.Option(help="Backbone name or alias.")],
    dataset: Annotated[str, typer.Option(help="Dataset name.")],
    tau1: Annotated[str, typer.Option(help="Positive-set sizes (self included), e.g. 10,50.")] = "10,50",
    tau2: Annotated[
        Optional[int], typer.Option(help="Negative rank marked on Fig. 8 (default: UNIC's default for the dataset).")
    ] = None,
    anchors: Annotated[
        Optional[int], typer.Option(help="Anchors averaged in Fig. 8 (default: all up to 20,000 images, else 1,000 sampled).")
    ] = None,
    metric: Annotated[str, typer.Option(help="euclidean (paper, eq. 2) | cosine")] = "euclidean",
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="backbone.KEY=value / dataset.KEY=value, as for `run`.")
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option(help="Folder for the figures (default results/analysis/DATASET/BACKBONE).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampled anchors.")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N] (feature extraction and kNN).")] = "auto",
    data_root: Annotated[Optional[Path], typer.Option(help="Where datasets live (or $UNIC_BENCH_DATA).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Feature cache (default ~/.cache/unic-bench).")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Weights file replacing the backbone's official one.")] = None,
    batch_size: Annotated[int, typer.Option(help="Feature-extraction batch size.")] = 256,
    workers: Annotated[int, typer.Option(help="DataLoader workers for feature extraction.")] = 0,
) -> None:
    """The UNIC paper's Figs. 8, 4, 9, 10 on a backbone's features of a dataset's fit split (labels for analysis only)."""
    from unic_bench.analysis.feature_inputs import fit_features
    from unic_bench.analysis.neighbor_figures import write_neighbor_figures
    from unic_bench.analysis.neighbors import analyze_neighbors
    from unic_bench.cli.progress import rich_progress
    from unic_bench.methods.common.neighbors import check_metric
    from unic_bench.methods.unic import UNIC, resolve_mining
    from unic_bench.run.device import resolve_device
    from unic_bench.run.protocol import RunOptions
    from unic_bench.run.spec import parse_set

    check_metric(metric)
    tau1s = parse_tau1(tau1)
    options = RunOptions(
        device=device,
        data_root=data_root,
        cache_dir=cache_dir,
        progress=rich_progress,
        weights=weights,
        batch_size=batch_size,
        num_workers=workers,
    )
    fit = fit_features(backbone, dataset, parse_set(set_ or []), options)
    n = len(fit.labels)
    if tau2 is None:  # the tau2 a UNIC run on these features would use (its dataset row, else 2 N / K)
        tau2 = resolve_mining(UNIC.Params(**UNIC.defaults_for(fit.dataset, "clustering")), n, fit.num_classes).tau2

    analysis = analyze_neighbors(fit.features, fit.labels, tau1s, metric, anchors, seed, resolve_device(device), rich_progress)  # type: ignore[arg-type]
    out = output or Path("results") / "analysis" / fit.dataset / fit.backbone
    write_neighbor_figures(analysis, out, tau2)
    ranks = analysis.ranks
    sample = "all anchors (exact)" if ranks.exact else f"{ranks.anchors:,} sampled anchors"
    typer.echo(f"{fit.backbone_label} | {fit.dataset_label} | {fit.split}: N = {n:,}, {metric}, Fig. 8 over {sample}")
    typer.echo(
        f"random-sampling level {ranks.random_level:.4f}; neighbour accuracy reaches it at rank {ranks.first_rank_at_random():,} "
        f"(tau2 marked: {tau2:,})"
    )
    for t, cleaning in analysis.cleaning.items():
        row = cleaning.table[cleaning.table.union_size <= cleaning.eta]
        kept, purity = (float(row.kept_fraction.iloc[-1]), float(row.tp_fraction.iloc[-1])) if len(row) else (0.0, float("nan"))
        typer.echo(
            f"tau1 {t}: purity {cleaning.unfiltered_purity:.4f} without cleaning; eta {cleaning.eta}: "
            f"{100 * kept:.1f}% of anchors kept, purity {purity:.4f}"
        )
    typer.echo(f"figures (PNG, SVG, CSV) -> {out}")


def plot_runs(targets: list[str], results: Path, data_root: Path | None = None, cache_dir: Path | None = None) -> None:
    """Write every run's figures beside its record and print where (shared by ``plot`` and ``run --figures``)."""
    from unic_bench.analysis.run_figures import figures_dir, write_run_figures
    from unic_bench.analysis.run_inputs import find_record, load_run, load_truth

    for target in targets:
        run = load_run(find_record(target, results))
        written, skipped = write_run_figures(run, load_truth(run, data_root, cache_dir))
        pictures = sorted({p.stem for p in written})
        typer.echo(f"{run.record.run_id}: {', '.join(pictures) or 'no figures'} -> {figures_dir(run)}")
        for line in skipped:
            typer.echo(f"  skipped {line}")


def plot(
    targets: Annotated[
        list[str], typer.Argument(help="Run ids (found under RESULTS/runs) or record .json paths.", show_default=False)
    ],
    results: Annotated[Path, typer.Option(help="Results folder searched for run ids.")] = Path("results"),
    data_root: Annotated[Optional[Path], typer.Option(help="Where datasets live (or $UNIC_BENCH_DATA).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Feature cache (default ~/.cache/unic-bench).")] = None,
) -> None:
    """Per-run figures beside the record (RUN_ID.figures/): confusion, embedding, training curves, cluster grid."""
    plot_runs(targets, results, data_root, cache_dir)


def report(
    output: Annotated[Path, typer.Option(help="Folder of the static site (index.html inside).")],
    results: Annotated[Path, typer.Option(help="Results folder whose runs/ records are reported.")] = Path("results"),
    with_paper: Annotated[
        bool, typer.Option("--with-paper/--no-paper", help="Add the UNIC paper's rows to the leaderboards.")
    ] = True,
    digits: Annotated[int, typer.Option(help="Decimals of the percentages.")] = 1,
) -> None:
    """A static HTML report (opens from file://, no server, no network): leaderboards, dataset pages, run pages."""
    from unic_bench.report.site import build_site

    index = build_site(Path(results), Path(output), with_paper=with_paper, digits=digits)
    typer.echo(f"report -> {index}")
