"""The ``unic-bench`` command line: a thin typer layer over the harness modules.

Start-up stays light (``--help`` imports neither torch nor plugins); every bad input ends in one
line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from typer.core import TyperGroup

from unic_bench.cli import figures
from unic_bench.cli import sweep as sweep_commands
from unic_bench.errors import BenchError, unknown_choice

if TYPE_CHECKING:  # annotations only: importing the table module would load pandas at start-up
    from unic_bench.report.tables import Format, Layout

LIST_KINDS = ("methods", "backbones", "datasets")
LAYOUTS: tuple[Layout, ...] = ("table1", "table2", "table7")
FORMATS: tuple[Format, ...] = ("md", "latex", "csv")
THREADS_HELP = "CPU threads for torch, BLAS and faiss (default: $UNIC_BENCH_THREADS, else the cores this process may use)."
SPLITS_DIR_HELP = "Local copies of the downloaded class lists, for machines without internet (or $UNIC_BENCH_SPLITS)."


class PluginCommandGroup(TyperGroup):
    """Resolves a command name that is not built in by loading the plugins' ``register_commands``."""

    _plugins_added = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugins_added:
            self._add_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def _add_plugin_commands(self) -> None:
        from unic_bench.plugins.host import get_host

        self._plugins_added = True
        plugin_app = get_host().command_app()
        if plugin_app.registered_commands or plugin_app.registered_groups:
            for name, command in typer.main.get_group(plugin_app).commands.items():
                self.add_command(command, name)


app = typer.Typer(
    cls=PluginCommandGroup,
    help="Benchmark image clustering and GCD methods across pretrained backbones and datasets.",
    epilog="Plugins may add commands: `unic-bench plugins` lists them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _console() -> Any:
    from rich.console import Console

    return Console(width=200 if not sys.stdout.isatty() else None)


Choice = TypeVar("Choice", bound=str)


def _check_choice(kind: str, value: str, choices: tuple[Choice, ...]) -> Choice:
    """``value`` as one of ``choices`` (typed as their Literal), or a one-line error naming them."""
    for choice in choices:
        if choice == value:
            return choice
    raise unknown_choice(kind, value, choices)


# The parameters of run() are the one declaration of the run flags: each is also a config key
# (config_keys) and its value goes, by name, to a RunRequest field (what to run) or a RunOptions
# field (how to run; RunOptions.from_values, whose `flag` metadata covers a differing name).
# Adding a flag = a parameter here + the field that consumes it (tests/test_cli_errors.py checks
# that every flag has one).
@app.command()
def run(
    ctx: typer.Context,
    method: Annotated[Optional[str], typer.Option(help="Method name (`unic-bench list methods`).")] = None,
    backbone: Annotated[Optional[str], typer.Option(help="Backbone name or alias.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name.")] = None,
    task: Annotated[Optional[str], typer.Option(help="clustering | gcd")] = None,
    seed: Annotated[Optional[str], typer.Option(help="One integer seed.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Several seeds, e.g. 0,1,2 (mean ± std in tables).")] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Parameter override key=value; dataset.KEY / backbone.KEY go to those plugins."),
    ] = None,
    gcd_metric: Annotated[Optional[str], typer.Option(help="GCD accuracy variant: v2 (default) | v1.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda[:N]")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Where datasets live (or $UNIC_BENCH_DATA).")] = None,
    results: Annotated[Optional[Path], typer.Option(help="Results folder (records go to RESULTS/runs/).")] = None,
    overwrite: Annotated[Optional[str], typer.Option(help="never | only-missing (default) | always")] = None,
    cache_dir: Annotated[
        Optional[Path], typer.Option(help="Feature cache (default ~/.cache/unic-bench; $UNIC_BENCH_CACHE).")
    ] = None,
    splits_dir: Annotated[Optional[Path], typer.Option(help=SPLITS_DIR_HELP)] = None,
    weights: Annotated[
        Optional[Path], typer.Option(help="Weights file replacing the backbone's official one (its sha256 joins the run id).")
    ] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Feature-extraction batch size (default 256).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="DataLoader workers for feature extraction (default 0).")] = None,
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML run spec; its keys are these flags' long names.")] = None,
    suite: Annotated[
        Optional[str], typer.Option(help="Without --dataset: run this suite's datasets (default table1 / table2 by task).")
    ] = None,
    skip_missing: Annotated[
        bool, typer.Option("--skip-missing", help="Without --dataset: run what is there, list what is skipped.")
    ] = False,
    with_figures: Annotated[
        bool, typer.Option("--figures", help="Also write each run's figures (see `unic-bench plot`).")
    ] = False,
) -> None:
    """Run one method on one backbone + dataset for one or more seeds, and write a record per seed.

    Without --dataset, run the task's paper suite (`unic-bench suites`) after checking every dataset and weights file it needs."""
    from unic_bench.run.spec import load_config, parse_seeds, parse_set

    values: dict[str, Any] = load_config(config) if config else {}
    valid = config_keys()
    unknown = sorted(set(values) - valid)
    if unknown:
        raise BenchError(f"unknown key '{unknown[0]}' in config '{config}' (valid: {', '.join(sorted(valid))})")
    merged_separately = {"config", "seed", "seeds", "set_"}  # seed/seeds/--set combine with the config below
    values.update({k: v for k, v in ctx.params.items() if k not in merged_separately and v is not None})
    if seed is not None and seeds is not None:
        raise BenchError("give --seed or --seeds, not both")
    cli_seeds = seeds if seeds is not None else seed
    if cli_seeds is not None or "seed" in values or isinstance(values.get("seeds"), (str, int)):
        # one list of ints from --seed/--seeds, or from the config's seed: 3 / seeds: "0,1,2"
        text = cli_seeds if cli_seeds is not None else values.pop("seed", values.get("seeds"))
        values.pop("seed", None)
        values["seeds"] = parse_seeds(str(text))
    if set_:
        values["set"] = {**(values.get("set") or {}), **parse_set(set_)}
    for flag in ("method", "backbone"):
        if not values.get(flag):
            raise BenchError(f"missing --{flag} (see `unic-bench list {flag}s`)")
    if not values.get("dataset"):  # the task's suite (issue 11): `run --method unic --backbone dinov2 --task gcd`
        from unic_bench.cli.sweep import run_suite

        return run_suite(values, suite, skip_missing)
    if suite is not None or skip_missing:
        raise BenchError("--suite and --skip-missing apply only without --dataset (they pick the suite's datasets)")
    _run_and_report(values)


def config_keys() -> set[str]:
    """The keys a ``--config`` YAML may hold: the long names of the ``run`` flags (``set`` for ``--set``)."""
    import inspect

    return {name.rstrip("_") for name in inspect.signature(run).parameters} - {"ctx", "config"}


def _run_and_report(values: dict[str, Any]) -> None:
    """Split merged flags into how to run (RunOptions) and what to run (RunRequest); run; print."""
    from unic_bench.run.threads import use_threads

    use_threads(values.get("threads"))  # before the plugins import torch
    from unic_bench.cli.progress import rich_progress
    from unic_bench.plugins.host import get_host
    from unic_bench.run.protocol import RunOptions, run_specs
    from unic_bench.run.spec import RunRequest, resolve

    options = RunOptions.from_values(values, progress=rich_progress)
    host = get_host()
    request = RunRequest.build({k: v for k, v in values.items() if k in RunRequest.model_fields})
    console = _console()
    outcomes = run_specs(resolve(request, host), options, host, on_outcome=lambda out: _print_outcome(console, out))
    _print_summary(console, outcomes)
    if options.figures:
        figures.plot_runs([str(o.path) for o in outcomes], options.results_dir, options.data_root, options.cache_dir)


def _print_outcome(console: Any, out: Any) -> None:
    """One seed's line, printed as soon as it finishes (a later seed's failure does not hide it)."""
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in out.record.metrics.items())
    tag = " (existing record kept)" if out.reused else ""
    tag += f" ({out.record.note})" if out.record.note else ""
    tag += f" (resumed after epoch {out.record.resumed_from_epoch})" if out.record.resumed_from_epoch else ""
    s = out.spec
    if s.num_clusters is not None:  # K was asked for or estimated: say which
        tag = f" (K={out.record.num_clusters}, {out.record.k_selection.get('chosen_by', '')})" + tag
    console.print(
        f"{s.method} | {s.backbone} | {s.dataset} | {s.task} | seed {s.seed}: {metrics}{tag}  -> {out.path}", highlight=False
    )


def _print_summary(console: Any, outcomes: list[Any]) -> None:
    import numpy as np

    if len(outcomes) > 1:
        keys = outcomes[0].record.metrics.keys()
        summary = "  ".join(
            f"{k} {np.mean([o.record.metrics[k] for o in outcomes]):.4f} ± {np.std([o.record.metrics[k] for o in outcomes], ddof=1):.4f}"
            for k in keys
        )
        console.print(f"mean ± std over {len(outcomes)} seeds: {summary}", highlight=False)


@app.command()
def extract(
    backbone: Annotated[str, typer.Option(help="Backbone name or alias.")],
    dataset: Annotated[str, typer.Option(help="Dataset name.")],
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="backbone.KEY=value / dataset.KEY=value, as for `run`.")
    ] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Weights file replacing the backbone's official one.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    data_root: Annotated[Optional[Path], typer.Option(help="Where datasets live (or $UNIC_BENCH_DATA).")] = None,
    cache_dir: Annotated[
        Optional[Path], typer.Option(help="Feature cache (default ~/.cache/unic-bench; $UNIC_BENCH_CACHE).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 256,
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
) -> None:
    """Fill the feature cache for every split of a dataset, ahead of runs (e.g. on one GPU job)."""
    from unic_bench.run.threads import use_threads

    use_threads(threads)
    from unic_bench.cli.progress import rich_progress
    from unic_bench.plugins.host import get_host
    from unic_bench.run.protocol import RunOptions, extract_features
    from unic_bench.run.spec import parse_set, split_params, weights_checksum

    host = get_host()
    backbone_cls, dataset_cls = host.backbones.get(backbone), host.datasets.get(dataset)
    routed = split_params(parse_set(set_ or []))
    if routed["method"]:
        key = next(iter(routed["method"]))
        raise BenchError(f"invalid --set '{key}' for extract: use backbone.KEY or dataset.KEY")
    if weights is not None:
        weights_checksum(backbone_cls, weights)
    options = RunOptions(
        device=device,
        data_root=data_root,
        cache_dir=cache_dir,
        progress=rich_progress,
        batch_size=batch_size,
        num_workers=workers,
    )
    built = backbone_cls(backbone_cls.validate_params(routed["backbone"]), weights=weights)
    for name, (shape, key) in extract_features(
        built, dataset_cls(dataset_cls.validate_params(routed["dataset"])), options
    ).items():
        typer.echo(f"{backbone_cls.name} | {dataset_cls.name} | {name}: features {shape[0]} x {shape[1]}  cache key {key}")


@app.command(name="fetch-weights")
def fetch_weights(
    names: Annotated[Optional[list[str]], typer.Argument(help="Backbone names or aliases.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every backbone with official weights.")] = False,
) -> None:
    """Download official weights ahead of time (for air-gapped clusters); prints where each file is."""
    from unic_bench.plugins.host import get_host

    host = get_host()
    pretrained = [cls for cls in host.backbones if cls.weight_source is not None]
    if all_:
        chosen = pretrained
    elif names:
        chosen = [host.backbones.get(name) for name in names]
    else:
        raise BenchError("name the backbones to fetch, or pass --all (see `unic-bench list backbones`)")
    sources = [(cls.name, cls.weight_source) for cls in chosen if cls.weight_source is not None]
    if len(sources) < len(chosen):
        unfetchable = next(cls.name for cls in chosen if cls.weight_source is None)
        valid = ", ".join(c.name for c in pretrained)
        raise BenchError(f"backbone '{unfetchable}' has no official weights to fetch (valid: {valid})")
    for name, source in sources:
        typer.echo(f"{name}: {source.resolve(name)}")


@app.command()
def demo(
    results: Annotated[Path, typer.Option(help="Results folder (records go to RESULTS/runs/).")] = Path("results"),
    seeds: Annotated[str, typer.Option(help="Seeds for every method.")] = "0,1,2",
    overwrite: Annotated[str, typer.Option(help="always (default: the demo recomputes) | only-missing | never")] = "always",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help=THREADS_HELP)] = None,
    jobs: Annotated[
        Optional[int],
        typer.Option(help="Runs at once, each with its share of the threads (default: one per core, at most 4; 1 on a GPU)."),
    ] = None,
) -> None:
    """Run every registered method on the embedded digits (raw pixels), 3 seeds, both tasks; print leaderboards."""
    from unic_bench.run.threads import use_threads

    use_threads(threads)
    from unic_bench.cli.demo import demo_jobs, run_demo
    from unic_bench.run.protocol import OVERWRITE_CHOICES
    from unic_bench.run.spec import parse_seeds

    mode = _check_choice("--overwrite value", overwrite, OVERWRITE_CHOICES)
    report = run_demo(results, parse_seeds(seeds), mode, device, demo_jobs(jobs, device), threads)
    _console().print(report, highlight=False, markup=False)


@app.command()
def table(
    layout: Annotated[str, typer.Option(help="table1 (clustering) | table2 (GCD) | table7 (backbones, one dataset)")] = "table1",
    format_: Annotated[str, typer.Option("--format", help="md | latex | csv")] = "md",
    with_paper: Annotated[bool, typer.Option("--with-paper", help="Add the UNIC paper's rows, marked [paper].")] = False,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset for table7 (name or display name).")] = None,
    results: Annotated[Path, typer.Option(help="Results folder whose runs/ records are tabulated.")] = Path("results"),
    output: Annotated[Optional[Path], typer.Option(help="Write to this file (atomically) instead of stdout.")] = None,
    digits: Annotated[int, typer.Option(help="Decimals of the percentages.")] = 1,
    delta: Annotated[
        bool, typer.Option("--delta", help="With --with-paper: measured - paper under each cell, and a summary.")
    ] = False,
    tolerance: Annotated[
        Optional[float], typer.Option(help="--delta: count cells within this many points (default: the seed std).")
    ] = None,
    show_n: Annotated[bool, typer.Option("--show-n/--no-show-n", help="Append (n=K), the seeds behind each cell.")] = True,
    metric_variant: Annotated[
        Optional[str], typer.Option(help="many-to-one: score clusters as their majority class (overclustering)")
    ] = None,
) -> None:
    """Render a leaderboard (mean ± std over seeds, best bold, second underlined, n seeds per cell)."""
    from unic_bench.atomic import atomic_write
    from unic_bench.report.tables import render
    from unic_bench.run.paths import check_writable_file
    from unic_bench.run.records import iter_records, paper_records

    chosen_layout = _check_choice("layout", layout, LAYOUTS)
    chosen_format = _check_choice("format", format_, FORMATS)
    if (delta or tolerance is not None) and not with_paper:
        raise BenchError("--delta and --tolerance compare with the paper: add --with-paper")
    if output is not None:
        check_writable_file(output, "table --output file")
    runs = Path(results) / "runs"
    records = list(iter_records([runs])) if runs.is_dir() else []
    if with_paper:
        records += paper_records(table=layout.removeprefix("table"))
    if not records:
        raise BenchError(f"no records under '{runs}' (run `unic-bench run ...` or `unic-bench demo`, or add --with-paper)")
    if metric_variant is not None:
        _check_choice("metric variant", metric_variant, ("many-to-one",))
    text = render(
        records,
        chosen_layout,
        chosen_format,
        dataset=dataset,
        digits=digits,
        delta=delta,
        tolerance=tolerance,
        show_n=show_n,
        variant=metric_variant,
    )
    if output is None:
        typer.echo(text)
    else:
        atomic_write(output, lambda fh: fh.write(text.encode()))


@app.command()
def plugins() -> None:
    """List loaded plugins with their distribution, version and what they register."""
    from rich.table import Table

    from unic_bench.plugins.host import get_host

    host = get_host()
    host.command_app()
    grid = Table("plugin", "distribution", "version", "registers", "status")
    for info in host.infos.values():
        registers = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in info.registered.items() if names)
        grid.add_row(info.name, info.distribution, info.version, registers or "-", info.error or "ok")
    _console().print(grid)


@app.command(name="list")
def list_entries(kind: Annotated[str, typer.Argument(help="What to list.", metavar="methods|backbones|datasets")]) -> None:
    """List registered methods, backbones or datasets."""
    from rich.table import Table

    from unic_bench.plugins.host import get_host

    _check_choice("list kind", kind, LIST_KINDS)
    host = get_host()
    registry = getattr(host, kind)
    if kind == "backbones":
        grid = Table("name", "aliases", "input", "pretraining", "plugin", "description")
        for cls in registry:
            grid.add_row(
                cls.name,
                ", ".join(cls.aliases) or "-",
                cls.accepts,
                cls.pretraining or "-",
                registry.source(cls.name),
                cls.description,
            )
    else:
        grid = Table("name", "aliases", "tasks", "plugin", "description")
        for cls in registry:
            grid.add_row(
                cls.name, ", ".join(cls.aliases) or "-", ", ".join(sorted(cls.tasks)), registry.source(cls.name), cls.description
            )
    _console().print(grid)


sweep_commands.register(app)  # sweep, status, suites (cli/sweep.py)
app.add_typer(figures.analyze_app, name="analyze")
app.command()(figures.plot)
app.command()(figures.report)

datasets_app = typer.Typer(help="Dataset utilities.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("check")
def datasets_check(
    data_root: Annotated[Path, typer.Option(help="Where datasets live (or $UNIC_BENCH_DATA).", envvar="UNIC_BENCH_DATA")],
    dataset: Annotated[
        Optional[list[str]], typer.Option(help="Check only these (repeatable); default: all in the data root.")
    ] = None,
    splits_dir: Annotated[Optional[Path], typer.Option(help=SPLITS_DIR_HELP)] = None,
) -> None:
    """Report which datasets are present under DATA_ROOT and whether their split sizes match the official ones."""
    from rich.table import Table

    from unic_bench.cli.dataset_check import check_datasets
    from unic_bench.plugins.host import get_host

    results = check_datasets(get_host(), data_root, dataset, splits_dir)
    grid = Table("dataset", "status", "images (found / expected)", "detail")
    for r in results:
        sizes = ", ".join(
            f"{name} {r.counts[name]:,}" + (f" / {r.expected[name]:,}" if name in r.expected else "") for name in r.counts
        )
        grid.add_row(r.dataset, r.status, sizes or "-", r.detail)
    _console().print(grid)
    if dataset and not all(r.ok for r in results):
        raise typer.Exit(1)


# click's exception base, whether typer vendors click (typer >= 0.20) or depends on it
CLICK_EXCEPTION: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every BenchError and usage error is one line, exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="unic-bench", standalone_mode=False)
    except BenchError as exc:
        print(f"unic-bench: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except typer.Abort:
        print("unic-bench: aborted", file=sys.stderr)
        raise SystemExit(130) from None
    except CLICK_EXCEPTION as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `unic-bench` / `unic-bench list`: show help
            print(exc.format_message())
            raise SystemExit(0) from None
        print(f"unic-bench: error: {exc.format_message()}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)
